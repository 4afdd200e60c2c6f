"""Trust boundaries (issue 23): what a user's tree or a checkout holds is refused in one line.

Each case here is something a checkout, a careless hand or another program can leave in the
tree; ecrctl answers it with exit 1, one error line and its hint, and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.files.workspace import Workspace
from tests.helpers import cli, snapshot

CREATE = ("create", "trust-svc", "--env", "local", "--owner", "app-team-x", "--risk", "low")


def one_error(err: str, *needles: str) -> str:
    """The error's first line, after checking it is one line and a hint, with each needle."""
    lines = err.rstrip("\n").splitlines()
    assert len(lines) == 2 and lines[0].startswith("ecrctl: error: "), err
    assert lines[1].startswith("  hint: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return lines[0]


# -- item 8: an unusable .ecrctl/files.lock -----------------------------------------------------


def _lock_is_a_directory(root: Path) -> str:
    (root / ".ecrctl" / "files.lock").mkdir(parents=True)
    return "rm -r " + str(root / ".ecrctl" / "files.lock")


def _lock_is_a_symlink(root: Path) -> str:
    (root / ".ecrctl").mkdir()
    (root / ".ecrctl" / "files.lock").symlink_to(root / "elsewhere")
    return "rm -r " + str(root / ".ecrctl" / "files.lock")


def _state_dir_is_a_file(root: Path) -> str:
    (root / ".ecrctl").write_text("")
    return "rm -r " + str(root / ".ecrctl")


@pytest.mark.parametrize(
    "damage",
    [_lock_is_a_directory, _lock_is_a_symlink, _state_dir_is_a_file],
    ids=lambda f: f.__name__,
)
def test_an_unusable_lock_file_is_exit_1_naming_what_to_remove(
    repo: Workspace, capsys: pytest.CaptureFixture[str], damage: Callable[[Path], str]
) -> None:
    remove = damage(repo.root)
    before = snapshot(repo.root)
    result = cli(capsys, *CREATE)
    assert result.code == 1, result.stderr
    one_error(result.stderr, "files.lock", remove)
    assert snapshot(repo.root) == before
    assert not (repo.root / "elsewhere").exists()  # the symlink was not followed
