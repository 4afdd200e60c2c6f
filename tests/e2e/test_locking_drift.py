"""Two applies on one environment against the emulator's S3 state lock, ecrctl unlock, and
ecrctl drift against a registry changed behind Terraform's back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from orchestrator.files.workspace import Workspace
from orchestrator.models import module_address as target
from tests.conftest import Aws
from tests.e2e.holders import lock_holder
from tests.helpers import cli, create

LOCK_KEY = "ecr/local/terraform.tfstate.tflock"
BUCKET = "ecrctl-local-tfstate"


def lock_info(aws: Aws) -> dict[str, str]:
    body = aws.client("s3").get_object(Bucket=BUCKET, Key=LOCK_KEY)["Body"].read()
    info: dict[str, str] = json.loads(body)
    return info


def ecrctl(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", *args],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def names(aws: Aws) -> list[str]:
    return sorted(
        r["repositoryName"] for r in aws.client("ecr").describe_repositories()["repositories"]
    )


def test_a_second_apply_fails_naming_the_holder_or_waits_for_the_lock(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    create(capsys, "web-frontend", owner="app-team-web")
    create(capsys, "search-api", owner="app-team-web")
    with lock_holder(local, target("search-api")) as holder:
        info = lock_info(aws)
        assert info["Operation"] == "OperationTypeApply"
        # No timeout: the second apply fails at once and names who holds the lock.
        second = cli(capsys, "apply", "web-frontend", "--env", "local", "--auto-approve")
        assert second.code == 3
        assert "the state lock is held by " + info["Who"] in second.stderr
        assert f"ecrctl unlock local {info['ID']}" in second.stderr
        assert names(aws) == []
        # With a lock timeout it waits for the first to finish, then applies.
        waiting = ecrctl(
            "apply", "web-frontend", "--env", "local", "--auto-approve", "--lock-timeout", "120s"
        )
        time.sleep(8)
        assert waiting.poll() is None, waiting.communicate()
        assert names(aws) == []
        assert holder.answer("no") != 0  # the first apply is declined and releases the lock
    _out, err = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, err
    assert names(aws) == ["web-frontend"]


def test_a_dead_runs_lock_stays_until_ecrctl_unlock(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    create(capsys, "web-frontend", owner="app-team-web")
    with lock_holder(local, target("web-frontend")) as holder:
        lock_id = lock_info(aws)["ID"]
        holder.proc.kill()  # the run dies without releasing its lock
        holder.proc.wait()
    blocked = cli(capsys, "apply", "web-frontend", "--env", "local", "--auto-approve")
    assert blocked.code == 3 and f"ecrctl unlock local {lock_id}" in blocked.stderr
    # ecrctl never unlocks on its own; without a terminal it wants --yes.
    asked = cli(capsys, "unlock", "local", lock_id)
    assert asked.code == 1 and "--yes" in asked.stderr
    wrong = cli(capsys, "unlock", "local", "00000000-0000-0000-0000-000000000000", "--yes")
    assert wrong.code == 3
    assert cli(capsys, "unlock", "local", lock_id, "--yes").code == 0
    done = cli(capsys, "apply", "web-frontend", "--env", "local", "--auto-approve")
    assert done.code == 0, done.stderr
    assert names(aws) == ["web-frontend"]


def test_drift_reports_unmanaged_missing_and_changed_repositories(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    create(capsys, "web-frontend", owner="app-team-web")
    create(capsys, "search-api", owner="app-team-web")
    applied = cli(capsys, "apply", "web-frontend", "search-api", "--env", "local", "--auto-approve")
    assert applied.code == 0, applied.stderr
    clean = cli(capsys, "drift", "--env", "local", "--output", "json")
    assert clean.code == 0, clean.stderr
    assert json.loads(clean.stdout)["drift"] is False

    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName="rogue-images")  # made by hand, unmanaged
    ecr.delete_repository(repositoryName="search-api", force=True)  # a managed one deleted
    ecr.put_image_tag_mutability(repositoryName="web-frontend", imageTagMutability="IMMUTABLE")
    drifted = cli(capsys, "drift", "--env", "local", "--output", "json")
    assert drifted.code == 4, drifted.stderr
    report = json.loads(drifted.stdout)
    found = {(f["kind"], f["repository"]) for f in report["findings"]}
    assert ("unmanaged", "rogue-images") in found
    assert ("missing", "search-api") in found
    assert ("settings", "web-frontend") in found
    assert ("terraform", "search-api") in found and ("terraform", "web-frontend") in found
    assert report["counts"] == {"registry": 2, "state": 2, "tfvars": 2, "catalog": 2}
    text = cli(capsys, "drift", "--env", "local")
    assert text.code == 4 and "rogue-images" in text.stdout
