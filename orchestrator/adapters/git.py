"""The only place that runs git: revisions, what changed between two, a file at a revision.

Every call is an argument list (never a shell string) run in the repository that holds the
workspace; a failure becomes a UserError naming the git command and what git said.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from orchestrator.errors import UserError


@dataclass(frozen=True)
class Git:
    """git for the repository around `workdir` (the workspace root, maybe a subdirectory)."""

    workdir: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["git", "-c", "core.quotePath=false", *args]
        try:
            done = subprocess.run(
                cmd,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                check=False,
            )
        except FileNotFoundError:
            raise UserError(
                "git is not installed", "install git; ecrctl ci reads revisions"
            ) from None
        if check and done.returncode != 0:
            said = " ".join(done.stderr.split())[-400:] or f"exit {done.returncode}"
            raise UserError(f"git {' '.join(args)} failed: {said}")
        return done

    def toplevel(self) -> Path:
        done = self.run("rev-parse", "--show-toplevel", check=False)
        if done.returncode != 0:
            raise UserError(
                f"{self.workdir} is not inside a git repository",
                "ecrctl ci compares git revisions: run it in a clone of the repository",
            )
        return Path(done.stdout.strip()).resolve()

    def prefix(self) -> str:
        """The workspace root relative to the repository's top ("" when it is the top)."""
        rel = self.workdir.resolve().relative_to(self.toplevel())
        return "" if str(rel) == "." else rel.as_posix() + "/"

    def commit(self, ref: str) -> str:
        """The full commit ID `ref` names; refuses what names no commit."""
        if not ref or ref.startswith("-"):
            raise UserError(f"{ref!r} is not a git revision")
        done = self.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        if done.returncode != 0:
            raise UserError(
                f"git revision {ref!r} does not exist here",
                "fetch it first (actions/checkout with fetch-depth: 0, or git fetch origin REF)",
            )
        return done.stdout.strip()

    def merge_base(self, a: str, b: str) -> str:
        done = self.run("merge-base", a, b, check=False)
        if done.returncode != 0:
            raise UserError(
                f"revisions {a[:12]} and {b[:12]} have no common ancestor",
                "fetch more history (actions/checkout with fetch-depth: 0)",
            )
        return done.stdout.strip()

    def changed_paths(self, a: str, b: str) -> list[str]:
        """Every path (relative to the repository top) that differs between two commits."""
        out = self.run("diff", "--name-only", "--no-renames", "-z", a, b, "--").stdout
        return sorted(p for p in out.split("\0") if p)

    def show(self, rev: str, path: str) -> str | None:
        """The text of `path` (relative to the top) at `rev`; None when it does not exist there."""
        spec = f"{rev}:{PurePosixPath(path).as_posix()}"
        done = self.run("cat-file", "-e", spec, check=False)
        if done.returncode != 0:
            return None
        return self.run("show", spec).stdout

    def uncommitted(self, paths: list[str]) -> list[str]:
        """Which of `paths` (relative to the workspace root) differ from HEAD in the work tree."""
        if not paths:
            return []
        out = self.run("status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *paths)
        entries = [e for e in out.stdout.split("\0") if e]
        return sorted(e[3:] for e in entries if len(e) > 3)
