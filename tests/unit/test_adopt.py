"""ecrctl adopt without AWS: names, the conformance report, the guard rule, the files written."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.adapters import aws, ecr
from orchestrator.context import Session
from orchestrator.errors import UserError
from orchestrator.files import catalog, edits, tfvars
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace
from orchestrator.lifecycle import adopt, conformance, inventory
from orchestrator.lifecycle.conformance import KeyInfo, Observed
from orchestrator.models import Rule, instance_of
from orchestrator.models import module_address as target
from orchestrator.ops.backstage import NAME_MAX, Placement
from orchestrator.rules import documents, guard, policy
from tests.helpers import build_repo_tree, rc, snapshot

REPO = Path(__file__).resolve().parents[2]
TIERS = tiers_file.load(REPO / "terraform" / "modules" / "ecr" / "risk-tiers.json")
KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:us-east-1:123456789012:key/{KEY}"
ROLE = "arn:aws:iam::123456789012:role/deployer"


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["team/app", "old_service", "a.b", "a__b", "a--b", "x/y/z-1"])
def test_ecr_names_outside_adr_0092_are_accepted_for_adoption_only(name: str) -> None:
    assert policy.check_ecr_name(name) == name
    with pytest.raises(UserError):
        policy.check_name(name)  # a new request keeps ADR-0092's rule
    with pytest.raises(UserError):
        policy.build_request(name=name, env="dev", owner="app-team-a", risk="low")
    adopted = policy.build_request(
        name=name, env="dev", owner="app-team-a", risk="low", ecr_name=True
    )
    assert policy.REGISTRY_ID.fullmatch(adopted.registry_id)


@pytest.mark.parametrize("name", ["Team/app", "team/", "/app", "a..b", "_a", "a_", "a b", "a"])
def test_names_ecr_refuses_are_refused(name: str) -> None:
    with pytest.raises(UserError):
        policy.check_ecr_name(name)


def test_registry_id_of_an_ecr_name_and_its_collisions() -> None:
    assert policy.derive_id("team/app") == "REGISTRY_TEAM_APP"
    assert policy.derive_id("old_service") == "REGISTRY_OLD_SERVICE"
    assert policy.derive_id("a--b") == "REGISTRY_A_B"
    assert policy.derive_id("payments-gateway") == "REGISTRY_PAYMENTS_GATEWAY"  # as before
    items = [
        adopt.Item("team/app", "app-team-a", "low"),
        adopt.Item("team-app", "app-team-a", "low"),
    ]
    with pytest.raises(UserError, match="REGISTRY_TEAM_APP would belong to both"):
        adopt.build_requests(items, "dev")
    items[1] = adopt.Item("team-app", "app-team-a", "low", registry_id="REGISTRY_TEAM_APP_2")
    assert [r.registry_id for r in adopt.build_requests(items, "dev")] == [
        "REGISTRY_TEAM_APP",
        "REGISTRY_TEAM_APP_2",
    ]


def test_target_addresses_and_backstage_names_of_ecr_names() -> None:
    assert instance_of(target("team/app") + ".aws_ecr_repository.this") == "team/app"
    primary, other = Placement("prod", "eu-west-2", True), Placement("dev", "eu-west-2", False)
    names = {n: primary.repo_name(n) for n in ("team/app", "team.app", "team_app", "team-app")}
    assert names["team-app"] == "ecr-repo-team-app"  # product-based names are unchanged
    assert len(set(names.values())) == 4
    for name in names.values():
        assert "/" not in name and "." not in name and len(name) <= NAME_MAX
    backstage_name = re.compile(r"^[a-zA-Z0-9]+(?:[-_.][a-zA-Z0-9]+)*$")
    for long in ("a" * 53 + "/b", "team/" + "x" * 200, "a" * 46 + "_" + "b" * 20):
        for placement in (primary, other):
            name = placement.repo_name(long)
            assert len(name) <= NAME_MAX and backstage_name.fullmatch(name), name
        assert other.repo_name("a.b").endswith(".dev.eu-west-2")
    assert other.repo_name("a.b").count(".") == 2  # the suffix stays the only dots


def test_adopted_entries_read_back_through_both_tfvars_readers(tmp_path: Path) -> None:
    request = policy.build_request(
        name="team/app",
        env="dev",
        owner="app-team-a",
        risk="high",
        pull_principals=[ROLE],
        adopt=["repository", "repository_policy"],
        adopt_kms_key=KEY,
        ecr_name=True,
    )
    empty = tfvars.parse('aws_region = "eu-west-2"\n', tmp_path / "t", "dev")
    text = empty.with_entry(request)
    assert '    adopt           = ["repository", "repository_policy"]\n' in text
    assert tfvars.parse(text, tmp_path / "t", "dev").entries["team/app"] == request  # fast path
    spaced = text.replace("adopt           =", "adopt =")  # not canonical: the HCL reader
    assert tfvars._parse_canonical(spaced, tmp_path / "t", "dev") is None
    assert tfvars.parse(spaced, tmp_path / "t2", "dev").entries["team/app"] == request
    with pytest.raises(UserError, match="adopt holds 'lifecycle'"):
        tfvars.parse(text.replace('"repository_policy"', '"lifecycle"'), tmp_path / "t3", "dev")


def test_the_catalog_keeps_an_ecr_name_only_for_an_adopted_entry(tmp_path: Path) -> None:
    request = policy.build_request(
        name="old_service", env="dev", owner="app-team-a", risk="low", ecr_name=True
    )
    path = tmp_path / "c.yaml"
    cat = catalog.load_text(catalog.NEW_CATALOG, path, TIERS)
    adopted = cat.with_entry(
        catalog.CatalogEntry(request, history={catalog.ADOPTED_AT: "2026-12-01T10:00:00+00:00"}),
        TIERS,
    )
    assert catalog.load_text(adopted, path, TIERS).entries["old_service"].request == request
    plain = cat.with_entry(catalog.CatalogEntry(request), TIERS)
    with pytest.raises(UserError, match="not product-based"):
        catalog.load_text(plain, path, TIERS)


# -- the conformance report ------------------------------------------------------------------


def observed(**overrides: Any) -> Observed:
    values: dict[str, Any] = {
        "name": "team/app",
        "arn": "arn:aws:ecr:us-east-1:123456789012:repository/team/app",
        "uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app",
        "mutability": "MUTABLE",
        "encryption_type": "AES256",
        "kms_key_arn": None,
        "scan_on_push": True,
        "lifecycle_policy": None,
        "repository_policy": None,
    }
    values.update(overrides)
    return Observed(**values)


def key(**overrides: Any) -> KeyInfo:
    values: dict[str, Any] = {
        "key_id": KEY,
        "arn": KEY_ARN,
        "manager": "CUSTOMER",
        "spec": "SYMMETRIC_DEFAULT",
        "usage": "ENCRYPT_DECRYPT",
        "state": "Enabled",
    }
    values.update(overrides)
    return KeyInfo(**values)


def req(risk: str, **extra: Any) -> Any:
    return policy.build_request(
        name="team/app", env="dev", owner="app-team-a", risk=risk, ecr_name=True, **extra
    )


def fixes(report: conformance.Conformance) -> dict[str, str]:
    return {d.setting: d.fix for d in report.differences}


def test_encryption_the_tier_cannot_keep_is_refused_with_the_options() -> None:
    aes = conformance.assess(observed(), req("high"), TIERS["high"])
    assert aes.refused and aes.adopt == () and aes.adopt_kms_key == ""
    assert fixes(aes)["encryption"] == "refused"
    assert "ECR cannot change a repository's encryption" in aes.refusals[0]
    assert any("low or medium" in o for o in aes.options)
    kms = observed(encryption_type="KMS", kms_key_arn=KEY_ARN, key=key())
    low = conformance.assess(kms, req("low"), TIERS["low"])
    assert low.refused and any("adopt it as high" in o for o in low.options)
    managed = observed(encryption_type="KMS", kms_key_arn=KEY_ARN, key=key(manager="AWS"))
    assert "AWS-managed key" in conformance.assess(managed, req("high"), TIERS["high"]).refusals[0]
    shared = observed(
        encryption_type="KMS", kms_key_arn=KEY_ARN, key=key(), key_shared_with=("other",)
    )
    assert (
        "also encrypts other" in conformance.assess(shared, req("high"), TIERS["high"]).refusals[0]
    )


def test_what_the_plan_fixes_in_place_and_the_import_markers() -> None:
    existing = observed(
        mutability="IMMUTABLE",
        scan_on_push=False,
        lifecycle_policy=json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "selection": {
                            "tagStatus": "any",
                            "countType": "imageCountMoreThan",
                            "countNumber": 5,
                        },
                        "action": {"type": "expire"},
                    }
                ]
            }
        ),
        repository_policy='{"Statement": []}',
        tags={"Owner": "app-team-a", "Team": "web"},
    )
    report = conformance.assess(existing, req("low", pull_principals=[ROLE]), TIERS["low"])
    assert not report.refused
    assert report.adopt == ("repository", "repository_policy")
    assert fixes(report) == {
        "image_tag_mutability": "in place",
        "scan_on_push": "in place",
        "lifecycle_policy": "in place",
        "repository_policy": "in place",
        "tag Environment": "in place",
        "tag ManagedBy": "in place",
        "tag RegistryId": "in place",
        "tag RiskTier": "in place",
        "tag Team": "in place",
    }
    lifecycle = next(d for d in report.differences if d.setting == "lifecycle_policy")
    assert (lifecycle.current, lifecycle.wanted) == (
        "keeps 5 images",
        "keeps 20 images; untagged expire after 7 days; keeps tags release-*",
    )
    high = observed(encryption_type="KMS", kms_key_arn=KEY_ARN, key=key(), alias_exists=True)
    kms = conformance.assess(high, req("high"), TIERS["high"])
    assert kms.adopt == ("repository", "kms_alias") and kms.adopt_kms_key == KEY


def test_an_adopted_keys_wider_policy_is_reported_and_fixed_in_place() -> None:
    account, region = "123456789012", "us-east-1"
    wanted = documents.key_policy_json(account, region)
    wide = json.loads(wanted)
    wide["Statement"].append(
        {
            "Sid": "Partner",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
        }
    )

    def report(policy_text: str | None) -> dict[str, conformance.Difference]:
        repo = observed(
            encryption_type="KMS", kms_key_arn=KEY_ARN, key=key(), key_policy=policy_text
        )
        found = conformance.assess(repo, req("high"), TIERS["high"])
        assert not found.refused and found.adopt_kms_key == KEY
        return {d.setting: d for d in found.differences}

    difference = report(json.dumps(wide))["kms_key_policy"]
    assert difference.fix == "in place"
    assert difference.current == "wider: Partner allows arn:aws:iam::999999999999:root"
    assert "kms_key_policy" not in report(wanted)
    assert "kms_key_policy" not in report(None)  # not read: nothing claimed


def test_a_repository_policy_without_principals_is_refused() -> None:
    report = conformance.assess(observed(repository_policy="{}"), req("low"), TIERS["low"])
    assert report.refused and fixes(report)["repository_policy"] == "refused"
    assert any("--push-principal" in o for o in report.options)


# -- the guard -------------------------------------------------------------------------------

A = 'module.ecr_repositories["team/app"]'


def test_an_adoption_may_import_update_and_create_only_missing_parts() -> None:
    adoption = [
        rc(f"{A}.aws_ecr_repository.this", "update", importing=True),
        rc(f"{A}.aws_kms_key.this[0]", "update", importing=True),
        rc(f"{A}.aws_kms_alias.this[0]", "create"),
        rc(f"{A}.aws_ecr_lifecycle_policy.this", "create"),
        rc(f"{A}.aws_ecr_repository_policy.this[0]", "update", importing=True),
    ]
    assert guard.violations(adoption, {"team/app"}, {"team/app"}) == []
    key_created = [adoption[0], rc(f"{A}.aws_kms_key.this[0]", "create")]
    assert [str(v) for v in guard.violations(key_created, {"team/app"}, {"team/app"})] == [
        f"{A}.aws_kms_key.this[0] (create): an adopted repository's own resources are imported,"
        " never created"
    ]
    assert [v.rule for v in guard.violations(key_created, {"team/app"}, {"team/app"})] == [
        Rule.ADOPT_NEVER_CREATES
    ]
    replaced = [rc(f"{A}.aws_ecr_repository.this", "replace", importing=True)]
    assert guard.violations(replaced, {"team/app"}, {"team/app"})
    policy_replaced = [adoption[0], rc(f"{A}.aws_ecr_lifecycle_policy.this", "delete")]
    assert guard.violations(policy_replaced, {"team/app"}, {"team/app"})


# -- adopt() with a registry read from memory ------------------------------------------------


class FakeEcr:
    """The registry reads of adapters/ecr.Ecr, answered as ECR and KMS would for `repos`."""

    def __init__(self, repos: dict[str, Observed]) -> None:
        self.repos = repos
        self.calls: list[str] = []

    def repositories(self) -> dict[str, dict[str, Any]]:
        self.calls.append("repositories")
        return {n: _described(o) for n, o in self.repos.items()}

    def lifecycle_policy(self, name: str) -> str | None:
        return self.repos[name].lifecycle_policy

    def repository_policy(self, name: str) -> str | None:
        return self.repos[name].repository_policy

    def tags(self, arn: str) -> dict[str, str]:
        return dict(next(o.tags for o in self.repos.values() if o.arn == arn))

    def key_policy(self, arn: str) -> str | None:
        return next((o.key_policy for o in self.repos.values() if o.kms_key_arn == arn), None)

    def key(self, arn: str) -> dict[str, Any] | None:
        self.calls.append(f"key {arn}")
        info = next((o.key for o in self.repos.values() if o.kms_key_arn == arn), None)
        if info is None:
            return None
        return {
            "KeyId": info.key_id,
            "Arn": info.arn,
            "KeyManager": info.manager,
            "KeySpec": info.spec,
            "KeyUsage": info.usage,
            "KeyState": info.state,
            "MultiRegion": info.multi_region,
            "Origin": info.origin,
        }

    def aliases(self) -> set[str]:
        self.calls.append("aliases")
        return {"alias/ecr/" + n.replace(".", "_") for n, o in self.repos.items() if o.alias_exists}


def _described(o: Observed) -> dict[str, Any]:
    """One describe_repositories item."""
    encryption: dict[str, Any] = {"encryptionType": o.encryption_type}
    if o.kms_key_arn:
        encryption["kmsKey"] = o.kms_key_arn
    return {
        "repositoryName": o.name,
        "repositoryArn": o.arn,
        "repositoryUri": o.uri,
        "imageTagMutability": o.mutability,
        "encryptionConfiguration": encryption,
        "imageScanningConfiguration": {"scanOnPush": o.scan_on_push},
    }


def test_the_inventory_observes_settings_tags_keys_aliases_and_shared_keys() -> None:
    shared = {
        "encryption_type": "KMS",
        "kms_key_arn": KEY_ARN,
        "key": key(),
        "key_shared_with": (),
    }
    repos = {
        "team/app": observed(tags={"Owner": "app-team-a"}, alias_exists=True, **shared),
        "a.b": observed(name="a.b", arn="arn:a.b", **shared),
        "old_service": observed(name="old_service", arn="arn:old", repository_policy="{}"),
    }
    fake = FakeEcr(repos)
    found = inventory.observe(fake, ["team/app", "old_service", "ghost"])  # type: ignore[arg-type]
    assert sorted(found) == ["old_service", "team/app"]
    assert found["old_service"] == repos["old_service"]
    assert found["team/app"] == replace(repos["team/app"], key_shared_with=("a.b",))
    assert fake.calls == ["repositories", f"key {KEY_ARN}", "aliases"]
    plain = FakeEcr({"old_service": repos["old_service"]})
    inventory.observe(plain, ["old_service"])  # type: ignore[arg-type]
    assert plain.calls == ["repositories"]  # no KMS key: no KMS read


def test_the_adapter_makes_its_kms_client_only_for_a_kms_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[str] = []

    class Client:
        def describe_key(self, KeyId: str) -> dict[str, Any]:
            return {"KeyMetadata": {"KeyId": KeyId}}

    def client(service: str, *_: Any, **__: Any) -> Client:
        made.append(service)
        return Client()

    monkeypatch.setattr(aws, "client", client)
    registry = ecr.connect({}, "us-east-1")
    assert made == ["ecr"]
    assert registry.key(KEY_ARN) == {"KeyId": KEY_ARN}
    assert registry.key(KEY_ARN) == {"KeyId": KEY_ARN}
    assert made == ["ecr", "kms"]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(build_repo_tree(tmp_path / "repo"))


def run(ws: Workspace, items: list[adopt.Item], **kwargs: Any) -> adopt.AdoptResult:
    repos = {
        "team/app": observed(),
        "old_service": observed(name="old_service", arn="arn:old"),
        "vault": observed(name="vault", arn="arn:vault"),  # AES256: refused as high
    }
    return adopt.adopt(
        Session(ws).at("dev"),
        items,
        connector=lambda *_: FakeEcr(repos),
        **kwargs,  # type: ignore[arg-type,return-value]
    )


ITEMS = [
    adopt.Item("team/app", "app-team-a", "low"),
    adopt.Item("old_service", "app-team-b", "medium", description="legacy"),
    adopt.Item("vault", "app-team-c", "high"),
]


def test_one_refused_repository_writes_nothing_by_default(ws: Workspace) -> None:
    before = snapshot(ws.root)
    result = run(ws, ITEMS)
    assert result.refused == ("vault",) and not result.written and result.adopted == ()
    assert snapshot(ws.root) == before


def test_skip_refused_records_the_others_in_both_files(ws: Workspace) -> None:
    result = run(ws, ITEMS, skip_refused=True)
    assert result.written and result.adopted == ("old_service", "team/app")
    tf = tfvars.load(ws.tfvars_file("dev"), "dev")
    assert sorted(tf.entries) == ["old_service", "team/app"]
    assert tf.entries["team/app"].adopt == ("repository",)
    cat = catalog.load(ws.catalog_file, TIERS).entries
    assert cat["old_service"].request.description == "legacy"
    assert catalog.ADOPTED_AT in cat["team/app"].history
    assert cat["team/app"].request.adopt == ()  # the markers live in the tfvars only
    again = run(ws, ITEMS[:2])  # the same request again: nothing to do
    assert again.unchanged == ("old_service", "team/app") and not again.written
    with pytest.raises(UserError, match="already managed by ecrctl"):
        run(ws, [adopt.Item("team/app", "app-team-z", "low")])


def test_a_repository_the_registry_does_not_have_is_refused(ws: Workspace) -> None:
    before = snapshot(ws.root)
    with pytest.raises(UserError, match="not in the dev registry: 'ghost'"):
        run(ws, [*ITEMS[:1], adopt.Item("ghost", "app-team-a", "low")])
    assert snapshot(ws.root) == before


def test_the_adopt_file_is_checked_item_by_item(tmp_path: Path) -> None:
    path = tmp_path / "adopt.yaml"
    path.write_text("- name: team/app\n  owner: app-team-a\n  risk: low\n  colour: blue\n")
    with pytest.raises(UserError, match="item 1: unknown key 'colour'"):
        adopt.load_file(path)
    path.write_text("- name: team/app\n  owner: ''\n  risk: low\n")
    with pytest.raises(UserError, match="item 1: owner must be a non-empty string"):
        adopt.load_file(path)
    path.write_text("- name: team/app\n  owner: app-team-a\n  risk: low\n  id: REGISTRY_T\n")
    assert adopt.load_file(path)[0].registry_id == "REGISTRY_T"


def test_the_scaffold_is_an_adopt_file() -> None:
    text = adopt.render_scaffold(
        "dev",
        [
            adopt.Candidate("team/app", "app-team-web", "low", "REGISTRY_TEAM_APP", "AES256"),
            adopt.Candidate("old.svc", "", "", "REGISTRY_OLD_SVC", "KMS", "note"),
        ],
    )
    import yaml

    data = yaml.safe_load(text)
    assert data[0] == {
        "name": "team/app",
        "owner": "app-team-web",
        "risk": "low",
        "id": "REGISTRY_TEAM_APP",
        "description": "",
        "push_principals": [],
        "pull_principals": [],
    }
    assert data[1]["owner"] == "" and "# no RiskTier tag; encrypted KMS" in text


def test_many_entries_land_where_one_with_entry_each_would_put_them(tmp_path: Path) -> None:
    from tests.unit.test_files import TFVARS

    def make(name: str) -> Any:
        return policy.build_request(
            name=name,
            env="dev",
            owner="app-team-a",
            risk="low",
            adopt=["repository"],
            ecr_name=True,
        )

    new = [make(n) for n in ("zz/last", "aaa", "beta/x", "mike.svc", "alpha-svc0", "zulu_svc")]
    tf = tfvars.parse(TFVARS, tmp_path / "t", "dev")
    one_by_one = tf.text
    for request in new:
        one_by_one = tfvars.parse(one_by_one, tmp_path / "t", "dev").with_entry(request)
    assert edits.tfvars_with(tf, new) == one_by_one
    moment = {catalog.ADOPTED_AT: "2026-12-01T10:00:00+00:00"}
    path = tmp_path / "c.yaml"
    cat = catalog.load_text(catalog.NEW_CATALOG, path, TIERS)
    start = cat.with_entry(catalog.CatalogEntry(make("alpha-svc")), TIERS)
    start = catalog.load_text(start, path, TIERS).with_entry(
        catalog.CatalogEntry(make("zulu-svc")), TIERS
    )
    entries = [catalog.CatalogEntry(adopt._plain(r), history=moment) for r in new]
    one_by_one = start
    for entry in entries:
        one_by_one = catalog.load_text(one_by_one, path, TIERS).with_entry(entry, TIERS)
    assert edits.catalog_with(catalog.load_text(start, path, TIERS), entries, TIERS) == one_by_one
    empty = catalog.load_text(catalog.NEW_CATALOG, path, TIERS)
    one_by_one = catalog.NEW_CATALOG
    for entry in entries:
        one_by_one = catalog.load_text(one_by_one, path, TIERS).with_entry(entry, TIERS)
    assert edits.catalog_with(empty, entries, TIERS) == one_by_one
