"""Trust boundaries (issue 23) that need a real process: `ecrctl local down` stops only its own.

No emulator runs here: the processes are stand-ins (a `sleep`, and a Python process whose
command line is the emulator's), so what is checked is whom ecrctl signals, not moto.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.files.workspace import Workspace
from tests.adversarial import free_port, wait_for
from tests.helpers import cli

IDLE = "import time; time.sleep(300)"


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; each is killed at the end if it still runs."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _record(ws: Workspace, pid: int, port: int) -> Path:
    path = ws.state_dir / "local" / "emulator.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    endpoint = f"http://127.0.0.1:{port}"
    path.write_text(json.dumps({"pid": pid, "port": port, "endpoint": endpoint, "log": None}))
    return path


def _stand_in(started: list[subprocess.Popen[bytes]], *arguments: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", IDLE, *arguments])
    started.append(proc)
    return proc


@pytest.mark.parametrize("kind", ["another program", "moto on another port", "no moto"])
def test_local_down_refuses_a_pid_that_is_not_its_emulator(
    repo: Workspace,
    capsys: pytest.CaptureFixture[str],
    processes: list[subprocess.Popen[bytes]],
    kind: str,
) -> None:
    port = free_port()
    if kind == "another program":
        victim = _stand_in(processes)
    elif kind == "moto on another port":
        victim = _stand_in(processes, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port + 1))
    else:
        victim = _stand_in(processes, "-m", "not.moto", "-H", "127.0.0.1", "-p", str(port))
    record = _record(repo, victim.pid, port)
    result = cli(capsys, "local", "down")
    assert result.code == 1, result.stderr
    lines = result.stderr.rstrip("\n").splitlines()
    assert len(lines) == 2 and lines[1].startswith("  hint: "), result.stderr
    assert f"pid {victim.pid}" in lines[0] and "nothing was stopped" in lines[0]
    assert ".ecrctl/local/emulator.json" in lines[1]
    assert victim.poll() is None  # not signalled
    assert record.exists()  # nothing removed
    status = cli(capsys, "local", "status")
    assert status.code == 1 and "not running" in status.stdout


def test_local_down_stops_the_emulator_it_started(
    repo: Workspace, capsys: pytest.CaptureFixture[str], processes: list[subprocess.Popen[bytes]]
) -> None:
    port = free_port()
    # The command line `ecrctl local up` gives moto, ending as it does.
    emulator = _stand_in(processes, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port))
    # Reaped as soon as it exits, as the real one is (its ecrctl parent is long gone): a zombie
    # child of this test would look alive to `local down` for its whole wait.
    threading.Thread(target=emulator.wait, daemon=True).start()
    record = _record(repo, emulator.pid, port)
    result = cli(capsys, "local", "down")
    assert result.code == 0, result.stderr
    assert f"stopped the local emulator (pid {emulator.pid})" in result.stdout
    assert wait_for(lambda: emulator.poll() is not None, 10)
    assert not record.exists()
