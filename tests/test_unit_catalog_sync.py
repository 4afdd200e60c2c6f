"""ecrctl catalog sync on a faked Terraform state: entities, determinism, --check, regions, bad input."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from orchestrator import backstage, policy, workflows
from orchestrator import sync as sync_mod
from orchestrator.errors import AwsError, TerraformError, UserError
from orchestrator.models import ApplyResult, PlanResult
from orchestrator.workspace import Workspace

from .backstage_model import all_entities, assert_valid, catalog_entities
from .helpers import cli

ACCOUNT = "123456789012"
T1, T2 = "2026-01-09T10:00:00Z", "2026-01-09T11:30:00Z"
TIERS = {"web-frontend": "low", "search-api": "medium", "payments-gateway": "high"}


# -- a faked terraform ------------------------------------------------------------------------


def repository(
    name: str,
    region: str = "us-east-1",
    account: str = ACCOUNT,
    risk: str = "low",
    owner: str | None = None,
    **attributes: Any,
) -> dict[str, Any]:
    """One module.ecr_repositories["name"].aws_ecr_repository.this as `terraform state pull` has it."""
    owner = owner or f"app-team-{name.split('-')[0]}"
    attrs = {
        "arn": f"arn:aws:ecr:{region}:{account}:repository/{name}",
        "name": name,
        "registry_id": account,
        "repository_url": f"{account}.dkr.ecr.{region}.amazonaws.com/{name}",
        "tags": {
            "Owner": owner,
            "RiskTier": risk,
            "RegistryId": policy.derive_id(name),
            "ManagedBy": "ecrctl",
        },
        **attributes,
    }
    return {
        "module": f'module.ecr_repositories["{name}"]',
        "mode": "managed",
        "type": "aws_ecr_repository",
        "name": "this",
        "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
        "instances": [{"schema_version": 0, "attributes": attrs, "sensitive_attributes": []}],
    }


def state(*resources: dict[str, Any], outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    scanning = {
        "mode": "managed",
        "type": "aws_ecr_registry_scanning_configuration",
        "name": "this",
        "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
        "instances": [{"attributes": {"registry_id": ACCOUNT, "scan_type": "ENHANCED"}}],
    }
    return {
        "version": 4,
        "terraform_version": "1.11.4",
        "serial": 3,
        "lineage": "x",
        "outputs": outputs or {},
        "resources": [scanning, *resources],
    }


class FakeTerraform:
    """Stands in for orchestrator.terraform.Terraform: serves a state per environment."""

    states: ClassVar[dict[str, Any]] = {}
    calls: ClassVar[list[str]] = []

    def __init__(self, ws: Workspace, env: str, environ: dict[str, str], **_: Any) -> None:
        self.env = env

    def init(self) -> None:
        FakeTerraform.calls.append(f"init {self.env}")

    def state_pull(self) -> dict[str, Any]:
        FakeTerraform.calls.append(f"state pull {self.env}")
        value = FakeTerraform.states.get(self.env, {})
        if isinstance(value, Exception):
            raise value
        return dict(value)


@pytest.fixture(autouse=True)
def fake_terraform(
    repo: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[type[FakeTerraform]]:
    FakeTerraform.states = {}
    FakeTerraform.calls = []
    monkeypatch.setattr(sync_mod, "Terraform", FakeTerraform)
    # No ambient AWS configuration from the machine running the tests.
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", ECRCTL_PRIMARY, GROUPS):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("ECRCTL_LOCAL_ENDPOINT", "http://127.0.0.1:9")  # never reached: faked
    yield FakeTerraform


ECRCTL_PRIMARY = sync_mod.PRIMARY_ENV_VARIABLE
GROUPS = "ECRCTL_BACKSTAGE_GROUPS"


def request(ws: Workspace, name: str, env: str = "local", risk: str = "low") -> None:
    workflows.create(
        ws,
        policy.build_request(
            name=name,
            env=env,
            owner=f"app-team-{name.split('-')[0]}",
            risk=risk,
            registry_id=None,
            description="",
            push_principals=[],
            pull_principals=[],
        ),
    )


def three_tiers(ws: Workspace) -> None:
    for name, risk in TIERS.items():
        request(ws, name, risk=risk)
    FakeTerraform.states["local"] = state(*(repository(n, risk=r) for n, r in TIERS.items()))


def run_sync(ws: Workspace, env: str = "local", at: str = T1, **kwargs: Any) -> Any:
    return sync_mod.sync(ws, env, now=lambda: at, **kwargs)


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".ecrctl" not in p.parts
    }


def registry_doc(ws: Workspace, path: str) -> dict[str, Any]:
    return catalog_entities(ws.catalog_dir)[path][0]


LOCAL_FILE = "resources/local/ecr-registry-us-east-1.yaml"


# -- what it writes ---------------------------------------------------------------------------


def test_every_generated_entity_passes_backstages_validator(repo: Workspace) -> None:
    three_tiers(repo)
    result = run_sync(repo)
    assert result.repo_count == 3
    files = catalog_entities(repo.catalog_dir)
    assert sorted(files) == sorted(
        [
            "all-domains.yaml",
            "all-systems.yaml",
            "all.yaml",
            "components/ecr-registry.yaml",
            "domains/delivery-domain.yaml",
            LOCAL_FILE,
            "systems/container-registry-system.yaml",
        ]
    )
    entities = all_entities(repo.catalog_dir)
    refs = assert_valid(entities)
    assert_relations_resolve(entities, refs)
    registry, *repos = files[LOCAL_FILE]
    annotations = registry["metadata"]["annotations"]
    assert registry["metadata"]["title"].startswith("Master AWS ECR Registry")
    assert registry["spec"] == {
        "type": "container-registry",
        "owner": "group:platform-team",
        "system": "container-registry",
        "dependencyOf": ["component:ecr-registry"],
    }
    assert annotations["platform/repo-count"] == "3"
    assert annotations["platform/last-sync"] == T1
    assert annotations["platform/region"] == "us-east-1"
    assert annotations["platform/aws-account-id"] == ACCOUNT
    by_name = {r["metadata"]["title"]: r for r in repos}
    assert sorted(by_name) == sorted(TIERS)
    pg = by_name["payments-gateway"]
    assert pg["spec"]["owner"] == "group:app-team-payments"
    assert pg["spec"]["system"] == "container-registry"
    assert pg["spec"]["dependsOn"] == [f"resource:{registry['metadata']['name']}"]
    assert pg["metadata"]["annotations"] == {
        "platform/ecr-repository-name": "payments-gateway",
        "platform/ecr-repository-url": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/payments-gateway",
        "platform/ecr-repository-arn": f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/payments-gateway",
        "platform/risk-tier": "high",
        "platform/registry-id": "REGISTRY_PAYMENTS_GATEWAY",
        "platform/aws-registry-id": ACCOUNT,
        "platform/environment": "local",
        "platform/region": "us-east-1",
        "platform/catalog-status": "active",
        "aws.amazon.com/amazon-ecr-arn": f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/payments-gateway",
    }
    system = files["systems/container-registry-system.yaml"][0]
    assert system["kind"] == "System" and system["spec"]["domain"] == "delivery"
    assert files["all-systems.yaml"][0]["spec"]["targets"] == [
        "./systems/container-registry-system.yaml"
    ]
    assert files["all-domains.yaml"][0]["spec"]["targets"] == ["./domains/delivery-domain.yaml"]
    # The one Location to register lists every file Backstage should read.
    assert files["all.yaml"][0]["spec"]["targets"] == [
        "./all-systems.yaml",
        "./all-domains.yaml",
        "./components/ecr-registry.yaml",
        f"./{LOCAL_FILE}",
    ]
    # The registry catalog now knows each repository's URL.
    text = repo.catalog_file.read_text()
    for name in TIERS:
        assert f'repository_url: "{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{name}"' in text


def assert_relations_resolve(entities: list[dict[str, Any]], refs: list[str]) -> None:
    """Every system, domain and dependency named exists in the catalog (owners live elsewhere)."""
    known = set(refs)
    for entity in entities:
        spec = entity.get("spec", {})
        wanted = [("system", spec["system"])] if "system" in spec else []
        wanted += [("domain", spec["domain"])] if "domain" in spec else []
        wanted += [("", r) for r in spec.get("dependsOn", []) + spec.get("dependencyOf", [])]
        for kind, ref in wanted:
            if ":" not in ref:
                ref = f"{kind}:{ref}"
            kind_part, name = ref.split(":", 1)
            full = f"{kind_part.lower()}:{name if '/' in name else 'default/' + name}"
            assert full in known, f"{entity['metadata']['name']} refers to missing {full}"


def test_a_second_sync_with_nothing_new_changes_only_last_sync(repo: Workspace) -> None:
    three_tiers(repo)
    run_sync(repo, at=T1)
    before = snapshot(repo.root)
    again = run_sync(repo, at=T2)
    after = snapshot(repo.root)
    assert again.up_to_date
    assert {f.action for f in again.files} == {"unchanged"}
    changed = [p for p in after if after[p] != before.get(p)]
    assert changed == [f"catalog/{LOCAL_FILE}"]
    old_lines = before[changed[0]].decode().splitlines()
    new_lines = after[changed[0]].decode().splitlines()
    diff = [(a, b) for a, b in zip(old_lines, new_lines, strict=True) if a != b]
    assert diff == [(f'    platform/last-sync: "{T1}"', f'    platform/last-sync: "{T2}"')]


def test_check_exits_1_when_out_of_date_and_changes_nothing(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    three_tiers(repo)
    before = snapshot(repo.root)
    stale = cli(capsys, "catalog", "sync", "--env", "local", "--check")
    assert stale.code == 1
    assert f"out of date: catalog/{LOCAL_FILE} (would create)" in stale.stdout
    assert snapshot(repo.root) == before
    assert cli(capsys, "catalog", "sync", "--env", "local").code == 0
    assert cli(capsys, "catalog", "sync", "--env", "local", "--check").code == 0
    # A repository applied since: out of date again, and --check still writes nothing.
    request(repo, "orders-api")
    FakeTerraform.states["local"] = state(
        *(repository(n, risk=r) for n, r in TIERS.items()), repository("orders-api")
    )
    synced = snapshot(repo.root)
    again = cli(capsys, "catalog", "sync", "--env", "local", "--check", "--output", "json")
    assert again.code == 1
    assert '"up_to_date": false' in again.stdout
    assert snapshot(repo.root) == synced


def test_the_primary_environment_writes_catalog_resources_ecr_registry_yaml(
    repo: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    request(repo, "ledger-ui", env="prod")
    FakeTerraform.states["prod"] = state(repository("ledger-ui", region="eu-west-2"))
    result = run_sync(repo, "prod")
    assert result.registry_file == "catalog/resources/ecr-registry.yaml"
    registry, repo_entity = catalog_entities(repo.catalog_dir)["resources/ecr-registry.yaml"]
    assert registry["metadata"]["name"] == "ecr-registry"
    assert registry["metadata"]["title"] == "Master AWS ECR Registry"
    assert repo_entity["metadata"]["name"] == "ecr-repo-ledger-ui"
    assert repo_entity["spec"]["dependsOn"] == ["resource:ecr-registry"]
    assert_valid(all_entities(repo.catalog_dir))
    # Another environment declared primary must not take the file over silently.
    monkeypatch.setenv(ECRCTL_PRIMARY, "local")
    three_tiers(repo)
    before = snapshot(repo.root)
    with pytest.raises(UserError, match="holds the registry of prod/eu-west-2"):
        run_sync(repo, "local")
    assert snapshot(repo.root) == before


def test_several_environments_never_clobber_each_other(repo: Workspace) -> None:
    three_tiers(repo)
    request(repo, "ledger-api", env="dev")
    request(repo, "ledger-ui", env="prod")
    FakeTerraform.states["dev"] = state(repository("ledger-api", region="eu-west-2"))
    FakeTerraform.states["prod"] = state(repository("ledger-ui", region="eu-west-2"))
    for env in ("local", "dev", "prod"):
        run_sync(repo, env)
    first = snapshot(repo.root)
    for env in ("prod", "dev", "local"):  # another order, same files
        run_sync(repo, env)
    assert snapshot(repo.root) == first
    files = catalog_entities(repo.catalog_dir)
    assert {p for p in files if p.startswith("resources/")} == {
        "resources/ecr-registry.yaml",
        "resources/dev/ecr-registry-eu-west-2.yaml",
        LOCAL_FILE,
    }
    counts = {
        p: d[0]["metadata"]["annotations"]["platform/repo-count"]
        for p, d in files.items()
        if p.startswith("resources/")
    }
    assert counts == {
        "resources/ecr-registry.yaml": "1",
        "resources/dev/ecr-registry-eu-west-2.yaml": "1",
        LOCAL_FILE: "3",
    }
    entities = all_entities(repo.catalog_dir)
    # One System, one Domain, one Component, three Locations however many environments sync.
    kinds = [e["kind"] for e in entities]
    assert kinds.count("System") == kinds.count("Domain") == kinds.count("Component") == 1
    assert kinds.count("Location") == 3
    # The root Location lists each environment's registry file once, in the order first synced.
    assert files["all.yaml"][0]["spec"]["targets"][3:] == [
        f"./{LOCAL_FILE}",
        "./resources/dev/ecr-registry-eu-west-2.yaml",
        "./resources/ecr-registry.yaml",
    ]
    assert_relations_resolve(entities, assert_valid(entities))


def test_names_backstage_would_refuse_or_misread_are_made_safe(repo: Workspace) -> None:
    long_name = "-".join(["a" * 60] * 4)  # 243 characters: a valid ECR name
    names = [long_name, "0o12", "on", "012"]
    FakeTerraform.states["dev"] = state(
        *(repository(n, region="eu-west-2", owner="app-team-odd") for n in names)
    )
    result = run_sync(repo, "dev")
    assert result.repo_count == 4
    assert any("not in the catalog" in w for w in result.warnings)
    entities = all_entities(repo.catalog_dir)
    assert_valid(entities)
    titles = {e["metadata"]["title"] for e in entities if e["spec"].get("type") == "ecr-repository"}
    assert titles == set(names)  # strings all, never 10 or True
    assert all(len(e["metadata"]["name"]) <= 63 for e in entities)


def test_sensitive_values_never_reach_the_yaml(repo: Workspace) -> None:
    secret = "s3cr3t-value-that-must-not-leak"
    leaky = repository("web-frontend")
    leaky["instances"][0]["attributes"]["kms_private"] = secret
    leaky["instances"][0]["sensitive_attributes"] = [[{"type": "get_attr", "value": "kms_private"}]]
    FakeTerraform.states["local"] = state(
        leaky, outputs={"token": {"value": secret, "type": "string", "sensitive": True}}
    )
    request(repo, "web-frontend")
    run_sync(repo)
    for path, content in snapshot(repo.root).items():
        assert secret.encode() not in content, path
    # A sensitive attribute ecrctl would have to write is refused, not written.
    marked = repository("web-frontend")
    marked["instances"][0]["sensitive_attributes"] = [
        [{"type": "get_attr", "value": "repository_url"}]
    ]
    FakeTerraform.states["local"] = state(marked)
    with pytest.raises(UserError, match="marked sensitive"):
        run_sync(repo)


def test_repository_urls_follow_the_state_and_decommissioned_entries_keep_theirs(
    repo: Workspace,
) -> None:
    three_tiers(repo)
    run_sync(repo)
    # search-api disappears from the state (destroyed outside a decommission): its URL is cleared.
    FakeTerraform.states["local"] = state(
        repository("web-frontend"), repository("payments-gateway", risk="high")
    )
    result = run_sync(repo)
    assert result.repo_count == 2
    assert any("search-api: catalogued (active) but not in the state" in w for w in result.warnings)
    from orchestrator import catalog

    tiers = policy.load_tiers(repo.tiers_file)
    entries = catalog.load(repo.catalog_file, tiers).entries
    assert entries["search-api"].repository_url == ""
    assert entries["web-frontend"].repository_url.endswith("/web-frontend")


# -- region -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "environ", "profile", "expected"),
    [
        (
            "eu-west-1",
            {"AWS_REGION": "eu-west-2", "AWS_DEFAULT_REGION": "eu-west-3"},
            "us-west-2",
            ("eu-west-1", "--region"),
        ),
        (
            None,
            {"AWS_REGION": "eu-west-2", "AWS_DEFAULT_REGION": "eu-west-3"},
            "us-west-2",
            ("eu-west-2", "AWS_REGION"),
        ),
        (
            None,
            {"AWS_DEFAULT_REGION": "eu-west-3"},
            "us-west-2",
            ("eu-west-3", "AWS_DEFAULT_REGION"),
        ),
        (None, {"AWS_PROFILE": "ops"}, "us-west-2", ("us-west-2", "profile ops")),
        (None, {}, None, ("eu-central-1", "envs/dev/terraform.tfvars")),
    ],
)
def test_region_order_is_rb_0025s(
    flag: str | None,
    environ: dict[str, str],
    profile: str | None,
    expected: tuple[str, str],
) -> None:
    region = sync_mod.resolve_region(flag, "dev", "eu-central-1", environ, lambda _e: profile)
    assert (region.name, region.source) == expected


def test_the_profile_region_comes_from_the_aws_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.write_text("[default]\nregion = ap-south-1\n\n[profile ops]\nregion = ca-central-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    assert sync_mod.profile_region({}) == "ap-south-1"
    monkeypatch.setenv("AWS_PROFILE", "ops")
    assert sync_mod.profile_region({"AWS_PROFILE": "ops"}) == "ca-central-1"
    region = sync_mod.resolve_region(None, "dev", "eu-west-2", {"AWS_PROFILE": "ops"})
    assert (region.name, region.source) == ("ca-central-1", "profile ops")
    assert sync_mod.profile_region({"AWS_PROFILE": "missing"}) is None


def test_the_emulator_environment_ignores_the_shells_region() -> None:
    region = sync_mod.resolve_region(None, "local", "us-east-1", {"AWS_REGION": "eu-west-2"})
    assert (region.name, region.source) == ("us-east-1", "envs/local/terraform.tfvars")


def test_a_region_the_environment_does_not_manage_is_one_error(
    repo: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeTerraform.states["dev"] = state(repository("ledger-api", region="eu-west-2"))
    before = snapshot(repo.root)
    monkeypatch.setenv("AWS_REGION", "us-east-2")
    result = cli(capsys, "catalog", "sync", "--env", "dev")
    assert result.code == 1
    assert "region us-east-2 (from AWS_REGION) is not the region of dev" in result.stderr
    assert "unset AWS_REGION" in result.stderr
    assert "Traceback" not in result.stderr
    assert cli(capsys, "catalog", "sync", "--env", "dev", "--region", "nowhere").code == 1
    assert snapshot(repo.root) == before
    assert FakeTerraform.calls == []  # refused before terraform ran
    # --region wins over AWS_REGION.
    assert cli(capsys, "catalog", "sync", "--env", "dev", "--region", "eu-west-2").code == 0


# -- bad input: one error, nothing changed ----------------------------------------------------


def _corrupt_catalog(ws: Workspace) -> None:
    ws.catalog_file.write_text(ws.catalog_file.read_text() + "repositories: {}\n")


def _broken_yaml_catalog(ws: Workspace) -> None:
    ws.catalog_file.write_text('version: "1.0"\nrepositories: [unclosed\n')


def _no_state(ws: Workspace) -> None:
    FakeTerraform.states["local"] = {}


def _empty_state(ws: Workspace) -> None:
    # What `terraform state pull` prints when the backend holds no state object yet.
    FakeTerraform.states["local"] = {"version": 4, "serial": 0, "lineage": "", "resources": []}


def _missing_url(ws: Workspace) -> None:
    FakeTerraform.states["local"] = state(repository("web-frontend", repository_url=""))


def _foreign_state(ws: Workspace) -> None:
    FakeTerraform.states["local"] = {"version": 3, "lineage": "abc", "modules": []}


def _malformed_state(ws: Workspace) -> None:
    broken = repository("web-frontend")
    broken["instances"] = ["not an instance"]
    FakeTerraform.states["local"] = state(broken)


def _unreadable_state(ws: Workspace) -> None:
    FakeTerraform.states["local"] = TerraformError(
        "the state of local is not readable JSON", [], 0, "garbage"
    )


def _backend_down(ws: Workspace) -> None:
    FakeTerraform.states["local"] = TerraformError(
        "terraform state pull failed (exit 1): NoSuchBucket", [], 1, "NoSuchBucket"
    )


def _corrupt_registry_file(ws: Workspace) -> None:
    path = ws.catalog_dir / LOCAL_FILE
    path.write_text(path.read_text() + "  bad: [\n")


def _system_file_replaced(ws: Workspace) -> None:
    (ws.catalog_dir / backstage.SYSTEM_FILE).write_text("kind: System\nmetadata:\n  name: other\n")


def _location_without_location(ws: Workspace) -> None:
    (ws.catalog_dir / "all-systems.yaml").write_text("# nothing here\nkind: Component\n")


@pytest.mark.parametrize(
    ("breakage", "message", "code"),
    [
        (_corrupt_catalog, "key 'repositories' appears twice", 1),
        (_broken_yaml_catalog, "ecr-catalog.yaml", 1),
        (_no_state, "local has no Terraform state yet", 1),
        (_empty_state, "local has no Terraform state yet", 1),
        (_missing_url, "has no repository_url", 1),
        (_foreign_state, "is not a Terraform state ecrctl reads", 1),
        (_malformed_state, "aws_ecr_repository has malformed instances", 1),
        (_unreadable_state, "not readable JSON", 3),
        (_backend_down, "NoSuchBucket", 3),
        (_corrupt_registry_file, "not valid YAML", 1),
        (_system_file_replaced, "does not hold the System 'container-registry'", 1),
        (_location_without_location, "holds no Location entity", 1),
    ],
)
def test_bad_input_is_one_clear_error_and_leaves_every_file_unchanged(
    repo: Workspace,
    capsys: pytest.CaptureFixture[str],
    breakage: Any,
    message: str,
    code: int,
) -> None:
    three_tiers(repo)
    run_sync(repo)
    FakeTerraform.states["local"] = state(
        *(repository(n, risk=r) for n, r in TIERS.items()), repository("orders-api")
    )
    breakage(repo)
    before = snapshot(repo.root)
    result = cli(capsys, "catalog", "sync", "--env", "local")
    assert result.code == code, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ecrctl: error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(repo.root) == before


def test_a_failed_write_restores_every_file(
    repo: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_tiers(repo)
    run_sync(repo)
    request(repo, "orders-api")
    FakeTerraform.states["local"] = state(
        *(repository(n, risk=r) for n, r in TIERS.items()), repository("orders-api")
    )
    before = snapshot(repo.root)
    from orchestrator import workspace

    real = workspace.atomic_write

    def failing(path: Path, text: str) -> None:
        if path.name == "ecr-catalog.yaml":
            raise OSError(28, "No space left on device")
        real(path, text)

    monkeypatch.setattr(workspace, "atomic_write", failing)
    with pytest.raises(OSError):
        run_sync(repo, at=T2)
    assert snapshot(repo.root) == before


# -- files created once -----------------------------------------------------------------------


def test_locations_gain_the_target_once_and_keep_every_other_byte(repo: Workspace) -> None:
    three_tiers(repo)
    mine = (
        "# Our systems. Keep this comment.\n"
        "apiVersion: backstage.io/v1alpha1\n"
        "kind: Location\n"
        "metadata:\n"
        "  name: all-systems\n"
        "spec:\n"
        "  targets:\n"
        "    - ./systems/audio-playback.yaml   # the first one\n"
        "    - ./systems/billing.yaml\n"
    )
    path = repo.catalog_dir / "all-systems.yaml"
    path.write_text(mine)
    system_file = repo.catalog_dir / backstage.SYSTEM_FILE
    system_file.parent.mkdir(parents=True)
    edited = (
        "apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n"
        "  name: container-registry\n  description: edited by the platform team\n"
        "spec:\n  owner: group:platform-team\n  domain: delivery\n"
    )
    system_file.write_text(edited)
    run_sync(repo)
    assert path.read_text() == mine + '    - "./systems/container-registry-system.yaml"\n'
    assert system_file.read_text() == edited  # created once; never rewritten
    run_sync(repo, at=T2)
    assert path.read_text().count("container-registry-system.yaml") == 1
    # Listed already (in another spelling): nothing added.
    path.write_text(
        mine.replace("./systems/billing.yaml", "systems/container-registry-system.yaml")
    )
    text = path.read_text()
    run_sync(repo)
    assert path.read_text() == text
    assert_valid(all_entities(repo.catalog_dir))


def test_stale_region_files_are_reported_not_deleted(repo: Workspace) -> None:
    three_tiers(repo)
    old = repo.catalog_dir / "resources" / "local" / "ecr-registry-eu-west-1.yaml"
    old.parent.mkdir(parents=True)
    old.write_text("# from before the move\n")
    result = run_sync(repo)
    assert any("ecr-registry-eu-west-1.yaml is for a region" in w for w in result.warnings)
    assert old.exists()


# -- apply runs the sync ----------------------------------------------------------------------


def _plan(env: str) -> PlanResult:
    return PlanResult(env, (), ("web-frontend",), Path("/tmp/x.tfplan"), ())


def test_apply_reports_the_sync_and_fails_when_only_the_sync_failed(
    repo: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def fake_apply(*args: Any, sync: bool = True, **kwargs: Any) -> ApplyResult:
        seen["sync"] = sync
        error = AwsError("state bucket unreachable", "check the network") if sync else None
        return ApplyResult(_plan("local"), (), sync_error=error)

    monkeypatch.setattr(workflows, "apply", fake_apply)
    failed = cli(capsys, "apply", "web-frontend", "--env", "local", "--auto-approve")
    assert seen["sync"] is True
    assert failed.code == 3
    assert "applied, but the catalog sync failed: state bucket unreachable" in failed.stderr
    skipped = cli(capsys, "apply", "web-frontend", "--env", "local", "--auto-approve", "--no-sync")
    assert seen["sync"] is False
    assert skipped.code == 0
    as_json = cli(capsys, "apply", "web-frontend", "--env", "local", "--auto-approve", "-o", "json")
    assert '"catalog_sync_error": "state bucket unreachable"' in as_json.stdout


def test_sync_reads_state_only(repo: Workspace) -> None:
    three_tiers(repo)
    run_sync(repo)
    assert FakeTerraform.calls == ["init local", "state pull local"]


def test_the_help_names_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "catalog", "sync", "--help")
    assert result.code == 0
    assert re.search(r"--check", result.stdout) and "--region" in result.stdout
