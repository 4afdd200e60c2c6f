"""`python -m tests.crash_driver ARGS...`: ecrctl ARGS with the crash fakes, killed at a write step.

With ECRCTL_TEST_KILL_AT=N the process sends itself SIGKILL just before the N-th step that
changes the managed files: a rename onto a file under catalog/ or envs/ or onto .ecrctl/journal,
or the journal's removal. Killed before step 1 nothing was written; before the journal's rename
(its first step) the journal is not there yet; between two renames the files are split; before
the removal every file is new and the journal is still there. A run with fewer steps than N
finishes normally: that is how a test knows it has tried every point.

The hook wraps os.replace and os.unlink in this process only: ecrctl has no test hook of its own.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

KILL_AT = "ECRCTL_TEST_KILL_AT"


def _arm(root: Path, kill_at: int) -> None:
    managed = (str(root / "catalog") + os.sep, str(root / "envs") + os.sep)
    journal = str(root / ".ecrctl" / "journal")
    steps = 0
    real_replace, real_unlink = os.replace, os.unlink

    def step() -> None:
        nonlocal steps
        steps += 1
        if steps == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        target = os.fspath(dst)
        if target.startswith(managed) or target == journal:
            step()
        real_replace(src, dst, *args, **kwargs)

    def unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        if os.fspath(path) == journal:
            step()
        real_unlink(path, *args, **kwargs)

    os.replace = replace  # type: ignore[assignment]
    os.unlink = unlink  # type: ignore[assignment]


def main() -> int:
    from orchestrator.cli import run
    from tests import crash_fakes

    crash_fakes.install(setattr)
    if os.environ.get(KILL_AT):
        _arm(Path(os.environ["ECRCTL_ROOT"]).resolve(), int(os.environ[KILL_AT]))
    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
