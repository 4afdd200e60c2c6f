"""End to end: real terraform and AWS provider against moto's server on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from orchestrator.context import Session
from orchestrator.files.workspace import Workspace
from tests.conftest import Aws
from tests.helpers import cli, create, snapshot

CI_ROLE = "arn:aws:iam::123456789012:role/ci-publisher"
DEPLOY_ROLE = "arn:aws:iam::123456789012:role/deployer"


def _create_three(capsys: pytest.CaptureFixture[str]) -> None:
    principals = ("--push-principal", CI_ROLE, "--pull-principal", DEPLOY_ROLE)
    for name, risk in (
        ("web-frontend", "low"),
        ("search-api", "medium"),
        ("payments-gateway", "high"),
    ):
        create(capsys, name, *(principals if risk == "high" else ()), risk=risk)


def test_each_tier_lands_in_the_emulator_with_its_settings(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    _create_three(capsys)
    result = cli(
        capsys,
        "apply",
        "web-frontend",
        "search-api",
        "payments-gateway",
        "--env",
        "local",
        "--auto-approve",
        "--output",
        "json",
    )
    assert result.code == 0, result.stderr
    ecr, kms = aws.client("ecr"), aws.client("kms")
    repos = {r["repositoryName"]: r for r in ecr.describe_repositories()["repositories"]}
    assert sorted(repos) == ["payments-gateway", "search-api", "web-frontend"]
    expected = {
        "web-frontend": ("MUTABLE", "AES256", 20, "low"),
        "search-api": ("MUTABLE", "AES256", 30, "medium"),
        "payments-gateway": ("IMMUTABLE", "KMS", 50, "high"),
    }
    for name, (mutability, encryption, keep, risk) in expected.items():
        repo = repos[name]
        assert repo["imageTagMutability"] == mutability
        assert repo["encryptionConfiguration"]["encryptionType"] == encryption
        policy = json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
        assert policy["rules"][-1]["selection"]["countNumber"] == keep  # the count rule is last
        tags = {
            t["Key"]: t["Value"]
            for t in ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
        }
        assert tags["Owner"] == f"app-team-{name.split('-')[0]}"
        assert tags["RiskTier"] == risk
        assert tags["RegistryId"] == "REGISTRY_" + name.upper().replace("-", "_")
    key_arn = repos["payments-gateway"]["encryptionConfiguration"]["kmsKey"]
    key = kms.describe_key(KeyId=key_arn)["KeyMetadata"]
    assert key["KeyManager"] == "CUSTOMER" and key["KeyState"] == "Enabled"
    statements = json.loads(
        ecr.get_repository_policy(repositoryName="payments-gateway")["policyText"]
    )["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    assert CI_ROLE in json.dumps(by_sid["AllowPush"]["Principal"])
    assert "ecr:PutImage" in by_sid["AllowPush"]["Action"]
    assert DEPLOY_ROLE in json.dumps(by_sid["AllowPull"]["Principal"])
    assert "ecr:PutImage" not in by_sid["AllowPull"]["Action"]
    scanning = ecr.get_registry_scanning_configuration()["scanningConfiguration"]
    continuous = [r for r in scanning["rules"] if r["scanFrequency"] == "CONTINUOUS_SCAN"]
    assert scanning["scanType"] == "ENHANCED"
    # NAME*: ECR reads a filter without `*` as "contains" (docs/SCANNING.md).
    assert sorted(f["filter"] for f in continuous[0]["repositoryFilters"]) == [
        "payments-gateway*",
        "search-api*",
    ]
    # Applying again finds nothing to do and runs no terraform apply.
    again = cli(capsys, "apply", "web-frontend", "--env", "local", "--auto-approve")
    assert again.code == 0 and "No changes" in again.stdout


def test_targeted_plan_shows_only_the_named_repository(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    _create_three(capsys)
    result = cli(capsys, "plan", "search-api", "--env", "local", "--output", "json")
    assert result.code == 0, result.stderr
    plan = json.loads(result.stdout)
    repos = {c["repository"] for c in plan["changes"]}
    assert repos == {"search-api", None}
    assert {c["address"] for c in plan["changes"] if c["repository"] is None} == {
        "aws_ecr_registry_scanning_configuration.this[0]"
    }
    assert all(c["action"] == "create" for c in plan["changes"])
    assert plan["targets"][0] == 'module.ecr_repositories["search-api"]'
    # The saved plan applies exactly what was shown.
    applied = cli(
        capsys, "apply", "--env", "local", "--plan", plan["plan_file"], "--output", "json"
    )
    assert applied.code == 0, applied.stderr
    names = [r["repositoryName"] for r in aws.client("ecr").describe_repositories()["repositories"]]
    assert names == ["search-api"]


def test_a_target_that_matches_nothing_is_an_error(
    local: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "plan", "ghost-service", "--env", "local")
    assert result.code == 1
    assert "matches nothing" in result.stderr


def test_guard_refuses_a_hand_edit_that_would_replace_a_live_repository(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    _create_three(capsys)
    assert cli(capsys, "apply", "web-frontend", "--env", "local", "--auto-approve").code == 0
    tfvars = local.tfvars_file("local")
    # A hand edit turns the live low-tier repository into a high one: KMS forces a replacement.
    tfvars.write_text(
        tfvars.read_text().replace(
            'id              = "REGISTRY_WEB_FRONTEND"\n    owner           = "app-team-web"\n    risk            = "low"',
            'id              = "REGISTRY_WEB_FRONTEND"\n    owner           = "app-team-web"\n    risk            = "high"',
        )
    )
    # Left out of registry_scan_filters, it would be scanned less than its new tier asks.
    before = snapshot(local.root)
    result = cli(capsys, "apply", "web-frontend", "--env", "local", "--auto-approve")
    assert result.code == 1 and snapshot(local.root) == before
    assert "continuous-scan repository unmatched: web-frontend" in result.stderr
    tfvars.write_text(
        tfvars.read_text().replace('  "search-api*",\n', '  "search-api*",\n  "web-frontend*",\n')
    )
    before = snapshot(local.root)
    result = cli(capsys, "apply", "web-frontend", "--env", "local", "--auto-approve")
    assert result.code == 1
    assert 'module.ecr_repositories["web-frontend"].aws_ecr_repository.this' in result.stderr
    assert "refused" in result.stderr
    assert snapshot(local.root) == before
    repo = aws.client("ecr").describe_repositories(repositoryNames=["web-frontend"])[
        "repositories"
    ][0]
    assert repo["encryptionConfiguration"]["encryptionType"] == "AES256"


def test_a_stale_saved_plan_is_refused_not_replanned(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    _create_three(capsys)
    first = json.loads(
        cli(capsys, "plan", "web-frontend", "--env", "local", "--output", "json").stdout
    )
    assert cli(capsys, "apply", "search-api", "--env", "local", "--auto-approve").code == 0
    stale = cli(capsys, "apply", "--env", "local", "--plan", first["plan_file"])
    assert stale.code == 3
    assert "stale" in stale.stderr.lower()
    names = [r["repositoryName"] for r in aws.client("ecr").describe_repositories()["repositories"]]
    assert names == ["search-api"]


def test_terraform_module_is_formatted_and_valid(local: Workspace) -> None:
    import subprocess

    fmt = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", str(local.terraform_dir)],
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    tf = Session(local).at("local").terraform()
    tf.init()
    from python_terraform import IsFlagged

    result = tf._run("validate", json=IsFlagged, what="terraform validate", stream=False)
    assert json.loads(result.stdout)["valid"] is True
