"""kill -9 during `ecrctl shards migrate`, then the rerun: a real SIGKILL at every write point.

The migration runs as its own ecrctl process, with a test-only sitecustomize.py (on that
process's PYTHONPATH only: ecrctl has no test hook) that counts its durable writes, each S3
PutObject or DeleteObject of a state or a lock (adapters/s3_state.Backend) and each rename or
removal of a file under the repository (the migration's plan, the backups, the tfvars), and
sends the process SIGKILL right after the k-th: no finally block runs, no lock is released,
every file and object stays as it was at that instant. A run with fewer writes than k finishes:
that is how the loop knows it has tried every point. After each kill the command of the runbook
(RB-0029, section 4) is run again: the same count finishes the migration, the former count rolls
it back (once itself killed mid-way, then finished). After each, every repository and the
registry's resources are in exactly one state, the right one, with the attributes they had; no
lock is held; ECR is unchanged. At the end one full plan of every state is empty.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from orchestrator.context import Session
from orchestrator.errors import UserError
from orchestrator.files import entry_cache
from orchestrator.files.workspace import Workspace
from orchestrator.ops import layout
from orchestrator.rules import shards
from tests.adversarial import ECRCTL, ecrctl_env
from tests.conftest import Aws
from tests.e2e.test_shards import BUCKET, MAIN_KEY, _full_plans
from tests.helpers import cli, create, push

KILL_AFTER = "ECRCTL_TEST_KILL_AFTER"
WRITES_LOG = "ECRCTL_TEST_WRITES_LOG"

# Imported by the migrating process at its start (site.py), from its PYTHONPATH only.
SITECUSTOMIZE = '''
"""Test only: SIGKILL this process right after its k-th durable write."""
import os
import signal

from orchestrator.adapters import s3_state

_after = int(os.environ["ECRCTL_TEST_KILL_AFTER"])
_log = os.environ["ECRCTL_TEST_WRITES_LOG"]
_root = os.path.realpath(os.environ["ECRCTL_ROOT"]) + os.sep
_count = 0


def _wrote(what):
    global _count
    _count += 1
    with open(_log, "a", encoding="utf-8") as handle:
        handle.write(f"{_count} {what}\\n")
    if _count == _after:
        os.kill(os.getpid(), signal.SIGKILL)


def _local(path):
    where = os.path.realpath(os.fspath(path))
    return where.startswith(_root) and not where.endswith(".tmp")


_replace, _unlink = os.replace, os.unlink


def replace(src, dst, *args, **kwargs):
    _replace(src, dst, *args, **kwargs)
    if _local(dst):
        _wrote("rename " + os.path.relpath(os.fspath(dst), _root))


def unlink(path, *args, **kwargs):
    _unlink(path, *args, **kwargs)
    if _local(path):
        _wrote("remove " + os.path.relpath(os.fspath(path), _root))


os.replace, os.unlink = replace, unlink
_put, _lock, _unlock = s3_state.Backend.put, s3_state.Backend.lock, s3_state.Backend.unlock


def put(self, key, text):
    _put(self, key, text)
    _wrote("put " + key)


def lock(self, key, info):
    taken = _lock(self, key, info)
    if taken:
        _wrote("lock " + key)
    return taken


def unlock(self, key):
    _unlock(self, key)
    _wrote("unlock " + key)


s3_state.Backend.put, s3_state.Backend.lock, s3_state.Backend.unlock = put, lock, unlock
'''

NAMES = ["payments-gateway", "search-api", "user-api"]  # shards 1, 0, 0 of 2


def _ecr(ecr: Any) -> dict[str, tuple[str, str, list[str]]]:
    """name -> (ARN, creation time, image digests) of every repository the emulator holds."""
    return {
        r["repositoryName"]: (
            r["repositoryArn"],
            str(r["createdAt"]),
            sorted(
                i["imageDigest"]
                for i in ecr.list_images(repositoryName=r["repositoryName"])["imageIds"]
            ),
        )
        for r in ecr.describe_repositories()["repositories"]
    }


def _objects(s3: Any) -> dict[str, bytes]:
    """Every object of `local` in the state bucket (states and locks), by key."""
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="ecr/local/").get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def _managed(state: dict[str, Any]) -> dict[str, str]:
    """address -> the resource's JSON, for every managed resource of `state`."""
    return {
        f"{r.get('module', '')}{r['type']}.{r['name']}": json.dumps(r, sort_keys=True)
        for r in state.get("resources") or []
        if r.get("mode") == "managed"
    }


def _where(address: str, count: int) -> str:
    """The key of the state that must hold `address` with `count` shards."""
    name = next((n for n in NAMES if f'["{n}"]' in address), None)
    if name is None:  # the registry-wide resources
        return shards.states(MAIN_KEY, count)[0].key
    return shards.state_of(name, MAIN_KEY, count).key


class Migrations:
    """The killed runs and the reruns against one workspace, and what each must keep."""

    def __init__(
        self, ws: Workspace, aws: Aws, endpoint: str, tmp: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.ws, self.capsys = ws, capsys
        self.s3, self.ecr = aws.client("s3"), aws.client("ecr")
        hook = tmp / "hook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
        self.log = tmp / "writes.log"
        path = os.pathsep.join([str(hook), *filter(None, [os.environ.get("PYTHONPATH")])])
        self.environ = ecrctl_env(ws.root, endpoint, PYTHONPATH=path)
        self.environ[WRITES_LOG] = str(self.log)
        cache = entry_cache.CACHE_DIR_VARIABLE
        self.environ[cache] = os.environ[cache]
        self.resources = {
            address: resource
            for state in self._states().values()
            for address, resource in _managed(state).items()
        }
        self.registry = _ecr(self.ecr)
        self.history: list[str] = []

    def killed(self, to: int, after: int) -> bool:
        """`ecrctl shards migrate --to TO` in its own process, SIGKILLed right after its
        `after`-th write; False when it finished first (it has fewer writes)."""
        self.log.unlink(missing_ok=True)
        proc = subprocess.run(
            [ECRCTL, "shards", "migrate", "--env", "local", "--to", str(to), "--yes"],
            env={**self.environ, KILL_AFTER: str(after)},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        writes = self.log.read_text().splitlines() if self.log.exists() else []
        if proc.returncode == 0:
            assert len(writes) < after, writes
            self.history.append(f"--to {to}: finished after {len(writes)} writes")
            return False
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        self.history.append(f"--to {to}: killed after write {writes[-1]}")
        if self.unfinished():  # every plan of the environment is refused meanwhile
            with pytest.raises(UserError, match="migration of local is unfinished"):
                layout.check(Session(self.ws).at("local"), [])
        return True

    def migrate(self, to: int) -> dict[str, Any]:
        """`ecrctl shards migrate --to TO` (in this process): after a kill, the runbook's rerun,
        which finishes the migration or, with the former count, rolls it back. Killed after its
        last write (its plan removed), the migration had finished: the rerun says so."""
        done = not self.unfinished() and Session(self.ws).at("local").shards == to
        result = cli(
            self.capsys, "shards", "migrate", "--env", "local", "--to", str(to), "--yes",
            "-o", "json",
        )  # fmt: skip
        self.history.append(f"migrate --to {to}: exit {result.code} {result.stderr.strip()}")
        if done:
            assert result.code == 1, self.story()
            assert f"already sets state_shards = {to}" in result.stderr, self.story()
            return {"rolled_back": False}
        assert result.code == 0, self.story()
        found: dict[str, Any] = json.loads(result.stdout)
        return found

    def unfinished(self) -> bool:
        return layout.migration_file(self.ws, "local").exists()

    def story(self) -> str:
        return "what ran:\n" + "\n".join(self.history[-5:])

    def _states(self) -> dict[str, dict[str, Any]]:
        objects = _objects(self.s3)
        return {k: json.loads(v or b"{}") for k, v in objects.items() if k.endswith(".tfstate")}

    def check(self, count: int) -> None:
        """What a user relies on once the rerun is done, with `count` shards."""
        story = self.story()
        assert not self.unfinished(), story
        assert Session(self.ws).at("local").shards == count, story
        objects = _objects(self.s3)
        assert not [k for k in objects if k.endswith(".tflock")], f"locks left held; {story}"
        held: dict[str, list[str]] = {}
        for key, body in objects.items():
            for address, resource in _managed(json.loads(body or b"{}")).items():
                held.setdefault(address, []).append(key)
                assert resource == self.resources.get(address), f"{address} in {key}; {story}"
        wanted = {address: [_where(address, count)] for address in self.resources}
        assert held == wanted, f"each resource in exactly one state, the right one; {story}"
        assert _ecr(self.ecr) == self.registry, story


def _kill_everywhere(runs: Migrations) -> int:
    """1 -> 2 killed after its 1st, 2nd, ... write until a run finishes, each kill followed by
    the rerun that finishes it; every third by the rerun with the former count that rolls it
    back instead, and every sixth by a rollback itself killed (after its 2nd, 4th, 6th...
    write), then finished forward after all. After each, back to one state for the next kill.
    Ends on 2 shards; returns how many write points were tried."""
    after = 1
    while runs.killed(2, after):
        if after % 6 == 0 and runs.unfinished():
            runs.killed(1, after // 3)
            runs.migrate(2)
        elif after % 3 == 0 and runs.unfinished():
            assert runs.migrate(1)["rolled_back"], runs.story()
            runs.check(1)
            after += 1
            continue
        else:
            runs.migrate(2)
        runs.check(2)
        runs.migrate(1)
        after += 1
    runs.check(2)
    return after


def test_kill_9_at_every_write_of_a_migration_then_the_rerun_finishes_or_rolls_it_back(
    local: Workspace,
    aws: Aws,
    emulator_endpoint: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """Three repositories of two tiers, with images, applied on one state; `shards migrate
    --to 2` killed by SIGKILL after each of its writes in turn (_kill_everywhere), each kill
    followed by the rerun RB-0029 names; at the end one full plan of every state is empty."""
    ecr = aws.client("ecr")
    create(capsys, "payments-gateway", risk="medium")
    create(capsys, "search-api")
    create(capsys, "user-api")
    assert cli(capsys, "apply", *NAMES, "--env", "local", "--auto-approve").code == 0
    for name in NAMES:
        push(ecr, name, name, "v1")
    runs = Migrations(local, aws, emulator_endpoint, tmp_path, capsys)
    assert {_where(address, 2) for address in runs.resources} == {  # all three states used
        "ecr/local/registry/terraform.tfstate",
        "ecr/local/shards/00/terraform.tfstate",
        "ecr/local/shards/01/terraform.tfstate",
    }

    points = _kill_everywhere(runs)
    assert points > 20, runs.history  # every lock, state and file write was hit
    assert _full_plans(local) == {"registry": [], "shard-00": [], "shard-01": []}
    assert _ecr(runs.ecr) == runs.registry
