"""Strict reading of every YAML file ecrctl takes from a user: the catalog, adopt files, entities.

A regular file of bounded size (a FIFO or `/dev/zero` is refused, not read until memory runs
out), then the safe loader with what PyYAML would accept and ecrctl never wants refused first:
tags, aliases (a "billion laughs" file, or one referring to itself), nesting past MAX_DEPTH and
duplicate keys (PyYAML keeps the last one silently). Every refusal is a FileError at a line.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import FileError, UserError

if TYPE_CHECKING:
    import yaml

MAX_DEPTH = 32  # ecrctl writes 5 levels
# Far above any file ecrctl or a person writes (a 1000-entry catalog is some 600 KB).
MAX_BYTES = 64 * 1024 * 1024


def read_file(
    path: Path, what: str, hint: str = "save the file as UTF-8", max_bytes: int = MAX_BYTES
) -> str:
    """The UTF-8 text of `path`, a regular file of at most `max_bytes` (symlinks are followed)."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UserError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UserError(
                f"{what} {path} is not a regular file",
                "pass a YAML file (not a directory, device, FIFO or socket)",
            )
        if info.st_size > max_bytes:
            raise UserError(
                f"{what} {path} is larger than {max_bytes // (1024 * 1024)} MiB",
                "pass the YAML file meant here; none is that large",
            )
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # it grew while read
        raise UserError(f"{what} {path} is larger than {max_bytes // (1024 * 1024)} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileError(path, line, f"not UTF-8 text (byte {exc.start})", hint) from None


def reject_duplicates(node: yaml.Node, path: Path, hint: str) -> None:
    """Refuse a mapping that names a key twice, at any depth."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise FileError(
                        path, key.start_mark.line + 1, f"key {key.value!r} appears twice", hint
                    )
                seen.add(key.value)
            reject_duplicates(value, path, hint)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            reject_duplicates(item, path, hint)


def reject_aliases_and_depth(text: str, path: Path, what: str, hint: str) -> None:
    """Refuse tags, aliases and deep nesting before anything is built from the text.

    ecrctl never writes any of them. An alias can make a tiny file expand exponentially ("billion
    laughs") or refer to itself, and YAML parsers slow down with the square of nesting depth.
    The events are read lazily, so a hostile file costs no more than MAX_DEPTH levels.
    """
    import yaml

    depth = 0
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        line = event.start_mark.line + 1 if event.start_mark else 1
        tag = getattr(event, "tag", None)
        if tag is not None and not isinstance(event, yaml.DocumentStartEvent):
            # ecrctl writes no tags; `!!python/...`, `!!binary` or `!!timestamp` mean a hand edit.
            raise FileError(path, line, f"YAML tags ({tag}) are not allowed in {what}", hint)
        if isinstance(event, yaml.AliasEvent):
            raise FileError(
                path, line, f"YAML aliases (*{event.anchor}) are not allowed in {what}", hint
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise FileError(path, line, f"nested more than {MAX_DEPTH} levels deep", hint)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def load(text: str, path: Path, what: str, hint: str) -> tuple[Any, yaml.Node | None]:
    """The single document in `text` and its node (None, None when empty), read strictly."""
    import yaml

    with _located(text, path, hint):
        reject_aliases_and_depth(text, path, what, hint)
        loader = yaml.CSafeLoader(text)
        try:
            root = loader.get_single_node()
            if root is not None:
                reject_duplicates(root, path, hint)
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    return data, root


def load_all(text: str, path: Path, what: str, hint: str) -> list[Any]:
    """Every document in `text` (empty ones left out), read strictly."""
    import yaml

    documents = []
    with _located(text, path, hint):
        reject_aliases_and_depth(text, path, what, hint)
        loader = yaml.CSafeLoader(text)
        try:
            while loader.check_node():
                node = loader.get_node()
                if node is None:
                    continue
                reject_duplicates(node, path, hint)
                document = loader.construct_document(node)
                if document is not None:
                    documents.append(document)
        finally:
            loader.dispose()
    return documents


@contextlib.contextmanager
def _located(text: str, path: Path, hint: str) -> Iterator[None]:
    """Turn PyYAML's errors into a FileError at the line they name."""
    import yaml

    try:
        yield
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # libyaml may place an error found at the end of the text one line past its last line.
        line = min(mark.line + 1, text.count("\n") + 1) if mark else 1
        reason = exc.problem or exc.context
        raise FileError(
            path, line, f"not valid YAML ({reason})" if reason else "not valid YAML", hint
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, e.g. NUL
        # libyaml counts in UTF-8 bytes.
        line = text.encode("utf-8", "surrogatepass")[: exc.position].count(b"\n") + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise FileError(path, line, f"{exc.reason} ({char!r})", hint) from None
    except yaml.YAMLError as exc:
        raise FileError(path, 1, f"not valid YAML ({exc})", hint) from None
