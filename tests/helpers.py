"""Test helpers: lay out an ecrctl repository tree, run the CLI in-process."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.cli import run
from orchestrator.files.catalog import NEW_CATALOG

REPO = Path(__file__).resolve().parents[1]


def build_repo_tree(root: Path) -> Path:
    """A fresh copy of the repository's terraform/ and envs/, with an empty catalog."""
    shutil.copytree(
        REPO / "terraform",
        root / "terraform",
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfplan"),
    )
    shutil.copytree(REPO / "envs", root / "envs")
    (root / "catalog").mkdir()
    (root / "catalog" / "ecr-catalog.yaml").write_text(NEW_CATALOG)
    return root


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    capsys.readouterr()
    code = run(list(args))
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every managed file's bytes, to prove that a refused command wrote nothing."""
    files = [root / "catalog" / "ecr-catalog.yaml", *sorted((root / "envs").glob("*/*"))]
    return {str(p.relative_to(root)): p.read_bytes() for p in files if p.is_file()}


# A tfvars written by hand: comments, other variables, two entries (the readers keep every byte).
TFVARS = """\
# header comment, kept as is
aws_region  = "us-east-1" # trailing comment
environment = "dev"
extra_list  = ["a", "b"] /* block */

ecr_repositories = {
  # a hand comment inside the map
  "alpha-svc" = {
    id              = "REGISTRY_ALPHA_SVC"
    owner           = "app-team-alpha"
    risk            = "low"
    push_principals = []
    pull_principals = []
  }
  "zulu-svc" = {
    id              = "REGISTRY_ZULU_SVC"
    owner           = "app-team-zulu"
    risk            = "medium"
    push_principals = []
    pull_principals = []
  }
}
"""
