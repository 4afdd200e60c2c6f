"""The repository ecrctl works on: where things live, environments, the lock, atomic writes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import FileError, UserError
from orchestrator.files import journal
from orchestrator.files.atomic import atomic_write, fsync_dir

__all__ = [
    "Workspace",
    "atomic_write",
    "find_workspace",
    "fsync_dir",
    "read_text",
    "write_together",
]

ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
ROOT_MARKERS = ("terraform/modules/ecr", "envs")


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def catalog_file(self) -> Path:
        return self.root / "catalog" / "ecr-catalog.yaml"

    @property
    def catalog_dir(self) -> Path:
        return self.root / "catalog"

    @property
    def terraform_dir(self) -> Path:
        return self.root / "terraform"

    @property
    def tiers_file(self) -> Path:
        return self.root / "terraform" / "modules" / "ecr" / "risk-tiers.json"

    @property
    def envs_dir(self) -> Path:
        return self.root / "envs"

    @property
    def state_dir(self) -> Path:
        """ecrctl's private, git-ignored working area (terraform data dirs, plans, emulator)."""
        return self.root / ".ecrctl"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "files.lock"

    @property
    def journal_file(self) -> Path:
        """An interrupted write's intent (files/journal.py); absent but for a crash."""
        return self.state_dir / "journal"

    def environments(self) -> list[str]:
        if not self.envs_dir.is_dir():
            return []
        return sorted(
            p.name
            for p in self.envs_dir.iterdir()
            if p.is_dir() and not p.is_symlink() and (p / "terraform.tfvars").is_file()
        )

    def env_dir(self, env: str) -> Path:
        """The directory of one environment, refusing anything that is not a plain envs/ child."""
        known = self.environments()
        hint = f"known environments: {', '.join(known) or 'none'}"
        if not ENV_NAME.fullmatch(env):
            raise UserError(
                f"environment {env!r} is not a valid name (lowercase letters, digits, '-')", hint
            )
        path = self.envs_dir / env
        if path.is_symlink() or not path.is_dir():
            raise UserError(f"environment {env!r} is not a directory under envs/", hint)
        if path.resolve().parent != self.envs_dir.resolve():
            raise UserError(f"environment {env!r} resolves outside envs/", hint)
        tfvars = path / "terraform.tfvars"
        if tfvars.is_symlink() or not tfvars.is_file():
            raise UserError(f"environment {env!r} has no regular file envs/{env}/terraform.tfvars")
        return path

    def tfvars_file(self, env: str) -> Path:
        return self.env_dir(env) / "terraform.tfvars"

    def backend_file(self, env: str) -> Path:
        return self.env_dir(env) / "backend.hcl"

    def relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock on the repository's managed files, across processes.

        Whoever takes it first repairs what a write interrupted by a crash left (the journal,
        files/journal.py), so every holder sees the managed files consistent.
        """
        with _open_lock_file(self.state_dir) as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                if os.path.lexists(self.journal_file):  # one lstat when there is none
                    _recover(self, os.fstat(handle))
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _recover(ws: Workspace, lock: os.stat_result) -> None:
    done = journal.recover(ws, lock)
    if done:
        # Said here, once, whatever the command: it runs before any command has a result to
        # carry it, and the user must learn that files changed.
        print(f"ecrctl: {done}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _open_lock_file(state_dir: Path) -> Iterator[int]:
    """.ecrctl/files.lock, opened for flock; a path a user's tree made unusable is a UserError.

    The lock file is never followed through a symlink (a checkout could point it anywhere).
    """
    path = state_dir / "files.lock"
    try:
        state_dir.mkdir(exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        blocker = path if state_dir.is_dir() else state_dir
        kind = "file" if blocker == path else "directory"
        raise UserError(
            f"cannot use the lock file {path}: {exc.strerror or exc}",
            f"{blocker} must be a plain {kind} of ecrctl's: remove it (rm -r {blocker})"
            " and run the command again",
        ) from None
    try:
        yield fd
    finally:
        os.close(fd)


def find_workspace(start: Path | None = None) -> Workspace:
    """ECRCTL_ROOT if set, else the nearest directory upwards holding terraform/modules/ecr and envs/.

    Every command starts here: when a write was interrupted (a journal is left), the lock is taken
    once, which repairs it, so that commands that read without the lock (list, validate, plan)
    read consistent files too. With no journal this costs one lstat.
    """
    ws = _find_workspace(start)
    if os.path.lexists(ws.journal_file):
        with ws.lock():
            pass
    return ws


def _find_workspace(start: Path | None) -> Workspace:
    configured = os.environ.get("ECRCTL_ROOT")
    if configured:
        root = Path(configured).resolve()
        if not all((root / m).is_dir() for m in ROOT_MARKERS):
            raise UserError(
                f"ECRCTL_ROOT={configured} is not an ecrctl repository",
                "it must contain terraform/modules/ecr/ and envs/",
            )
        return Workspace(root)
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if all((candidate / m).is_dir() for m in ROOT_MARKERS):
            return Workspace(candidate)
    raise UserError(
        "not inside an ecrctl repository (no terraform/modules/ecr and envs/ found upwards)",
        "run ecrctl from the repository, or set ECRCTL_ROOT",
    )


def write_together(files: list[tuple[Path, str | None, str]]) -> None:
    """Write each (path, old text or None if absent, new text); on failure, restore the old."""
    written: list[tuple[Path, str | None]] = []
    try:
        for path, old, new in files:
            if old != new:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(path, new)
                written.append((path, old))
    except BaseException:
        for path, old in reversed(written):
            if old is None:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            else:
                atomic_write(path, old)
        raise


def read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{what} {path} does not exist") from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise FileError(
            path,
            line,
            f"not UTF-8 text (byte {exc.start})",
            "save the file as UTF-8, then run: ecrctl validate",
        ) from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
