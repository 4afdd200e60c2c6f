"""A sharded environment's pull request through the workflows: one plan job per (environment,
state) and one comment listing every pair's plan and fingerprint; on merge one apply job per
shard, then the registry state's apply, and the emulator holds both repositories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import create_args
from tests.workflows.harness import GitHub, bucket

# In 4 shards (sha256 of the name mod 4): web-frontend in shard 0, billing-api in shard 3; the
# medium tier scans continuously, so the registry's scanning filters move too.
REQUESTS = (("web-frontend", "low"), ("billing-api", "medium"))
PAIRS = ("registry", "shard-00", "shard-03")


def _shard_dev(root: Path) -> None:
    tfvars = root / "envs" / "dev" / "terraform.tfvars"
    text = tfvars.read_text()
    assert "\necr_repositories =" in text and "state_shards" not in text
    tfvars.write_text(
        text.replace("\necr_repositories =", "\nstate_shards = 4\necr_repositories =")
    )


def _request_both(root: Path) -> None:
    for name, risk in REQUESTS:
        done = subprocess.run(
            [sys.executable, "-m", "orchestrator", *create_args(name, env="dev", risk=risk)],
            cwd=root,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr


def test_a_pull_request_touching_two_shards_plans_and_applies_one_job_per_state(
    github: GitHub,
) -> None:
    # dev split into 4 shards before anything was applied (as a new environment would be).
    github.commit_on("development", "dev: 4 state shards", _shard_dev)
    github.commit_on("two-shards", "ECR request: web-frontend, billing-api", _request_both)
    pr = github.open_pull_request("two-shards", 21, ["ecr-registry"])

    plan = github.pull_request("ecr-plan.yml", pr)
    assert plan.code == 0, plan.log
    assert plan.jobs() == {
        "What the change asks for": "succeeded",
        **{f"Plan dev {state}": "succeeded" for state in PAIRS},
        "PR comment": "succeeded",
    }
    # act reports one result for all legs: each leg's own step tells them apart.
    for state in PAIRS:
        assert plan.steps(f"Plan dev {state}")["ecrctl ci plan"] == "success"
    records = {
        state: json.loads(
            (plan.artifacts()[f"ecr-plan-dev-{state}"] / f"plan-dev.{state}.json").read_text()
        )
        for state in PAIRS
    }
    assert {s: [e["name"] for e in r["entries"]] for s, r in records.items()} == {
        "registry": [],
        "shard-00": ["web-frontend"],
        "shard-03": ["billing-api"],
    }
    assert [c["address"] for c in records["registry"]["changes"]] == [
        "aws_ecr_registry_scanning_configuration.this[0]"
    ]
    comment = github.comment(pr.number, "ecrctl-plan")
    assert comment and "in 1 environment(s), 3 state(s)" in comment, comment
    for state, record in records.items():
        assert f"#### `dev/{state}`" in comment and record["fingerprint"] in comment
    assert "`web-frontend`" in comment and "`billing-api`" in comment

    merge = github.merge(pr)
    apply = github.closed("ecr-auto-apply.yml", pr, merge)
    assert apply.code == 0, apply.log
    assert apply.jobs() == {
        "What was merged": "succeeded",
        "Apply dev shard-00": "succeeded",
        "Apply dev shard-03": "succeeded",
        "Apply dev registry": "succeeded",
        "Catalog sync dev/ECR Backstage sync/Sync dev": "succeeded",
    }
    # The registry state's job starts only after both shards' applies finished.
    lines = apply.log.splitlines()
    registry_start = min(i for i, line in enumerate(lines) if "/Apply dev registry" in line)
    for state in ("shard-00", "shard-03"):
        assert f"dev/{state}: applied" in apply.job_log(f"Apply dev {state}")
        done = max(i for i, line in enumerate(lines) if f"/Apply dev {state}" in line)
        assert done < registry_start
    for state in PAIRS:
        download = ["--name", f"ecr-plan-dev-{state}", "--dir", "reviewed"]
        assert any(c[-4:] == download for c in github.gh_calls()), github.gh_calls()

    found = github.aws("ecr").describe_repositories()["repositories"]
    assert sorted(r["repositoryName"] for r in found) == ["billing-api", "web-frontend"]
    keys = {
        o["Key"] for o in github.aws("s3").list_objects_v2(Bucket=bucket("dev")).get("Contents", [])
    }
    assert {
        "ecr/dev/registry/terraform.tfstate",
        "ecr/dev/shards/00/terraform.tfstate",
        "ecr/dev/shards/03/terraform.tfstate",
    } <= keys
    assert "ecr/dev/terraform.tfstate" not in keys
