"""Unit tests run no process: terraform, node, git and ecrctl are faked (pytest-subprocess)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def no_real_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail a unit test that starts a real process; pytest-subprocess's fakes never get here."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(
            "a unit test started a real process: fake it with pytest-subprocess (fp),"
            " or move the test to tests/integration/ (local tools) or tests/e2e/ (emulator)"
        )

    monkeypatch.setattr(subprocess, "_USE_POSIX_SPAWN", False)
    monkeypatch.setattr(subprocess, "_fork_exec", refuse)
