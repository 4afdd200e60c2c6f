"""Test helpers for ecrctl ci: a git repository around a repository tree, a GitHub event file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from orchestrator.files.workspace import Workspace
from tests.helpers import CliResult, cli


def git(ws: Workspace, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ws.root, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def init_repo(ws: Workspace) -> str:
    """`git init` on branch development and a first commit of the whole tree."""
    (ws.root / ".gitignore").write_text(".ecrctl/\n*.tfplan\n*.tfplan.json\n")
    git(ws, "init", "-q", "-b", "development")
    git(ws, "config", "user.email", "ci@example.com")
    git(ws, "config", "user.name", "ci")
    return commit(ws, "base")


def commit(ws: Workspace, message: str) -> str:
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "--allow-empty", "-m", message)
    return git(ws, "rev-parse", "HEAD")


def event(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, head_sha: str, **extra: object) -> Path:
    """A pull_request event file, as GitHub hands it to a job (GITHUB_EVENT_PATH)."""
    path = tmp_path / "event.json"
    pull_request = {
        "number": 42,
        "title": "ECR: api-gateway, search-api; decommission legacy-web",
        "html_url": "https://github.example/platform/registry/pull/42",
        "head": {"sha": head_sha, "ref": "ecr/request"},
        "base": {"ref": "development"},
        "labels": [{"name": "ecr-registry"}],
        **extra,
    }
    path.write_text(json.dumps({"action": "synchronize", "pull_request": pull_request}))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(path))
    return path


def merge_pull_request(
    ws: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    head_sha: str,
    branch: str = "ecr/request",
    number: int = 42,
) -> str:
    """Merge `branch` into development with a merge commit, as GitHub does, and hand the job the
    closed event of the pull request at `head_sha`; returns the merge commit."""
    git(ws, "checkout", "-q", "development")
    git(ws, "merge", "-q", "--no-ff", branch, "-m", f"Merge pull request #{number}")
    merge_sha = git(ws, "rev-parse", "HEAD")
    event(tmp_path, monkeypatch, head_sha, merged=True, merge_commit_sha=merge_sha)
    return merge_sha


# -- ecrctl ci ------------------------------------------------------------------------------


def ci_plan(
    capsys: pytest.CaptureFixture[str], summary_file: Path | None = None, *extra: str
) -> Any:
    """`ecrctl ci plan` of the pull request against development, as JSON; it must succeed."""
    summary = ["--summary-file", str(summary_file)] if summary_file else []
    planned = cli(
        capsys, "ci", "plan", "--base", "development", *summary, *extra, "--output", "json"
    )
    assert planned.code == 0, planned.stderr
    return json.loads(planned.stdout)


def ci_apply(capsys: pytest.CaptureFixture[str], merge: str, *extra: str) -> CliResult:
    """`ecrctl ci apply` of a merge commit (its first parent the base), as the apply job runs it."""
    return cli(capsys, "ci", "apply", "--base", f"{merge}^1", "--head", merge, *extra)
