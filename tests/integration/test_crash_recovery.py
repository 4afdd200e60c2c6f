"""kill -9 at every write step of every writing command; the next command, any command, repairs.

Each command runs in its own process (tests/crash_driver.py) that sends itself SIGKILL just before
its N-th write step (a rename onto a managed file or the journal, the journal's removal), for
N = 1, 2, ... until a run finishes: every point of the write is tried, in order. After each kill
`ecrctl validate` runs (in this process, through the CLI, with the same fakes): it must pass, say
in one stderr line what it repaired when a journal was left, leave no journal, and leave the
files either all as before the command or all as the uninterrupted run writes them. Then the
command runs again and must end with exactly the files of the uninterrupted run.

decommission, restore, adopt and catalog sync need terraform and AWS: the driver and this test
use tests/crash_fakes.py (an empty state and registry, one repository to adopt, a state for the
sync), with a fixed clock so that every run writes the same bytes.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.files.workspace import Workspace
from tests import crash_fakes
from tests.adversarial import ecrctl_env
from tests.helpers import cli
from tests.sync_fakes import ECRCTL_PRIMARY, GROUPS, repository, state

REPO = Path(__file__).resolve().parents[2]
ENV = "local"
NAME = "crash-svc"
CREATE = ["create", NAME, "--env", ENV, "--owner", "app-team-core", "--risk", "low"]
DECOMMISSION = ["decommission", NAME, "--env", ENV, "--auto-approve", "--reason", "gone"]
BACKUPS = "backups"

Files = dict[str, bytes]


def managed(root: Path) -> Files:
    """Every file under catalog/ and envs/ (a killed write's temporary file left out)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for top in ("catalog", "envs")
        for p in sorted((root / top).rglob("*"))
        if p.is_file() and not p.name.endswith(".tmp")
    }


def put_back(root: Path, files: Files) -> None:
    """The tree as `files` says (what a command added removed), and no journal."""
    for top in ("catalog", "envs"):
        shutil.rmtree(root / top)
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / ".ecrctl" / "journal").unlink(missing_ok=True)


@pytest.fixture
def crashing(repo: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The fakes in this process, and the environment of the driver's."""
    crash_fakes.install(monkeypatch.setattr)
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", ECRCTL_PRIMARY, GROUPS):
        monkeypatch.delenv(key, raising=False)
    endpoint = "http://127.0.0.1:9"  # never reached: the fakes stand in
    state_file = tmp_path / "state.json"
    state_file.write_text("{}")
    extra = {
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        crash_fakes.STATE_VARIABLE: str(state_file),
        "PYTHONPATH": str(REPO),
    }
    for key, value in extra.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ECRCTL_LOCAL_ENDPOINT", endpoint)
    return ecrctl_env(repo.root, endpoint, **extra)


def _ok(capsys: pytest.CaptureFixture[str], *args: str) -> None:
    result = cli(capsys, *args)
    assert result.code == 0, result.stderr


def _created(capsys: pytest.CaptureFixture[str], ws: Workspace, env: dict[str, str]) -> None:
    _ok(capsys, *CREATE)


def _deprecated(capsys: pytest.CaptureFixture[str], ws: Workspace, env: dict[str, str]) -> None:
    _ok(capsys, *CREATE)
    _ok(capsys, "deprecate", NAME, "--env", ENV, "--reason", "replaced by crash-svc-2")


def _decommissioned(capsys: pytest.CaptureFixture[str], ws: Workspace, env: dict[str, str]) -> None:
    _ok(capsys, *CREATE)
    _ok(capsys, *DECOMMISSION, "--backup-dir", str(ws.root / BACKUPS))


def _applied(capsys: pytest.CaptureFixture[str], ws: Workspace, env: dict[str, str]) -> None:
    for name, risk in (("web-frontend", "low"), ("payments-gateway", "high")):
        _ok(capsys, "create", name, "--env", ENV, "--owner", "app-team-web", "--risk", risk)
    applied = state(repository("web-frontend"), repository("payments-gateway", risk="high"))
    Path(env[crash_fakes.STATE_VARIABLE]).write_text(json.dumps(applied))


def _bundle(ws: Workspace) -> str:
    (bundle,) = (ws.root / BACKUPS / ENV / NAME).iterdir()
    return str(bundle)


Setup = Callable[[pytest.CaptureFixture[str], Workspace, dict[str, str]], None]
# command: (what is there before it, its arguments, what a rerun after it finished says)
COMMANDS: dict[str, tuple[Setup | None, Callable[[Workspace], list[str]], str | None]] = {
    "create": (None, lambda ws: CREATE, None),
    "update": (
        _created,
        lambda ws: ["update", NAME, "--env", ENV, "--owner", "app-team-pay", "--reason", "moved"],
        None,
    ),
    "deprecate": (
        _created,
        lambda ws: ["deprecate", NAME, "--env", ENV, "--reason", "replaced"],
        None,
    ),
    "reactivate": (_deprecated, lambda ws: ["reactivate", NAME, "--env", ENV], None),
    "decommission": (
        _created,
        lambda ws: [*DECOMMISSION, "--skip-backup"],
        "already decommissioned",
    ),
    "restore": (
        _decommissioned,
        lambda ws: ["restore", _bundle(ws), "--env", ENV, "--auto-approve"],
        None,
    ),
    "adopt": (
        None,
        lambda ws: [
            "adopt",
            crash_fakes.ADOPTED,
            "--env",
            ENV,
            "--owner",
            "app-team-core",
            "--risk",
            "low",
        ],
        None,
    ),
    "catalog sync": (_applied, lambda ws: ["catalog", "sync", "--env", ENV], None),
}


def _driver(env: dict[str, str], args: list[str], kill_at: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.crash_driver", *args],
        env={**env, "ECRCTL_TEST_KILL_AT": str(kill_at)},
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("command", list(COMMANDS))
def test_kill_9_at_every_write_step_is_repaired_by_the_next_command(
    command: str,
    repo: Workspace,
    crashing: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup, arguments, done_before = COMMANDS[command]
    if setup is not None:
        setup(capsys, repo, crashing)
    args = arguments(repo)
    journal = repo.state_dir / "journal"
    before = managed(repo.root)
    killed: list[tuple[int, Files, bool, Files, Files, str]] = []
    started = time.monotonic()
    for kill_at in range(1, 40):
        put_back(repo.root, before)
        run = _driver(crashing, args, kill_at)
        if run.returncode != -signal.SIGKILL:
            assert run.returncode == 0, run.stderr
            assert not journal.exists()
            break
        at_kill, left = managed(repo.root), journal.exists()
        # The next command, here a read-only one, repairs first; it then finds the files valid.
        checked = cli(capsys, "validate")
        assert checked.code == 0, (kill_at, checked.stderr)
        said = [line for line in checked.stderr.splitlines() if "interrupted write" in line]
        assert len(said) == (1 if left else 0), checked.stderr
        assert not journal.exists()
        repaired = managed(repo.root)
        # And the command again: it finishes what was rolled back, or finds it done.
        again = cli(capsys, *args)
        assert again.code == 0 or (done_before and done_before in again.stderr), again.stderr
        assert not journal.exists()
        killed.append((kill_at, at_kill, left, repaired, managed(repo.root), "".join(said)))
    else:
        pytest.fail("the command never finished")
    reference = managed(repo.root)
    assert reference != before
    steps = kill_at - 1
    changed = [n for n in reference if reference[n] != before.get(n)]
    # A commit of k files: the journal's rename, k renames, the journal's removal.
    assert steps == len(changed) + 2, (steps, changed)
    assert len(changed) >= 2, changed
    for n, at_kill, left, repaired, rerun, said in killed:
        # Killed at any step, each file was wholly old or wholly new ...
        for name in {*before, *reference}:
            assert at_kill.get(name) in (before.get(name), reference.get(name)), (n, name)
        # ... and the next command left the files all old or all new, saying which.
        assert repaired in (before, reference), n
        assert left == (1 < n <= steps)
        if n > 2:
            assert repaired == reference and said.endswith("(completed)"), (n, said)
        elif n == 2:
            assert repaired == before and said.endswith("(rolled back: none had been written)")
        else:
            assert repaired == before and not said
        # The rerun ends with exactly what an uninterrupted run writes.
        assert rerun == reference, n
    print(f"{command}: {steps} write steps, killed at each, {time.monotonic() - started:.1f} s")


def test_kill_9_during_the_repair_is_repaired_by_the_command_after(
    repo: Workspace, crashing: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The repair writes too: killed at each of its steps (after an update killed at each of its
    own), the next command still finishes it, and the files end as the update writes them."""
    _created(capsys, repo, crashing)
    _, arguments, _ = COMMANDS["update"]
    args = arguments(repo)
    before = managed(repo.root)
    assert _driver(crashing, args, 99).returncode == 0
    reference = managed(repo.root)
    tried = 0
    for kill_at in (2, 3, 4):  # after the journal, after the catalog's rename, before removal
        for repair_at in range(1, 10):
            put_back(repo.root, before)
            assert _driver(crashing, args, kill_at).returncode == -signal.SIGKILL
            repair = _driver(crashing, ["validate"], repair_at)
            if repair.returncode != -signal.SIGKILL:
                assert repair.returncode == 0, repair.stderr
                assert "interrupted write" in repair.stderr
                break
            tried += 1
            left = managed(repo.root)
            assert all(left[n] in (before[n], reference[n]) for n in reference)
            checked = cli(capsys, "validate")
            assert checked.code == 0, checked.stderr
            assert "interrupted write" in checked.stderr
            assert managed(repo.root) == (before if kill_at == 2 else reference)
            assert not (repo.state_dir / "journal").exists()
    assert tried == 4  # the journal's removal (3 times), the tfvars' rename (once)
