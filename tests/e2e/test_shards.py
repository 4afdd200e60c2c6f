"""State shards on the emulator: an environment of one state keeps its state as it was, a
sharded one plans and applies side by side, and `ecrctl shards migrate` moves states without an
AWS change."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.files.workspace import Workspace
from tests.conftest import Aws
from tests.helpers import cli, create

BUCKET = "ecrctl-local-tfstate"
MAIN_KEY = "ecr/local/terraform.tfstate"


def _get(aws: Aws, key: str) -> dict[str, Any]:
    body = aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    found: dict[str, Any] = json.loads(body)
    return found


def _put(aws: Aws, key: str, state: dict[str, Any]) -> None:
    aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=json.dumps(state).encode())


def _plan(capsys: pytest.CaptureFixture[str], *names: str) -> dict[str, Any]:
    result = cli(capsys, "plan", *names, "--env", "local", "--output", "json")
    assert result.code == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def test_an_environment_of_one_state_plans_no_change_after_the_registry_gained_its_gate(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    """A state written before state shards (the scanning configuration without `count`) plans
    a move of that address only: nothing created, changed or destroyed in AWS; then nothing."""
    create(capsys, "search-api", risk="medium")
    assert cli(capsys, "apply", "search-api", "--env", "local", "--auto-approve").code == 0
    arn = aws.client("ecr").describe_repositories()["repositories"][0]["repositoryArn"]
    # The state as the root before this change wrote it: the same object, no index key.
    state = _get(aws, MAIN_KEY)
    (scan,) = [r for r in state["resources"] if r["type"].startswith("aws_ecr_registry_scan")]
    del scan["instances"][0]["index_key"]
    state["serial"] += 1
    _put(aws, MAIN_KEY, state)

    plan = _plan(capsys, "search-api")
    assert [(c["address"], c["action"]) for c in plan["changes"]] == [
        ("aws_ecr_registry_scanning_configuration.this[0]", "move")
    ]
    assert (
        cli(capsys, "apply", "--env", "local", "--plan", plan["plan_file"], "--auto-approve").code
        == 0
    )
    assert _plan(capsys, "search-api")["changes"] == []
    assert (
        not aws.client("s3")
        .list_objects_v2(Bucket=BUCKET, Prefix="ecr/local/shards/")
        .get("Contents")
    )
    assert aws.client("ecr").describe_repositories()["repositories"][0]["repositoryArn"] == arn
