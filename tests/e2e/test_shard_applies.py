"""CI's apply jobs on a sharded environment, run the way runners run them: real `ecrctl ci
apply` processes with the command line of .github/workflows/ecr-auto-apply.yml, each in its own
checkout of the merge it applies, with its pair's reviewed record where `gh run download` puts
it. Two merges in different shards apply side by side, each holding only its shard's lock; the
registry state's job waits for a lock held outside its concurrency group (a person's apply at
terraform's prompt), and without a lock timeout fails naming that lock and writes nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator.context import Session
from orchestrator.files import entry_cache
from orchestrator.files.workspace import Workspace
from orchestrator.ops.plan import REGISTRY_TARGETS
from orchestrator.rules import shards
from tests.conftest import Aws
from tests.e2e.holders import lock_holder
from tests.gitrepo import ci_plan, commit, event, git, init_repo, merge_pull_request
from tests.helpers import cli, create

BUCKET = "ecrctl-local-tfstate"
REGISTRY_KEY = "ecr/local/registry/terraform.tfstate"
PLANNING_REGISTRY = "terraform plan (local/registry)"  # a job's progress line


def _shard_key(shard: int) -> str:
    return f"ecr/local/shards/{shard:02d}/terraform.tfstate"


def _objects(aws: Aws) -> dict[str, str]:
    """key -> ETag of every object under the environment's prefix (states and locks)."""
    listed = aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="ecr/local/")
    return {o["Key"]: o["ETag"] for o in listed.get("Contents", [])}


def _state(aws: Aws, key: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    )
    return found


def _merged(
    ws: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    risk: str,
    number: int,
) -> tuple[str, list[str], Path]:
    """A pull request adding NAME, branched from development, planned one job per pair as
    ecr-plan.yml plans it, then merged. Returns the merge commit, the pairs that the apply
    workflow's `changes` job finds in it, and the pull request's directory (its event file and,
    under plans/STATE/, each plan job's artifact)."""
    pr = tmp_path / f"pr-{number}"
    pr.mkdir()
    branch = f"ecr/{name}"
    git(ws, "checkout", "-q", "-b", branch, "development")
    create(capsys, name, risk=risk)
    head = commit(ws, f"ECR request: {name}")
    event(pr, monkeypatch, head, number=number)
    changes = cli(capsys, "ci", "changes", "--base", "development", "--output", "json")
    assert changes.code == 0, changes.stderr
    for pair in json.loads(changes.stdout)["states"]:
        out = ["--out-dir", str(pr / "plans" / pair["state"]), "--lock-timeout", "5m"]
        ci_plan(capsys, None, "--env", "local", "--state", pair["state"], *out)
    merge = merge_pull_request(ws, pr, monkeypatch, head, branch=branch, number=number)
    merged = cli(capsys, "ci", "changes", "--base", f"{merge}^1", "--head", merge, "-o", "json")
    assert merged.code == 0, merged.stderr
    return merge, [p["state"] for p in json.loads(merged.stdout)["states"]], pr


def _runner(ws: Workspace, tmp_path: Path, merge: str, pr: Path, state: str) -> Path:
    """A runner's checkout of the merge commit, with its pair's artifact in reviewed/."""
    root = tmp_path / f"runner-{merge[:8]}-{state}"
    git(ws, "clone", "-q", "--no-checkout", str(ws.root), str(root))
    subprocess.run(["git", "checkout", "-q", merge], cwd=root, check=True)
    (root / "reviewed").mkdir()
    shutil.copy(pr / "plans" / state / f"plan-local.{state}.json", root / "reviewed")
    return root


class Job:
    """`ecrctl ci apply` of one (environment, state) pair as ecr-auto-apply.yml runs it."""

    def __init__(
        self, root: Path, merge: str, pr: Path, state: str, lock_timeout: str | None = "15m"
    ) -> None:
        self.root = root
        self.out = (root.parent / f"{root.name}.out").open("w+")
        self.err = (root.parent / f"{root.name}.err").open("w+")
        waits = ["--lock-timeout", lock_timeout] if lock_timeout else []
        command = ["ci", "apply", "--base", f"{merge}^1", "--head", merge]
        command += ["--env", "local", "--state", state, *waits, "--reviewed", "reviewed"]
        environ = {
            **os.environ,
            "ECRCTL_ROOT": str(root),
            "GITHUB_EVENT_PATH": str(pr / "event.json"),
            entry_cache.CACHE_DIR_VARIABLE: str(root / ".ecrctl" / "cache"),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", *command],
            cwd=root,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=self.out,
            stderr=self.err,
            text=True,
        )

    def running(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        self.err.seek(0)
        return self.err.read()

    def reached(self, line: str, timeout: float = 120) -> float:
        """When (time.monotonic) the job's progress showed `line`; fails if it never does."""
        deadline = time.monotonic() + timeout
        while line not in self.stderr():
            assert self.running() and time.monotonic() < deadline, self.stderr()
            time.sleep(0.05)
        return time.monotonic()

    def finish(self, timeout: float = 300) -> tuple[int, str, str]:
        """Exit code, stdout and stderr of the job, once it ended."""
        code = self.proc.wait(timeout=timeout)
        self.out.seek(0)
        done = (code, self.out.read(), self.stderr())
        self.out.close()
        self.err.close()
        return done


def test_merges_in_two_shards_apply_side_by_side_and_the_registry_state_waits_for_its_lock(
    local: Workspace,
    aws: Aws,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ecr = aws.client("ecr")
    tfvars = local.tfvars_file("local")
    tfvars.write_text(
        tfvars.read_text().replace("\necr_repositories =", "\nstate_shards = 4\necr_repositories =")
    )
    init_repo(local)

    # Two merges of the low tier (scanned on push: the registry's filters do not move), in
    # shards 0 and 2. The second pull request was opened once the first was merged (both add
    # to the same two files), and is merged before the first one's apply job has run.
    merge_a, pairs_a, pr_a = _merged(local, tmp_path, monkeypatch, capsys, "web-frontend", "low", 1)
    merge_b, pairs_b, pr_b = _merged(local, tmp_path, monkeypatch, capsys, "user-api", "low", 2)
    assert (pairs_a, pairs_b) == (["shard-00"], ["shard-02"])
    jobs = {
        state: Job(_runner(local, tmp_path, merge, pr, state), merge, pr, state)
        for state, merge, pr in (("shard-00", merge_a, pr_a), ("shard-02", merge_b, pr_b))
    }
    # Which lock objects exist while which job is still running (a job running after the listing
    # was running during it: both started before).
    seen: list[tuple[set[str], set[str]]] = []
    deadline = time.monotonic() + 300
    while any(job.running() for job in jobs.values()) and time.monotonic() < deadline:
        locks = {k.removesuffix(".tflock") for k in _objects(aws) if k.endswith(".tflock")}
        seen.append((locks, {state for state, job in jobs.items() if job.running()}))
        time.sleep(0.05)
    done = {state: job.finish() for state, job in jobs.items()}
    for state, (code, out, err) in done.items():
        assert code == 0, f"{state}: {out}{err}"
        assert f"local/{state}: applied" in out, out
    # Each job held its shard's lock while the other job was running: neither waited for the
    # other, and neither touched the registry state.
    assert any(_shard_key(0) in locks and "shard-02" in running for locks, running in seen)
    assert any(_shard_key(2) in locks and "shard-00" in running for locks, running in seen)
    assert all(REGISTRY_KEY not in locks for locks, _ in seen)
    names = sorted(r["repositoryName"] for r in ecr.describe_repositories()["repositories"])
    assert names == ["user-api", "web-frontend"]
    assert shards.held_repositories(_state(aws, _shard_key(0))) == {"web-frontend"}
    assert shards.held_repositories(_state(aws, _shard_key(2))) == {"user-api"}
    assert not [k for k in _objects(aws) if k.endswith(".tflock")]

    # A third merge moves the registry's scanning filters (the medium tier scans continuously):
    # its shard's job applies first, then the registry state's job. Meanwhile a person applies
    # the registry state of development from their own checkout (outside the workflow's
    # concurrency group) and sits at terraform's prompt, holding the registry state's lock.
    merge_c, pairs_c, pr_c = _merged(
        local, tmp_path, monkeypatch, capsys, "billing-api", "medium", 3
    )
    assert pairs_c == ["registry", "shard-03"]
    scanning = ecr.get_registry_scanning_configuration()["scanningConfiguration"]
    registry_object = _objects(aws).get(REGISTRY_KEY)  # the registry state as it is (if any)
    shard_job = Job(_runner(local, tmp_path, merge_c, pr_c, "shard-03"), merge_c, pr_c, "shard-03")
    registry_runner = _runner(local, tmp_path, merge_c, pr_c, "registry")
    laptop = Workspace(tmp_path / "laptop")
    git(local, "clone", "-q", str(local.root), str(laptop.root))
    registry = Session(laptop).at("local").registry_state
    with lock_holder(laptop, *REGISTRY_TARGETS, state=registry) as holder:
        code, out, err = shard_job.finish()  # the registry state's lock holds no shard back
        assert code == 0, out + err
        lock = json.loads(
            aws.client("s3").get_object(Bucket=BUCKET, Key=f"{REGISTRY_KEY}.tflock")["Body"].read()
        )
        # Without a lock timeout the job fails at once: one line naming the lock and how to
        # release it (only if that run died); nothing applied, nothing written.
        failing = Job(registry_runner, merge_c, pr_c, "registry", None)
        planning = failing.reached(PLANNING_REGISTRY)
        code, out, err = failing.finish()
        failed_after = time.monotonic() - planning
        assert code == 3, out + err
        assert "Traceback" not in err
        errors = [line for line in err.splitlines() if line.startswith("ecrctl: error:")]
        assert len(errors) == 1, err
        assert f"the state lock is held by {lock['Who']}, apply, since " in errors[0]
        assert errors[0].endswith(f" (lock ID {lock['ID']})"), errors[0]
        assert f"ecrctl unlock local {lock['ID']} --state registry" in err
        assert "--lock-timeout" in err
        assert _objects(aws).get(REGISTRY_KEY) == registry_object
        assert ecr.get_registry_scanning_configuration()["scanningConfiguration"] == scanning
        status = ["git", "status", "--porcelain", "--", "catalog", "envs"]
        assert subprocess.run(status, cwd=registry_runner, capture_output=True).stdout == b""
        # With the workflow's --lock-timeout 15m it waits, well past the moment the job above
        # had failed, and applies once the person declines and terraform releases the lock.
        waiting = Job(registry_runner, merge_c, pr_c, "registry")
        waiting.reached(PLANNING_REGISTRY)
        time.sleep(2 * failed_after + 2)
        assert waiting.running(), waiting.finish()
        assert _objects(aws).get(REGISTRY_KEY) == registry_object
        assert holder.answer("no") != 0
    code, out, err = waiting.finish()
    assert code == 0, out + err
    assert "local/registry: applied 1 change(s)" in out, out
    after = ecr.get_registry_scanning_configuration()["scanningConfiguration"]
    continuous = [r for r in after["rules"] if r["scanFrequency"] == "CONTINUOUS_SCAN"]
    assert [f["filter"] for r in continuous for f in r["repositoryFilters"]] == ["billing-api*"]
    assert shards.holds_registry_resources(_state(aws, REGISTRY_KEY))
    assert not [k for k in _objects(aws) if k.endswith(".tflock")]
