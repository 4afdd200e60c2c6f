"""The journal of a write that spans files, so that a crash between its renames repairs itself.

Each file of a commit is written atomically (atomic.atomic_write), but a commit of two or more
files renames them one after the other: a process killed between the renames would leave the
catalog new and the tfvars old. So before the first rename `kept` writes `.ecrctl/journal`
(atomically, fsync'd, the directory too): every file's path, its old text (or null: absent) and
its new text, as one JSON object. After the last rename the journal is removed (and the removal
made durable, so that no power loss brings back a journal of a write long finished).

`recover` runs under the workspace lock (Workspace.lock, which every transaction takes, and which
find_workspace takes for any command when a journal is there). It completes an interrupted write
when at least one file already holds its new text (the renames had started) and every other file
still holds its old one; when every file holds its old text nothing had been renamed and the
journal is dropped; when any file holds neither (changed since, by hand or by a checkout), it is
dropped too and the files are left as they are. It writes only texts the journal holds, only to
the files ecrctl manages (the catalog, an environment's tfvars, Backstage entity files under
catalog/), never through a symlink.

A journal is acted on only if it is this workspace's own: it names the lock file ecrctl held when
it wrote it (device, inode and change time in nanoseconds, which no checkout can reproduce: the
file is created where the command runs, and its change time is set by the kernel). A journal a
pull request brings (`git add -f .ecrctl/journal`, .ecrctl/ being git-ignored) or a cache
restores therefore never writes anything: it is removed, and the files are left as they are.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from orchestrator.errors import InternalError, UserError
from orchestrator.files.atomic import atomic_write, fsync_dir

if TYPE_CHECKING:  # the workspace takes the lock and calls recover: it imports this module
    from orchestrator.files.workspace import Workspace

FORMAT = "ecrctl-journal/1"
MAX_BYTES = 256 * 1024 * 1024  # 4 x the 64 MiB a catalog may hold: bounded, never all of a disk
MAX_FILES = 256

_File = tuple[Path, str | None, str]


def lock_identity(info: os.stat_result) -> list[int]:
    """What binds a journal to the lock file it was written under."""
    return [info.st_dev, info.st_ino, info.st_ctime_ns]


@contextlib.contextmanager
def kept(ws: Workspace, files: list[_File]) -> Iterator[None]:
    """Around the writes of (path, old text or None if absent, new text), under ws.lock(): the
    journal written before them when more than one file changes, removed after them."""
    changed = [f for f in files if f[1] != f[2]]
    if len(changed) < 2:  # one rename is atomic by itself
        yield
        return
    record = {
        "format": FORMAT,
        "lock": lock_identity(os.lstat(ws.lock_file)),
        "files": [{"path": _relative(ws, p), "old": old, "new": new} for p, old, new in changed],
    }
    atomic_write(ws.journal_file, json.dumps(record, ensure_ascii=False))
    try:
        yield
    except BaseException:
        # The writes put the old texts back: the journal has nothing left to do. If they could
        # not, it stays, and the next command completes the write.
        if all(_current(p) == _encoded(old) for p, old, _ in changed):
            _remove(ws.journal_file)
        raise
    _remove(ws.journal_file)


def recover(ws: Workspace, lock: os.stat_result) -> str | None:
    """Repair what an interrupted write left (under the lock); what was done, in one line."""
    journal = ws.journal_file
    try:
        record = _read(journal)
    except FileNotFoundError:
        return None
    shown = ws.relative(journal)
    if record is None:
        _remove(journal)
        return f"removed {shown}: not a journal ecrctl wrote; no file was changed"
    if record["lock"] != lock_identity(lock):
        _remove(journal)
        return (
            f"removed {shown}: it was not written in this checkout (a copy, or a file a checkout"
            " brought); no file was changed"
        )
    files: list[tuple[Path, str, bytes | None, bytes]] = []
    for item in record["files"]:
        path = _managed(ws, item["path"])
        if path is None:
            _remove(journal)
            return (
                f"removed {shown}: it names {item['path']!r}, not a file ecrctl manages;"
                " no file was changed"
            )
        files.append((path, item["path"], _encoded(item["old"]), item["new"].encode("utf-8")))
    names = _join([name for _, name, _, _ in files])
    now = {name: _current(path) for path, name, _, _ in files}
    moved = [name for _, name, old, new in files if now[name] not in (old, new)]
    if moved:
        _remove(journal)
        return (
            f"dropped the journal of an interrupted write of {names}: {_join(moved)} changed"
            " since; files left as they are (check them with: ecrctl validate)"
        )
    if all(now[name] == old for _, name, old, _ in files):
        _remove(journal)
        return f"recovered an interrupted write of {names} (rolled back: none had been written)"
    try:
        for path, name, _, new in files:
            if now[name] != new:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(path, new.decode("utf-8"))
    except OSError as exc:
        raise UserError(
            f"cannot complete the interrupted write of {names}: {exc.strerror or exc}",
            f"make the files writable and run the command again ({shown} keeps what to write)",
        ) from None
    _remove(journal)
    return f"recovered an interrupted write of {names} (completed)"


# -- helpers -------------------------------------------------------------------------------------


def _relative(ws: Workspace, path: Path) -> str:
    try:
        relative = path.relative_to(ws.root).as_posix()
    except ValueError:
        relative = str(path)
    if not _named(ws, relative):
        raise InternalError(f"nothing was written: {path} is not a file ecrctl manages")
    if _managed(ws, relative) is None:
        raise UserError(
            f"{relative} is reached through a symlink, or is not a regular file; ecrctl writes"
            " its files only in place. Nothing was written",
            "replace the symlink with the file or directory itself",
        )
    return relative


def _named(ws: Workspace, relative: str) -> bool:
    """Whether `relative` spells, in one way only, a file ecrctl writes."""
    if "\\" in relative or "\0" in relative:
        return False
    pure = PurePosixPath(relative)
    parts = pure.parts
    if pure.is_absolute() or not parts or any(p in ("", ".", "..") for p in parts):
        return False
    if str(pure) != relative:  # no doubled or trailing slashes
        return False
    catalog = parts == ("catalog", "ecr-catalog.yaml")
    tfvars = (
        len(parts) == 3
        and parts[0] == "envs"
        and parts[2] == "terraform.tfvars"
        and parts[1] in ws.environments()
    )
    entity = (
        len(parts) >= 2
        and parts[0] == "catalog"
        and parts[-1].endswith((".yaml", ".yml"))
        and not any(p.startswith(".") for p in parts)
    )
    return catalog or tfvars or entity


def _managed(ws: Workspace, relative: str) -> Path | None:
    """The file `relative` names if it is one ecrctl writes, reached through no symlink."""
    if not _named(ws, relative):
        return None
    parts = PurePosixPath(relative).parts
    path = ws.root
    for index, part in enumerate(parts):
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:  # written with its directories, as the commit would
            return ws.root.joinpath(*parts)
        last = index == len(parts) - 1
        if stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) if last else stat.S_ISDIR(mode)):
            return None
    return path


def _read(journal: Path) -> dict[str, Any] | None:
    """The journal's record, or None when the file is not one ecrctl wrote (its shape)."""
    try:
        fd = os.open(journal, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if journal.is_symlink():
            return None
        raise _unusable(journal, exc) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _unusable(journal, "it is a directory")
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_BYTES:
            return None
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    finally:
        os.close(fd)
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return record if _well_formed(record) else None


def _well_formed(record: Any) -> bool:
    if not isinstance(record, dict) or set(record) != {"format", "lock", "files"}:
        return False
    lock, files = record["lock"], record["files"]
    if record["format"] != FORMAT or not isinstance(lock, list) or len(lock) != 3:
        return False
    if not all(type(n) is int for n in lock):
        return False
    if not isinstance(files, list) or not 2 <= len(files) <= MAX_FILES:
        return False
    for item in files:
        if not isinstance(item, dict) or set(item) != {"path", "old", "new"}:
            return False
        if not isinstance(item["path"], str) or not isinstance(item["new"], str):
            return False
        if item["old"] is not None and not isinstance(item["old"], str):
            return False
        if item["old"] == item["new"]:
            return False
    return len({item["path"] for item in files}) == len(files)


def _unusable(journal: Path, why: object) -> UserError:
    reason = why if isinstance(why, str) else (getattr(why, "strerror", None) or str(why))
    return UserError(
        f"cannot read {journal}: {reason}",
        f"it must be a plain file of ecrctl's: remove it (rm -r {journal}) and run the command"
        " again; then check the files with: ecrctl validate",
    )


def _encoded(text: str | None) -> bytes | None:
    return None if text is None else text.encode("utf-8")


def _current(path: Path) -> bytes | None:
    """The file's bytes, None when absent."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return b"\0a directory"  # equals no text ecrctl writes


def _remove(journal: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(journal)
    fsync_dir(journal.parent)  # a journal come back after a power loss would be a stale one


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
