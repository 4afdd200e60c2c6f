"""The journal of an interrupted write (issue 23 item 3): what it repairs, and what it never does.

A journal ecrctl wrote completes a write a crash split, for any command that comes next. A journal
anyone else wrote (a checkout: .ecrctl/ is git-ignored, yet `git add -f` commits it; a copy of the
tree; a cache) writes nothing: it is removed with one line saying so. The kill -9 proof for every
writing command is tests/integration/test_crash_recovery.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import UserError
from orchestrator.files import journal
from orchestrator.files import workspace as workspace_mod
from orchestrator.files.workspace import Workspace, find_workspace
from tests.helpers import cli

CATALOG = "catalog/ecr-catalog.yaml"
TFVARS = "envs/local/terraform.tfvars"
CREATE = ("create", "split-svc", "--env", "local", "--owner", "app-team-x", "--risk", "low")
EVIL = "evil: true\n"


def _texts(ws: Workspace) -> dict[str, str]:
    return {name: (ws.root / name).read_text() for name in (CATALOG, TFVARS)}


@pytest.fixture
def split(repo: Workspace, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, str]]:
    """A create split by a crash: the catalog new, the tfvars old. Returns old and new texts."""
    old = _texts(repo)
    assert cli(capsys, *CREATE).code == 0
    new = _texts(repo)
    (repo.root / TFVARS).write_text(old[TFVARS])
    return {"old": old, "new": new}


def _record(ws: Workspace, files: list[dict[str, Any]], lock: list[int] | None = None) -> None:
    if lock is None:
        lock = journal.lock_identity(os.stat(ws.lock_file))
    record = {"format": journal.FORMAT, "lock": lock, "files": files}
    ws.journal_file.write_text(json.dumps(record))


def _pair(texts: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    return [
        {"path": name, "old": texts["old"][name], "new": texts["new"][name]}
        for name in (CATALOG, TFVARS)
    ]


def _said(err: str) -> str:
    lines = [
        line for line in err.splitlines() if line.startswith("ecrctl: ") and "error" not in line
    ]
    assert len(lines) == 1, err
    return lines[0]


def test_an_interrupted_write_is_completed_by_any_next_command(
    repo: Workspace, split: dict[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _record(repo, _pair(split))
    listed = cli(capsys, "list", "--env", "local")
    assert listed.code == 0, listed.stderr
    assert _said(listed.stderr) == (
        f"ecrctl: recovered an interrupted write of {CATALOG} and {TFVARS} (completed)"
    )
    assert "split-svc" in listed.stdout
    assert _texts(repo) == split["new"]
    assert not repo.journal_file.exists()
    again = cli(capsys, "validate")
    assert again.code == 0 and "interrupted" not in again.stderr


def test_a_journal_whose_files_hold_their_old_texts_is_dropped(
    repo: Workspace, split: dict[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    (repo.root / CATALOG).write_text(split["old"][CATALOG])
    _record(repo, _pair(split))
    result = cli(capsys, "validate")
    assert result.code == 0
    assert _said(result.stderr).endswith("(rolled back: none had been written)")
    assert _texts(repo) == split["old"] and not repo.journal_file.exists()


def test_a_journal_a_checkout_brings_never_writes(
    repo: Workspace, split: dict[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """The catalog holds the journal's new text, as the rule for completing asks; but the journal
    names another lock file (a pull request's, written elsewhere): nothing is written."""
    files = _pair(split)
    files[1]["new"] = split["old"][TFVARS] + 'registry_scan_type = "BASIC"\n'
    repo.state_dir.mkdir(exist_ok=True)
    repo.lock_file.touch()
    real = journal.lock_identity(os.stat(repo.lock_file))
    for forged in ([real[0], real[1], real[2] + 1], [real[0], real[1] + 1, real[2]], [0, 0, 0]):
        _record(repo, files, forged)
        before = _texts(repo)
        result = cli(capsys, "validate")
        assert "not written in this checkout" in _said(result.stderr)
        assert "no file was changed" in result.stderr
        assert _texts(repo) == before and not repo.journal_file.exists()


@pytest.mark.parametrize(
    "path",
    [
        "terraform/main.tf",
        "envs/local/backend.hcl",
        ".git/hooks/pre-commit",
        "../outside.yaml",
        "catalog/../terraform/x.yaml",
        "catalog/./x.yaml",
        "catalog//x.yaml",
        "/etc/passwd",
        "catalog/.hidden.yaml",
        "envs/nowhere/terraform.tfvars",
        "envs/../catalog/ecr-catalog.yaml",
        "catalog\\x.yaml",
    ],
)
def test_a_journal_naming_a_file_ecrctl_does_not_manage_writes_nothing(
    path: str,
    repo: Workspace,
    split: dict[str, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    files = _pair(split)
    files.append({"path": path, "old": None, "new": EVIL})
    _record(repo, files)
    before = _texts(repo)
    result = cli(capsys, "validate")
    assert "not a file ecrctl manages" in _said(result.stderr)
    assert _texts(repo) == before and not repo.journal_file.exists()
    assert not any(EVIL in p.read_text(errors="replace") for p in _all_files(repo.root, tmp_path))


def test_a_journal_never_writes_through_a_symlink(
    repo: Workspace,
    split: dict[str, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo.catalog_dir / "resources").symlink_to(elsewhere)
    (repo.catalog_dir / "linked.yaml").symlink_to(tmp_path / "target.yaml")
    for path in ("catalog/resources/x.yaml", "catalog/linked.yaml"):
        files = [*_pair(split), {"path": path, "old": None, "new": EVIL}]
        _record(repo, files)
        result = cli(capsys, "validate")
        assert "not a file ecrctl manages" in _said(result.stderr)
        assert not list(elsewhere.iterdir()) and not (tmp_path / "target.yaml").exists()
        assert not repo.journal_file.exists()


def test_files_changed_since_the_crash_are_left_as_they_are(
    repo: Workspace, split: dict[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _record(repo, _pair(split))
    edited = split["old"][TFVARS] + "# a hand edit\n"
    (repo.root / TFVARS).write_text(edited)
    result = cli(capsys, "list", "--env", "local")
    said = _said(result.stderr)
    assert f"{TFVARS} changed since; files left as they are" in said
    assert (repo.root / TFVARS).read_text() == edited
    assert (repo.root / CATALOG).read_text() == split["new"][CATALOG]
    assert not repo.journal_file.exists()


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"format": "ecrctl-journal/1", "lock": [1, 2, 3], "files": []}',
        b'{"format": "ecrctl-journal/2", "lock": [1, 2, 3], "files": [{}, {}]}',
        b"[" * 100_000,
    ],
)
def test_a_journal_that_is_not_ecrctls_is_removed_unused(
    content: bytes,
    repo: Workspace,
    split: dict[str, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo.journal_file.write_bytes(content)
    before = _texts(repo)
    result = cli(capsys, "validate")
    assert "not a journal ecrctl wrote" in _said(result.stderr)
    assert _texts(repo) == before and not repo.journal_file.exists()


def test_a_journal_that_is_a_symlink_is_never_followed(
    repo: Workspace,
    split: dict[str, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    target = tmp_path / "journal.json"
    _record(repo, _pair(split))
    repo.journal_file.rename(target)
    repo.journal_file.symlink_to(target)
    result = cli(capsys, "validate")
    assert "not a journal ecrctl wrote" in _said(result.stderr)
    assert target.exists() and not repo.journal_file.is_symlink()
    assert (repo.root / TFVARS).read_text() == split["old"][TFVARS]


def test_a_journal_that_is_a_directory_is_exit_1_naming_what_to_remove(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.journal_file.mkdir(parents=True)
    result = cli(capsys, "validate")
    assert result.code == 1
    lines = result.stderr.rstrip("\n").splitlines()
    assert len(lines) == 2 and lines[0].startswith("ecrctl: error: cannot read"), result.stderr
    assert f"rm -r {repo.journal_file}" in lines[1]


def test_with_no_journal_a_command_only_looks_for_it(
    repo: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One lstat: no lock taken, nothing created, nothing read."""
    looked: list[str] = []
    real = os.path.lexists

    def lexists(path: Any) -> bool:
        looked.append(os.fspath(path))
        return real(path)

    def no_lock(self: Workspace) -> Any:
        raise AssertionError("the lock was taken")

    monkeypatch.setattr(os.path, "lexists", lexists)
    monkeypatch.setattr(Workspace, "lock", no_lock)
    assert find_workspace() == repo
    assert looked == [str(repo.journal_file)]
    assert not repo.state_dir.exists()


def test_a_failed_write_leaves_no_journal(
    repo: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An error (not a crash) puts the old texts back, and the journal goes with it."""
    before = _texts(repo)
    real = workspace_mod.atomic_write

    def failing(path: Path, text: str) -> None:
        if path.name == "terraform.tfvars":
            raise OSError(28, "No space left on device")
        real(path, text)

    monkeypatch.setattr(workspace_mod, "atomic_write", failing)
    assert cli(capsys, *CREATE).code == 70
    assert _texts(repo) == before and not repo.journal_file.exists()


def test_a_journal_that_cannot_be_completed_is_kept_for_the_next_command(
    repo: Workspace,
    split: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _record(repo, _pair(split))

    def failing(path: Path, text: str) -> None:
        raise OSError(13, "Permission denied")

    with monkeypatch.context() as patched:
        patched.setattr(journal, "atomic_write", failing)
        with pytest.raises(UserError, match="cannot complete the interrupted write"), repo.lock():
            pass
    assert repo.journal_file.exists()
    assert cli(capsys, "validate").code == 0
    assert _texts(repo) == split["new"] and not repo.journal_file.exists()


def _all_files(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def test_a_write_through_a_symlinked_catalog_is_refused_and_writes_nothing(
    repo: Workspace, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The journal could not repair such a write, so none is made (it used to replace the link)."""
    real = tmp_path / "elsewhere.yaml"
    real.write_text(repo.catalog_file.read_text())
    repo.catalog_file.unlink()
    repo.catalog_file.symlink_to(real)
    before = real.read_text(), (repo.root / TFVARS).read_text()
    result = cli(capsys, *CREATE)
    assert result.code == 1, result.stderr
    assert "catalog/ecr-catalog.yaml is reached through a symlink" in result.stderr
    assert repo.catalog_file.is_symlink()
    assert (real.read_text(), (repo.root / TFVARS).read_text()) == before
    assert not repo.journal_file.exists()
