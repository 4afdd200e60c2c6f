"""ecrctl adopt end to end: repositories made by hand in the emulator, adopted, planned (imports
and in-place updates only), applied; the same repositories and images afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from orchestrator.context import Session
from orchestrator.files.workspace import Workspace
from orchestrator.rules import documents
from tests.conftest import Aws
from tests.helpers import cli, push, snapshot

DEPLOYER = "arn:aws:iam::123456789012:role/deployer"
PUBLISHER = "arn:aws:iam::123456789012:role/ci-publisher"


def keep(count: int) -> str:
    rule = {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": count}
    return json.dumps(
        {"rules": [{"rulePriority": 1, "selection": rule, "action": {"type": "expire"}}]}
    )


def hand_made_registry(aws: Aws) -> tuple[dict[str, str], dict[str, list[str]], str]:
    """Repositories as a team made them: mixed settings, each with images. -> ARNs, digests, key."""
    ecr, kms = aws.client("ecr"), aws.client("kms")
    ecr.create_repository(
        repositoryName="team/app",
        imageTagMutability="IMMUTABLE",
        tags=[{"Key": "Owner", "Value": "app-team-web"}, {"Key": "RiskTier", "Value": "low"}],
    )
    ecr.put_lifecycle_policy(repositoryName="team/app", lifecyclePolicyText=keep(5))
    ecr.create_repository(repositoryName="old_service")
    ecr.set_repository_policy(
        repositoryName="old_service",
        policyText=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "legacy",
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                        "Action": ["ecr:BatchGetImage"],
                    }
                ],
            }
        ),
    )
    # (KeyUsage given: moto leaves it out of describe_key otherwise, and AWS always has it.)
    key = kms.create_key(KeyUsage="ENCRYPT_DECRYPT", Description="made by hand")["KeyMetadata"]
    ecr.create_repository(
        repositoryName="vault.keys",
        imageTagMutability="MUTABLE",
        encryptionConfiguration={"encryptionType": "KMS", "kmsKey": key["Arn"]},
        imageScanningConfiguration={"scanOnPush": True},
    )
    ecr.create_repository(repositoryName="legacy-web")  # AES256: cannot become high
    digests = {
        "team/app": [push(ecr, "team/app", "a", "v1"), push(ecr, "team/app", "b", "v2")],
        "old_service": [push(ecr, "old_service", "c", "latest")],
        "vault.keys": [push(ecr, "vault.keys", "d", "1.0")],
        "legacy-web": [push(ecr, "legacy-web", "e", "prod")],
    }
    arns = {
        r["repositoryName"]: r["repositoryArn"] for r in ecr.describe_repositories()["repositories"]
    }
    return arns, digests, key["Arn"]


def test_adopt_plan_apply_keeps_repositories_and_images_and_reaches_the_tiers(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    arns, digests, key_arn = hand_made_registry(aws)
    ecr, kms = aws.client("ecr"), aws.client("kms")

    # An encryption the tier cannot keep: refused, with the options, and nothing written.
    before = snapshot(local.root)
    refused = cli(
        capsys, "adopt", "legacy-web", "--env", "local", "--owner", "app-team-web", "--risk", "high"
    )
    assert refused.code == 1
    assert "encryption: AES256 -> KMS  refused" in refused.stdout
    assert "adopt it as low or medium" in refused.stdout
    assert "nothing was written" in refused.stderr
    assert snapshot(local.root) == before

    # The starting file: every unmanaged repository, owner and risk from the tags where present.
    scaffold = cli(capsys, "adopt", "--env", "local", "--scaffold")
    assert scaffold.code == 0, scaffold.stderr
    rows = {row["name"]: row for row in yaml.safe_load(scaffold.stdout)}
    assert sorted(rows) == ["legacy-web", "old_service", "team/app", "vault.keys"]
    assert (rows["team/app"]["owner"], rows["team/app"]["risk"]) == ("app-team-web", "low")
    assert rows["old_service"]["owner"] == "" and rows["old_service"]["risk"] == ""
    del rows["legacy-web"]  # stays unmanaged
    rows["old_service"].update(owner="app-team-billing", risk="medium")
    rows["old_service"]["pull_principals"] = [DEPLOYER]
    rows["vault.keys"].update(owner="app-team-vault", risk="high")
    rows["vault.keys"]["push_principals"] = [PUBLISHER]
    adopt_file = tmp_path / "adopt.yaml"
    adopt_file.write_text(yaml.safe_dump(list(rows.values())))

    adopted = cli(capsys, "adopt", "--env", "local", "--from", str(adopt_file), "--output", "json")
    assert adopted.code == 0, adopted.stderr
    report = json.loads(adopted.stdout)
    assert report["adopted"] == ["old_service", "team/app", "vault.keys"] and report["written"]
    imports = {r["repository"]: r["imports"] for r in report["repositories"]}
    assert imports == {
        "old_service": ["repository", "repository_policy"],
        "team/app": ["repository"],
        "vault.keys": ["repository", "kms_key"],
    }
    assert cli(capsys, "validate").code == 0

    # One plan: imports and in-place updates, creates only of what the repositories lacked.
    names = ["old_service", "team/app", "vault.keys"]
    plan_file = tmp_path / "adopt.tfplan"
    planned = cli(capsys, "plan", *names, "--env", "local", "--out", str(plan_file), "-o", "json")
    assert planned.code == 0, planned.stderr
    changes = {
        (c["address"], c["action"], c.get("importing", False))
        for c in json.loads(planned.stdout)["changes"]
    }
    for name in names:
        assert (
            f'module.ecr_repositories["{name}"].aws_ecr_repository.this',
            "update",
            True,
        ) in changes
    assert ('module.ecr_repositories["vault.keys"].aws_kms_key.this[0]', "update", True) in changes
    assert (
        'module.ecr_repositories["vault.keys"].aws_kms_alias.this[0]',
        "create",
        False,
    ) in changes
    assert not any(action in ("delete", "replace") for _, action, _ in changes)
    applied = cli(capsys, "apply", "--env", "local", "--plan", str(plan_file))
    assert applied.code == 0, applied.stderr

    # The same repositories (ARNs), every image still there, settings as the tiers want.
    repos = {r["repositoryName"]: r for r in ecr.describe_repositories()["repositories"]}
    for name in [*names, "legacy-web"]:
        assert repos[name]["repositoryArn"] == arns[name]
        found = ecr.describe_images(repositoryName=name)["imageDetails"]
        assert sorted(i["imageDigest"] for i in found) == sorted(digests[name])
    expected = {
        "team/app": ("MUTABLE", 20),
        "old_service": ("MUTABLE", 30),
        "vault.keys": ("IMMUTABLE", 50),
    }
    for name, (mutability, count) in expected.items():
        assert repos[name]["imageTagMutability"] == mutability
        assert repos[name]["imageScanningConfiguration"]["scanOnPush"] is True
        lifecycle = ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"]
        # The count rule comes last, after the protected prefixes and the untagged rule.
        assert json.loads(lifecycle)["rules"][-1]["selection"]["countNumber"] == count
        tags = {
            t["Key"]: t["Value"] for t in ecr.list_tags_for_resource(resourceArn=arns[name])["tags"]
        }
        assert tags["ManagedBy"] == "ecrctl" and tags["Environment"] == "local"
    statement = json.loads(ecr.get_repository_policy(repositoryName="old_service")["policyText"])
    assert [s["Principal"]["AWS"] for s in statement["Statement"]] == [[DEPLOYER]]
    assert repos["vault.keys"]["encryptionConfiguration"]["kmsKey"] == key_arn  # its own key
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True
    # The hand-made key's default policy became the module's (reported, then updated in place).
    vault = next(r for r in report["repositories"] if r["repository"] == "vault.keys")
    assert "kms_key_policy" in {d["setting"] for d in vault["differences"]}
    held_policy = kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"]
    assert held_policy == documents.key_policy_json("123456789012", "us-east-1")
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert aliases["alias/ecr/vault_keys"] == key_arn.rsplit("/", 1)[1]

    # The state holds them; the next plan is empty; drift sees only legacy-web unmanaged.
    state = Session(local).at("local").terraform().state_pull()
    held = {
        r["module"]: r["instances"][0]["attributes"]
        for r in state["resources"]
        if r["type"] == "aws_ecr_repository"
    }
    assert {m: a["arn"] for m, a in held.items()} == {
        f'module.ecr_repositories["{n}"]': arns[n] for n in names
    }
    again = cli(capsys, "plan", *names, "--env", "local", "--output", "json")
    assert again.code == 0, again.stderr
    assert json.loads(again.stdout)["changes"] == []
    drift = cli(capsys, "drift", "--env", "local", "--output", "json")
    found = json.loads(drift.stdout)["findings"]
    assert [(f["kind"], f["repository"]) for f in found] == [("unmanaged", "legacy-web")]
    # The apply's catalog sync counted them; the Backstage names hold no '/'.
    registry = (
        local.catalog_dir / "resources" / "local" / "ecr-registry-us-east-1.yaml"
    ).read_text()
    assert 'platform/repo-count: "3"' in registry
    assert 'platform/ecr-repository-name: "team/app"' in registry
    assert "ecr-repo-team-app_" in registry and "ecr-repo-team/app" not in registry


def test_adopt_reads_an_organization_and_a_service_statement_as_its_own(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hand-made policy granting pull to an organisation (Principal "*", as people write it)
    and to Lambda for this account is what the request's principals ask for: no difference.
    No terraform runs (adopt --dry-run reads the emulator through boto3)."""
    ecr = aws.client("ecr")
    account = aws.client("sts").get_caller_identity()["Account"]
    pull = ["ecr:BatchGetImage", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer"]
    ecr.create_repository(repositoryName="shared/base")
    ecr.set_repository_policy(
        repositoryName="shared/base",
        policyText=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "OrgPull",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": pull,
                        "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
                    },
                    {
                        "Sid": "LambdaPull",
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": pull,
                        "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                    },
                ],
            }
        ),
    )
    args = ["adopt", "shared/base", "--env", "local", "--owner", "app-team-web", "--risk", "low"]
    both = ["--pull-principal", "o-a1b2c3d4e5", "--pull-principal", "lambda.amazonaws.com"]

    def report(*extra: str) -> dict[str, object]:
        result = cli(capsys, *args, *extra, "--dry-run", "--output", "json")
        assert result.code == 0, result.stderr
        (found,) = json.loads(result.stdout)["repositories"]
        assert found["verdict"] == "adoptable" and "repository_policy" in found["imports"]
        return {d["setting"]: d for d in found["differences"]}

    assert "repository_policy" not in report(*both)
    narrower = report("--pull-principal", "o-a1b2c3d4e5")["repository_policy"]
    assert narrower == {
        "setting": "repository_policy",
        "current": "pull: service lambda.amazonaws.com (this account only),"
        " organisation o-a1b2c3d4e5",
        "wanted": "pull: organisation o-a1b2c3d4e5",
        "fix": "in place",
    }
