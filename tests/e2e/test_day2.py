"""End to end: day-2 changes (update, grant/revoke, deprecate/reactivate, drift remediation)
with the real terraform against moto's server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.ci import records as ci_records
from orchestrator.files import catalog, tfvars
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace
from orchestrator.models import ResourceChange
from orchestrator.rules import documents
from tests.conftest import Aws
from tests.gitrepo import ci_apply, commit, event, git, init_repo, merge_pull_request
from tests.helpers import cli, create, push, snapshot

NAME = "payments-gateway"
CI_ROLE = "arn:aws:iam::123456789012:role/ci-publisher"
DEPLOY_ROLE = "arn:aws:iam::123456789012:role/deployer"
NEW_DEPLOYER = "arn:aws:iam::123456789012:role/new-deployer"
ORG = "o-a1b2c3d4e5"
SERVICE = "lambda.amazonaws.com"


def _apply(capsys: pytest.CaptureFixture[str], *plan: str) -> str:
    result = cli(capsys, "apply", NAME, "--env", "local", "--auto-approve", *plan)
    assert result.code == 0, result.stderr
    return result.stdout


def _policy(ecr: Any) -> dict[str, list[str]]:
    """Each statement's principals, as the emulator holds the repository policy."""
    text = ecr.get_repository_policy(repositoryName=NAME)["policyText"]
    found = {}
    for statement in json.loads(text)["Statement"]:
        aws = statement["Principal"]["AWS"]
        found[statement["Sid"]] = sorted([aws] if isinstance(aws, str) else aws)
    return found


def _tags(ecr: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in ecr.list_tags_for_resource(resourceArn=arn)["tags"]}


def _entry(ws: Workspace) -> catalog.CatalogEntry:
    return catalog.load(ws.catalog_file, tiers_file.load(ws.tiers_file)).entries[NAME]


def test_day2_changes_apply_in_place_and_keep_the_images(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    ecr = aws.client("ecr")
    create(capsys, NAME, "--push-principal", CI_ROLE, "--pull-principal", DEPLOY_ROLE)
    first = _apply(capsys)
    assert "dkr.ecr" in first and f"{NAME}: " in first  # the URL after the apply
    arn = ecr.describe_repositories(repositoryNames=[NAME])["repositories"][0]["repositoryArn"]
    digest = push(ecr, NAME, "v1", "v1")

    # 1. owner, description, tier (low -> medium: retention and scanning change) and a grant.
    changed = cli(
        capsys,
        "update",
        NAME,
        "--env",
        "local",
        "--owner",
        "app-team-checkout",
        "--description",
        "card payments",
        "--risk",
        "medium",
        "--add-pull-principal",
        NEW_DEPLOYER,
        "--reason",
        "team reorganisation",
    )
    assert changed.code == 0, changed.stderr
    assert "images kept: 20 -> 30" in changed.stdout
    plan_file = str(local.root / "update.tfplan")
    plan = cli(capsys, "plan", NAME, "--env", "local", "--out", plan_file, "--output", "json")
    assert plan.code == 0, plan.stderr
    planned = json.loads(plan.stdout)
    # In place: the repository is updated; only its lifecycle rule is put whole again.
    actions = {c["address"].rsplit(".", 2)[-2] + "." + c["action"] for c in planned["changes"]}
    assert "aws_ecr_repository.update" in actions
    replaced = [c["address"] for c in planned["changes"] if c["action"] != "update"]
    assert replaced == [f'module.ecr_repositories["{NAME}"].aws_ecr_lifecycle_policy.this']
    (settings,) = planned["settings"]
    assert settings["before"]["tier"] == "low" and settings["after"]["tier"] == "medium"
    assert settings["after"]["pull_principals"] == sorted([DEPLOY_ROLE, NEW_DEPLOYER])
    assert settings["before"]["pull_principals"] == [DEPLOY_ROLE]
    applied = _apply(capsys, "--plan", plan_file)
    assert "images kept" in applied and "20 -> 30" in applied  # what the reviewer saw
    repo = ecr.describe_repositories(repositoryNames=[NAME])["repositories"][0]
    tags = _tags(ecr, arn)
    assert tags["Owner"] == "app-team-checkout" and tags["RiskTier"] == "medium"
    assert tags["Description"] == "card payments"
    lifecycle = json.loads(ecr.get_lifecycle_policy(repositoryName=NAME)["lifecyclePolicyText"])
    assert lifecycle["rules"][-1]["selection"]["countNumber"] == 30  # the count rule is last
    scanning = ecr.get_registry_scanning_configuration()["scanningConfiguration"]
    continuous = [r for r in scanning["rules"] if r["scanFrequency"] == "CONTINUOUS_SCAN"]
    # NAME* is the narrowest filter ECR has (a filter without * matches every name holding it)
    assert [f["filter"] for f in continuous[0]["repositoryFilters"]] == [f"{NAME}*"]
    assert _policy(ecr) == {"AllowPush": [CI_ROLE], "AllowPull": [DEPLOY_ROLE, NEW_DEPLOYER]}
    history = _entry(local).history
    assert history["change_001_reason"] == "team reorganisation"
    assert "owner 'app-team-payments' -> 'app-team-checkout'" in history["change_001"]

    # The same update again changes nothing.
    before = snapshot(local.root)
    again = cli(capsys, "update", NAME, "--env", "local", "--owner", "app-team-checkout")
    assert again.code == 0 and "nothing changed" in again.stdout
    assert snapshot(local.root) == before

    # 2. An encryption change is refused, with what to do instead, and nothing is written.
    refused = cli(capsys, "update", NAME, "--env", "local", "--risk", "high")
    assert refused.code == 1
    assert "AES256 to KMS" in refused.stderr and "decommission" in refused.stderr
    assert snapshot(local.root) == before

    # 3. Revoke the new deployer and deprecate, in one apply: pull-only, and the push principal
    # is kept on record.
    assert (
        cli(capsys, "update", NAME, "-e", "local", "--remove-pull-principal", NEW_DEPLOYER).code
        == 0
    )
    deprecated = cli(capsys, "deprecate", NAME, "--env", "local", "--reason", "replaced by v2")
    assert deprecated.code == 0, deprecated.stderr
    assert tfvars.load(local.tfvars_file("local"), "local").entries[NAME].push_principals == (
        CI_ROLE,
    )
    _apply(capsys)
    assert _policy(ecr) == {"AllowPull": [DEPLOY_ROLE]}
    entry = _entry(local)
    assert entry.status == "deprecated" and entry.history["deprecation_reason"] == "replaced by v2"
    listed = json.loads(cli(capsys, "list", "--env", "local", "--output", "json").stdout)
    assert listed["repositories"][0]["status"] == "deprecated"

    # 4. A setting changed outside Terraform: drift names the fix, the targeted apply of the
    # repository (here the one that reactivates it) puts it back.
    ecr.put_image_tag_mutability(repositoryName=NAME, imageTagMutability="IMMUTABLE")
    drift = cli(capsys, "drift", "--env", "local")
    assert drift.code == 4
    assert f"{NAME} (deprecated)" in drift.stdout
    assert f"fix: ecrctl apply {NAME} --env local" in drift.stdout
    assert cli(capsys, "reactivate", NAME, "--env", "local").code == 0
    _apply(capsys)
    assert _policy(ecr) == {"AllowPush": [CI_ROLE], "AllowPull": [DEPLOY_ROLE]}
    assert _entry(local).status == "active"
    repo = ecr.describe_repositories(repositoryNames=[NAME])["repositories"][0]
    assert repo["imageTagMutability"] == "MUTABLE"

    # 5. Removing the last principals removes the policy (the guard allows that one delete).
    last = cli(
        capsys,
        "update",
        NAME,
        "--env",
        "local",
        "--remove-push-principal",
        CI_ROLE,
        "--remove-pull-principal",
        DEPLOY_ROLE,
    )
    assert last.code == 0, last.stderr
    _apply(capsys)
    with pytest.raises(ecr.exceptions.RepositoryPolicyNotFoundException):
        ecr.get_repository_policy(repositoryName=NAME)

    # The image pushed before the first update is still there, in the same repository.
    repo = ecr.describe_repositories(repositoryNames=[NAME])["repositories"][0]
    assert repo["repositoryArn"] == arn
    images = ecr.describe_images(repositoryName=NAME)["imageDetails"]
    assert [i["imageDigest"] for i in images] == [digest]


def test_an_organization_and_a_service_are_granted_and_revoked_through_update(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 21 item 3: pull to a whole AWS Organization (aws:PrincipalOrgID) and to Lambda
    acting for this account (aws:SourceAccount), granted and revoked like any principal.
    Two applies: the grant's (which creates the requested repository) and the revoke's."""
    ecr = aws.client("ecr")
    account = aws.client("sts").get_caller_identity()["Account"]
    create(capsys, NAME, "--pull-principal", DEPLOY_ROLE)
    granted = cli(
        capsys,
        "update",
        NAME,
        "-e",
        "local",
        "--add-pull-principal",
        ORG,
        "--add-pull-principal",
        SERVICE,
        "--reason",
        "every account of the organisation deploys it",
    )
    assert granted.code == 0, granted.stderr
    # What the reviewer sees: the organisation and the service named as such.
    assert (
        f"pull: {DEPLOY_ROLE} -> {DEPLOY_ROLE}, service {SERVICE} (this account only),"
        f" organisation {ORG}"
    ) in granted.stdout
    _apply(capsys)
    text = ecr.get_repository_policy(repositoryName=NAME)["policyText"]
    request = tfvars.load(local.tfvars_file("local"), "local").entries[NAME]
    assert text == documents.repository_policy_json(request, account)  # byte for byte
    statements = {s["Sid"]: s for s in json.loads(text)["Statement"]}
    assert statements["AllowPull"]["Principal"] == {"AWS": [DEPLOY_ROLE]}
    organization = statements["AllowPullOrganization"]
    assert organization["Principal"] == {"AWS": "*"}
    assert organization["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": [ORG]}}
    assert "ecr:PutImage" not in organization["Action"]
    service = statements["AllowPullService"]
    assert service["Principal"] == {"Service": [SERVICE]}
    assert service["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
    # What the provider holds reads as what the module renders: no change planned again.
    again = cli(capsys, "apply", NAME, "--env", "local", "--auto-approve")
    assert again.code == 0 and "No changes" in again.stdout

    # Revoked, the organisation's statement is gone and the others stay. The plan's before
    # is read from the policy the state holds: the organisation and the service are ours.
    revoked = cli(capsys, "update", NAME, "-e", "local", "--remove-pull-principal", ORG)
    assert revoked.code == 0, revoked.stderr
    plan_file = str(local.root / "revoke.tfplan")
    plan = cli(capsys, "plan", NAME, "--env", "local", "--out", plan_file, "--output", "json")
    assert plan.code == 0, plan.stderr
    (settings,) = json.loads(plan.stdout)["settings"]
    assert settings["before"]["pull_principals"] == [DEPLOY_ROLE, SERVICE, ORG]
    assert settings["after"]["pull_principals"] == [DEPLOY_ROLE, SERVICE]
    _apply(capsys, "--plan", plan_file)
    text = ecr.get_repository_policy(repositoryName=NAME)["policyText"]
    assert [s["Sid"] for s in json.loads(text)["Statement"]] == ["AllowPull", "AllowPullService"]
    assert ORG not in text


def test_ci_plans_an_update_and_a_deprecation_and_applies_them_as_reviewed(
    local: Workspace,
    aws: Aws,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ecr = aws.client("ecr")
    for name in (NAME, "legacy-web"):
        owner = f"app-team-{name.split('-')[0]}"
        args = ["create", name, "-e", "local", "--owner", owner, "--risk", "low"]
        assert cli(capsys, *args, "--push-principal", CI_ROLE).code == 0
    applied = cli(capsys, "apply", NAME, "legacy-web", "--env", "local", "--auto-approve")
    assert applied.code == 0, applied.stderr
    init_repo(local)
    # The pull request: a pull grant on one repository, the other deprecated.
    git(local, "checkout", "-q", "-b", "ecr/request")
    grant = ["update", NAME, "-e", "local", "--add-pull-principal", NEW_DEPLOYER]
    assert cli(capsys, *grant).code == 0
    assert cli(capsys, "deprecate", "legacy-web", "-e", "local", "--reason", "unused").code == 0
    head = commit(local, "ECR day 2")
    event(tmp_path, monkeypatch, head)

    listed = cli(capsys, "ci", "changes", "--base", "development", "--output", "json")
    assert listed.code == 0, listed.stderr
    found = [(e["name"], e["change"]) for e in json.loads(listed.stdout)["entries"]]
    assert found == [("legacy-web", "deprecate"), (NAME, "change")]

    summary_file = tmp_path / "plan.md"
    planned = cli(
        capsys, "ci", "plan", "--base", "development", "--summary-file", str(summary_file)
    )
    assert planned.code == 0, planned.stderr
    record = json.loads((local.state_dir / "ci" / "plan" / "plan-local.json").read_text())
    settings = {e["name"]: e["settings"] for e in record["entries"]}
    assert settings[NAME]["after"]["pull_principals"] == [NEW_DEPLOYER]
    assert settings["legacy-web"]["after"]["push_principals"] == []
    summary = summary_file.read_text()
    assert f"pull: (none) → {NEW_DEPLOYER}" in summary
    assert f"push: {CI_ROLE} → (none)" in summary
    # The fingerprint covers the settings each repository will hold, not only the addresses.
    changes = {"local": [ResourceChange(**_change(c)) for c in record["changes"]]}
    assert record["fingerprint"] != ci_records.fingerprint(changes)
    assert ecr.get_repository_policy(repositoryName="legacy-web")  # planning changed nothing

    merge = merge_pull_request(local, tmp_path, monkeypatch, head)
    done = ci_apply(capsys, merge, "--output", "json")
    assert done.code == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["refused"] is False and report["fingerprint"] == record["fingerprint"]
    assert _policy(ecr) == {"AllowPush": [CI_ROLE], "AllowPull": [NEW_DEPLOYER]}
    with pytest.raises(ecr.exceptions.RepositoryPolicyNotFoundException):
        ecr.get_repository_policy(repositoryName="legacy-web")  # pull-only, and no puller


def _change(recorded: dict[str, Any]) -> dict[str, Any]:
    return {
        "address": recorded["address"],
        "action": recorded["action"],
        "instance": recorded["repository"],
        "reason": recorded.get("reason"),
    }
