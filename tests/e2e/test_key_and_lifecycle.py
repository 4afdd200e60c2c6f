"""End to end on the emulator: the high tier's KMS key policy and lifecycle rules (issue 21,
items 2 and 4). One flow: create and apply, read both back as AWS holds them, then put AWS's
default key policy back behind Terraform's back: drift reports it, and the plan updates the key
in place."""

from __future__ import annotations

import json

import pytest

from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace
from orchestrator.rules import documents
from tests.conftest import Aws
from tests.helpers import cli, create

NAME = "vault-keys"
ACCOUNT = "123456789012"  # moto's account
REGION = "us-east-1"  # envs/local


def test_the_high_tier_key_policy_and_lifecycle_rules_hold_and_update_in_place(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    tiers = tiers_file.load(local.tiers_file)
    assert create(capsys, NAME, risk="high").code == 0
    applied = cli(capsys, "apply", NAME, "--env", "local", "--auto-approve")
    assert applied.code == 0, applied.stderr

    ecr, kms = aws.client("ecr"), aws.client("kms")
    repo = ecr.describe_repositories(repositoryNames=[NAME])["repositories"][0]
    key_arn = repo["encryptionConfiguration"]["kmsKey"]
    held = kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"]
    assert held == documents.key_policy_json(ACCOUNT, REGION)
    assert documents.key_policy_grants_beyond(held, ACCOUNT, REGION) == []

    text = ecr.get_lifecycle_policy(repositoryName=NAME)["lifecyclePolicyText"]
    assert text == documents.lifecycle_policy_json(tiers["high"])
    rules = json.loads(text)["rules"]
    untagged = [r for r in rules if r["selection"]["tagStatus"] == "untagged"]
    assert [r["selection"]["countNumber"] for r in untagged] == [tiers["high"].untagged_expire_days]

    # A key made before the policy existed holds AWS's default one: the plan puts the module's
    # in place (an update of the key, never a replacement), and the guard lets it through.
    default = json.dumps(
        {
            "Version": "2012-10-17",
            "Id": "key-default-1",
            "Statement": [
                {
                    "Sid": "Enable IAM User Permissions",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        }
    )
    kms.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=default)
    # Drift finds the key policy changed behind Terraform's back, with the command that fixes it.
    drifted = cli(capsys, "drift", "--env", "local", "--output", "json")
    assert drifted.code == 4, drifted.stderr
    findings = json.loads(drifted.stdout)["findings"]
    key = f'module.ecr_repositories["{NAME}"].aws_kms_key.this[0]'
    assert [f for f in findings if key in f["detail"]] == [
        {
            "kind": "terraform",
            "repository": NAME,
            "detail": f"{key}: update outside Terraform",
            "remedy": f"ecrctl apply {NAME} --env local",
        }
    ]
    planned = cli(capsys, "plan", NAME, "--env", "local", "--output", "json")
    assert planned.code == 0, planned.stderr
    changes = {c["address"]: c["action"] for c in json.loads(planned.stdout)["changes"]}
    assert changes == {key: "update"}
    again = cli(capsys, "apply", NAME, "--env", "local", "--auto-approve")
    assert again.code == 0, again.stderr
    assert kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"] == held
    after = ecr.describe_repositories(repositoryNames=[NAME])["repositories"][0]
    assert after["encryptionConfiguration"]["kmsKey"] == key_arn  # the same key
