"""ecrctl update / deprecate / reactivate on the files (no terraform), and the guard's rules for
a changed repository."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto import mock_aws

from orchestrator.ci import changes as ci_changes
from orchestrator.context import Session
from orchestrator.files import catalog, tfvars
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace
from orchestrator.models import RegistryRequest
from orchestrator.ops import review
from orchestrator.ops import update as update_core
from orchestrator.ops import validate as validate_op
from orchestrator.rules import documents, guard, policy
from tests.helpers import cli, create, rc, snapshot, verdicts
from tests.unit import test_decommission as decommission_tests
from tests.unit.test_decommission import FakeTerraform

NAME = "payments-gateway"
CI_ROLE = "arn:aws:iam::123456789012:role/ci"
DEPLOYER = "arn:aws:iam::123456789012:role/deployer"
A = f'module.ecr_repositories["{NAME}"]'
TIERS = Path(__file__).resolve().parents[2] / "terraform" / "modules" / "ecr" / "risk-tiers.json"


@pytest.fixture
def created(repo: Workspace, capsys: pytest.CaptureFixture[str]) -> Workspace:
    create(capsys, NAME, "--push-principal", CI_ROLE, env="dev")
    return repo


def _entry(ws: Workspace) -> catalog.CatalogEntry:
    return catalog.load(ws.catalog_file, tiers_file.load(ws.tiers_file)).entries[NAME]


def _tf(ws: Workspace) -> RegistryRequest:
    return tfvars.load(ws.tfvars_file("dev"), "dev").entries[NAME]


def test_update_changes_both_files_records_history_and_is_idempotent(
    created: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["update", NAME, "-e", "dev", "--owner", "app-team-checkout", "--risk", "medium"]
    result = cli(capsys, *args, "--add-pull-principal", DEPLOYER, "--reason", "reorg")
    assert result.code == 0, result.stderr
    assert "tier: low -> medium" in result.stdout and "images kept: 20 -> 30" in result.stdout
    entry = _entry(created)
    assert entry.request == _tf(created)
    assert entry.request.owner == "app-team-checkout" and entry.request.pull_principals == (
        DEPLOYER,
    )
    assert entry.history["change_001"] == (
        f"update: owner 'app-team-payments' -> 'app-team-checkout'; risk 'low' -> 'medium';"
        f" grant pull {DEPLOYER}"
    )
    assert entry.history["change_001_reason"] == "reorg" and entry.history["change_001_at"]
    assert cli(capsys, "validate").code == 0
    # Both files stay in the form the fast readers accept (no detour through the YAML reader).
    text = created.catalog_file.read_text()
    tiers = tiers_file.load(created.tiers_file)
    assert catalog._parse_canonical(text, created.catalog_file, tiers) is not None
    tf_text = created.tfvars_file("dev").read_text()
    assert tfvars._parse_canonical(tf_text, created.tfvars_file("dev"), "dev") is not None
    before = snapshot(created.root)
    again = cli(capsys, *args, "--add-pull-principal", DEPLOYER, "--output", "json")
    assert again.code == 0 and json.loads(again.stdout)["catalog_changed"] is False
    assert snapshot(created.root) == before
    # A second change gets the next number.
    assert cli(capsys, "update", NAME, "-e", "dev", "--description", "cards").code == 0
    assert _entry(created).history["change_002"] == "update: description '' -> 'cards'"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--risk", "high"], "encryption would change from AES256 to KMS"),
        (["--owner", "payments"], "is not an app team"),
        (["--add-push-principal", "not-an-arn"], "is not an IAM role"),
        (["--remove-pull-principal", DEPLOYER], "has no pull principal"),
        (["--description", "a;b"], "AWS does not allow"),
    ],
)
def test_a_refused_update_writes_nothing(
    created: Workspace, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    before = snapshot(created.root)
    result = cli(capsys, "update", NAME, "-e", "dev", *args)
    assert result.code == 1 and message in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(created.root) == before


def test_the_encryption_refusal_says_what_to_do_instead(
    created: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "update", NAME, "-e", "dev", "--risk", "high")
    assert "create a new repository at the high tier" in result.stderr
    assert f"ecrctl decommission {NAME} --env dev" in result.stderr


def test_unknown_and_decommissioned_repositories_are_refused(
    created: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    unknown = cli(capsys, "update", "other-repo", "-e", "dev", "--owner", "app-team-x")
    assert unknown.code == 1 and "no repository 'other-repo'" in unknown.stderr
    tiers = tiers_file.load(created.tiers_file)
    tf = tfvars.load(created.tfvars_file("dev"), "dev")
    created.tfvars_file("dev").write_text(tf.without_entry(NAME))
    cat = catalog.load(created.catalog_file, tiers)
    gone = catalog.with_status(cat.entries[NAME], "decommissioned", decommissioned_at="2026-01-02")
    created.catalog_file.write_text(cat.with_entry(gone, tiers))
    before = snapshot(created.root)
    for command in (["update", "--owner", "app-team-x"], ["deprecate", "--reason", "x"]):
        result = cli(capsys, command[0], NAME, "-e", "dev", *command[1:])
        assert result.code == 1 and "was decommissioned (2026-01-02)" in result.stderr
    assert snapshot(created.root) == before


def test_deprecate_keeps_push_principals_recorded_and_reactivate_restores(
    created: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "deprecate", NAME, "-e", "dev").code == 2  # --reason is required
    result = cli(capsys, "deprecate", NAME, "-e", "dev", "--reason", "replaced by v2")
    assert result.code == 0, result.stderr
    entry = _entry(created)
    assert entry.status == "deprecated" and entry.history["deprecation_reason"] == "replaced by v2"
    assert _tf(created).status == "deprecated" and _tf(created).push_principals == (CI_ROLE,)
    assert 'status          = "deprecated"' in created.tfvars_file("dev").read_text()
    assert f"push: {CI_ROLE} -> (none)" in result.stdout
    assert cli(capsys, "validate").code == 0
    again = cli(capsys, "deprecate", NAME, "-e", "dev", "--reason", "replaced by v2")
    assert again.code == 0 and "nothing changed" in again.stdout
    assert cli(capsys, "reactivate", NAME, "-e", "dev").code == 0
    entry = _entry(created)
    assert entry.status == "active" and "deprecated_at" not in entry.history
    assert _tf(created).status == "active"
    assert "status" not in created.tfvars_file("dev").read_text().split("{", 2)[2]
    assert [k for k in entry.history if not k.endswith(("_at", "_reason"))] == [
        "change_001",
        "change_002",
    ]


def test_validate_finds_a_status_that_differs_between_catalog_and_tfvars(
    created: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "deprecate", NAME, "-e", "dev", "--reason", "old").code == 0
    path = created.tfvars_file("dev")
    path.write_text(path.read_text().replace('    status          = "deprecated"\n', ""))
    result = cli(capsys, "validate")
    assert result.code == 1 and 'status "deprecated"' in result.stdout


def test_the_guard_allows_in_place_updates_of_a_live_repository_only() -> None:
    live = {NAME}
    ok = [
        rc(f"{A}.aws_ecr_repository.this", "update"),
        rc(f"{A}.aws_ecr_repository_policy.this[0]", "update"),
        rc(f"{A}.aws_ecr_lifecycle_policy.this", "replace"),  # the retention rule, put again
        rc("aws_ecr_registry_scanning_configuration.this[0]", "update"),
    ]
    assert guard.violations(ok, live, live) == []
    for bad in (
        rc(f"{A}.aws_ecr_repository.this", "replace"),
        rc(f"{A}.aws_kms_key.this[0]", "delete"),
        rc(f"{A}.aws_ecr_lifecycle_policy.this", "delete"),
        rc('module.ecr_repositories["other"].aws_ecr_repository.this', "update"),
    ):
        assert guard.violations([*ok, bad], live, live), bad


def test_an_update_that_asks_for_nothing_is_refused(
    created: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "update", NAME, "-e", "dev")
    assert result.code == 1 and "nothing to update" in result.stderr


def test_a_create_may_not_replace_its_lifecycle_policy() -> None:
    creating = [
        rc(f"{A}.aws_ecr_repository.this", "create"),
        rc(f"{A}.aws_ecr_lifecycle_policy.this", "replace"),
    ]
    assert verdicts(creating, {NAME}, {NAME}) == [
        f"{A}.aws_ecr_lifecycle_policy.this (replace): a create request may only create"
    ]


def test_the_guard_allows_deleting_the_policy_only_when_no_principal_is_left() -> None:
    delete = [rc(f"{A}.aws_ecr_repository_policy.this[0]", "delete")]
    assert verdicts(delete, {NAME}, {NAME}) == [
        f"{A}.aws_ecr_repository_policy.this[0] (delete): would destroy part of a live repository"
    ]
    assert guard.violations(delete, {NAME}, {NAME}, without_policy={NAME}) == []
    other = [rc(f"{A}.aws_ecr_repository.this", "delete")]
    assert guard.violations(other, {NAME}, {NAME}, without_policy={NAME})


def test_a_deprecated_request_without_pullers_has_no_policy() -> None:
    request = policy.build_request(
        name=NAME, env="dev", owner="app-team-a", risk="low", push_principals=[CI_ROLE]
    )
    assert request.has_policy
    deprecated = policy.build_request(
        name=NAME,
        env="dev",
        owner="app-team-a",
        risk="low",
        push_principals=[CI_ROLE],
        status="deprecated",
    )
    assert not deprecated.has_policy
    assert ci_changes._kind(request, deprecated) == "deprecate"
    assert ci_changes._kind(deprecated, request) == "reactivate"


def test_the_review_reads_the_settings_held_from_the_state() -> None:
    tiers = tiers_file.load(TIERS)
    state = {
        "resources": [
            {
                "module": A,
                "mode": "managed",
                "type": "aws_ecr_repository",
                "name": "this",
                "instances": [
                    {
                        "attributes": {
                            "image_tag_mutability": "MUTABLE",
                            "encryption_configuration": [{"encryption_type": "AES256"}],
                            "tags": {"RiskTier": "low"},
                        }
                    }
                ],
            },
            {
                "module": A,
                "mode": "managed",
                "type": "aws_ecr_repository_policy",
                "name": "this",
                "instances": [
                    {
                        "attributes": {
                            "policy": documents.repository_policy_json(
                                policy.build_request(
                                    name=NAME,
                                    env="dev",
                                    owner="app-team-a",
                                    risk="low",
                                    push_principals=[CI_ROLE],
                                )
                            )
                        }
                    }
                ],
            },
        ]
    }
    after = policy.build_request(
        name=NAME, env="dev", owner="app-team-a", risk="medium", pull_principals=[DEPLOYER]
    )
    (found,) = review.reviews([NAME], {NAME: after}, tiers, state)
    lines = found.lines()
    assert "tier: low -> medium" in lines and "images kept: 20 -> 30" in lines
    assert f"push: {CI_ROLE} -> (none)" in lines and f"pull: (none) -> {DEPLOYER}" in lines
    assert "encryption: AES256" in lines
    assert review.Review.from_dict(found.to_dict()) == found


# -- the "request access" Backstage template -------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
ACCESS_TEMPLATE = REPO / "catalog" / "templates" / "ecr-access" / "template.yaml"
ACCESS_WORKFLOW = REPO / ".github" / "workflows" / "ecr-access.yml"


def _access_form() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(ACCESS_TEMPLATE.read_text())
    return data


def test_access_template_patterns_are_ecrctls() -> None:
    properties = _access_form()["spec"]["parameters"][0]["properties"]
    assert properties["principal"]["pattern"] == policy.PULL_PRINCIPAL.pattern
    assert properties["name"]["pattern"] == policy.NAME.pattern
    assert (properties["name"]["minLength"], properties["name"]["maxLength"]) == policy.NAME_LENGTH
    assert properties["reason"]["maxLength"] == update_core.REASON_MAX
    environments = set(Workspace(REPO).environments())
    assert (
        set(properties["env"]["enum"]) <= environments and "local" not in properties["env"]["enum"]
    )


def test_access_template_dispatches_the_access_workflow_with_its_inputs() -> None:
    template = _access_form()
    (step,) = template["spec"]["steps"]
    assert step["action"] == "github:actions:dispatch"
    assert step["input"]["workflowId"] == ACCESS_WORKFLOW.name
    assert step["input"]["branchOrTagName"] == "development"
    page = template["spec"]["parameters"][0]
    fields = set(page["properties"])
    assert set(page["required"]) == fields
    assert step["input"]["workflowInputs"] == {f: f"${{{{ parameters.{f} }}}}" for f in fields}
    workflow = yaml.safe_load(ACCESS_WORKFLOW.read_text())
    inputs = workflow[True]["workflow_dispatch"]["inputs"]  # YAML 1.1 reads `on` as true
    assert set(inputs) == fields
    for choice in ("access", "env"):
        assert inputs[choice]["options"] == page["properties"][choice]["enum"]
    run = json.dumps(workflow["jobs"]["access"]["steps"])
    assert (
        "ecrctl update" in run and "--add-pull-principal" in run and "--add-push-principal" in run
    )
    assert "ecr-registry" in run  # the label ecr-plan and ecr-auto-apply act on


@pytest.fixture
def fake(repo: Workspace) -> Iterator[FakeTerraform]:
    with mock_aws():
        yield FakeTerraform(decommission_tests.client())


def test_a_deprecated_repository_is_decommissioned_and_restored_active(
    repo: Workspace, fake: FakeTerraform
) -> None:
    decommission_tests.provisioned(repo, fake)
    update_core.deprecate(Session(repo).at("dev"), decommission_tests.NAME, "replaced by web-next")
    result = decommission_tests.run(repo, fake)
    gone = decommission_tests.entry(repo)
    assert gone.status == "decommissioned" and gone.history["deprecation_reason"]
    assert not decommission_tests.in_tfvars(repo)
    decommission_tests.restore(repo, fake, repo.root / str(result.backup))
    back = decommission_tests.entry(repo)
    assert back.status == "active" and back.request.status == "active"
    assert tfvars.load(repo.tfvars_file("dev"), "dev").entries[back.request.name].status == "active"
    assert not validate_op.validate(repo, "dev")


def test_the_backstage_entity_shows_a_deprecation() -> None:
    from orchestrator.models import CatalogEntry, RepoOutputs
    from orchestrator.ops.backstage import Placement, repository_entity

    request = policy.build_request(name=NAME, env="dev", owner="app-team-a", risk="low")
    repo = RepoOutputs(NAME, "url", "arn", "123456789012", "eu-west-2")
    placement = Placement("dev", "eu-west-2", primary=True)
    for status, tagged in (("active", False), ("deprecated", True)):
        entry = CatalogEntry(request, status=status)
        entity = repository_entity(placement, repo, "app-team-a", "low", "REGISTRY_X", entry)
        assert ("deprecated" in entity["metadata"]["tags"]) is tagged
        annotations = entity["metadata"]["annotations"]
        assert annotations["platform/catalog-status"] == status
