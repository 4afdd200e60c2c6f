"""The Makefile's own targets, run by make in a scratch copy of the repository."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

from tests.helpers import REPO, build_repo_tree, free_port

BIN = REPO / ".venv" / "bin"


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_make_clean_stops_the_demo_emulator_before_deleting_its_record(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    clone.mkdir()
    shutil.copy(REPO / "Makefile", clone / "Makefile")
    shutil.copytree(REPO / "scripts", clone / "scripts")
    (clone / ".venv").symlink_to(REPO / ".venv")
    demo = build_repo_tree(clone / ".ecrctl" / "demo")
    port = free_port()
    environ = {**os.environ, "ECRCTL_ROOT": str(demo)}
    environ.pop("ECRCTL_LOCAL_ENDPOINT", None)
    up = subprocess.run(
        [str(BIN / "ecrctl"), "local", "up", "--port", str(port), "--output", "json"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert up.returncode == 0, up.stderr
    pid = json.loads(up.stdout)["pid"]
    try:
        assert _listening(port)
        environ.pop("ECRCTL_ROOT")
        done = subprocess.run(
            ["make", "-C", str(clone), "clean"],
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert not (clone / ".ecrctl").exists()
        assert not _listening(port), "make clean left the demo emulator listening"
        assert (
            not Path(f"/proc/{pid}").exists()
            or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        )
    finally:
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, 9)
