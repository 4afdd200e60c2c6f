"""Entries already read and checked, kept across commands in the user's cache directory.

Every command that changes the managed files reads every entry of the catalog and of the tfvars
and checks each one in full: about 0.17 ms an entry for the two files, most of `ecrctl create`'s
time at 1000 repositories (docs/BENCHMARKS.md, goal 4). What an entry reads as depends only on
its text, its context (the tier table, the environment) and ecrctl's own readers, so the cache
maps a digest of each entry's text, as the line readers split it (files/memo.py), to what was
read from it, under a key made of the tier table, Python's version and the source of the modules
that read and check entries. Another key, a damaged or missing file: every entry is read afresh,
and the file is written anew; it is written again once SAVE_AFTER entries were not in it. A text
the cache does not hold is read in full, as always; `ecrctl validate` never uses the cache.

The file is ecrctl's private working state (a `--dry-run` may write it too): a lost or stale
write costs a full read, never a wrong one. It lives outside the repository, in
`$ECRCTL_CACHE_DIR` (default `$XDG_CACHE_HOME/ecrctl`, else `~/.cache/ecrctl`), one file per
repository path: a file inside the checkout could come with a pull request (git-ignored files can
still be committed) and make a CI job read entries as something other than their text.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from orchestrator import models
from orchestrator.files import catalog, hcl, memo, tfvars
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace, atomic_write
from orchestrator.models import CatalogEntry, RegistryRequest, RiskTier, Status
from orchestrator.rules import policy

FORMAT = 2
# Entries read afresh before the file is written again: writing it costs about what reading 100
# entries does, so the one or two entries a command adds are read afresh until they add up.
SAVE_AFTER = 64
# The modules whose code decides what an entry's text reads as.
_READERS = (catalog, tfvars, hcl, memo, policy, models)
_REQUEST_FIELDS = tuple(f.name for f in dataclasses.fields(RegistryRequest))
C = TypeVar("C")
V = TypeVar("V")


CACHE_DIR_VARIABLE = "ECRCTL_CACHE_DIR"


def cache_file(ws: Workspace) -> Path | None:
    """The workspace's cache file; None when there is no cache directory to put it in."""
    if os.environ.get(CACHE_DIR_VARIABLE):
        directory = Path(os.environ[CACHE_DIR_VARIABLE])
    elif os.environ.get("XDG_CACHE_HOME"):
        directory = Path(os.environ["XDG_CACHE_HOME"]) / "ecrctl"
    else:
        try:
            directory = Path.home() / ".cache" / "ecrctl"
        except RuntimeError:  # no HOME and no password entry: run without the cache
            return None
    if not directory.is_absolute():
        return None
    root = hashlib.blake2b(str(ws.root.resolve()).encode(), digest_size=10).hexdigest()
    return directory / f"entries-{root}.json"


@contextlib.contextmanager
def used(ws: Workspace, tiers: dict[str, RiskTier] | None = None) -> Iterator[None]:
    """Entries read inside the block come from the workspace's cache; new ones are added to it."""
    rows = tuple((tiers or tiers_file.load(ws.tiers_file)).values())
    key = _key(ws)
    path = cache_file(ws)
    known = _load(path, key, rows) if path is not None else set()
    held_catalog, held_tfvars = catalog.ENTRIES.remembered, tfvars.ENTRIES.remembered
    catalog.ENTRIES.touched, tfvars.ENTRIES.touched = set(), set()
    try:
        yield
        read_catalog, read_tfvars = catalog.ENTRIES.touched, tfvars.ENTRIES.touched
    finally:
        for entries in (catalog.ENTRIES, tfvars.ENTRIES):
            entries.touched = None
            entries.remembered = {}
    missed = [
        chunk
        for chunk, context in (*read_catalog, *read_tfvars)
        if (memo.digest(chunk), context) not in known
    ]
    if path is not None and (len(missed) >= SAVE_AFTER or (missed and not known)):
        # A file the block did not read (the catalog, an environment's tfvars) keeps what the
        # cache held for it; one it read is what it holds now.
        envs_read = {env for _, env in read_tfvars}
        catalog_now = {
            memo.digest(chunk): entry
            for (chunk, context), entry in _read(catalog.ENTRIES, read_catalog)
            if context == rows
        }
        tfvars_now = {
            (memo.digest(chunk), env): read
            for (chunk, env), read in _read(tfvars.ENTRIES, read_tfvars)
        }
        kept_catalog = {} if read_catalog else {d: e for (d, _), e in held_catalog.items()}
        kept_tfvars = {k: v for k, v in held_tfvars.items() if k[1] not in envs_read}
        _save(path, key, {**kept_catalog, **catalog_now}, {**kept_tfvars, **tfvars_now})


def _read(entries: memo.Entries[C, V], keys: set[tuple[str, C]]) -> list[tuple[tuple[str, C], V]]:
    """The keys read inside the block with what each holds (entries not in the form left out)."""
    found = [(key, entries.read.get(key)) for key in keys]
    return [(key, value) for key, value in found if value is not None]


def _key(ws: Workspace) -> str:
    # Python's version too: its Unicode tables decide what a description normalises to.
    digest = hashlib.sha256(f"ecrctl entry cache {FORMAT}\n{sys.version}\n".encode())
    digest.update(ws.tiers_file.read_bytes())
    for module in _READERS:
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


def _load(path: Path, key: str, rows: tuple[RiskTier, ...]) -> set[tuple[str, Any]]:
    """Hand the readers what the file holds (all of it or nothing); the (digest, context) held."""
    try:
        held = json.loads(path.read_text(encoding="utf-8"))
        if held.get("key") != key:
            return set()
        entries = {(d, rows): _catalog_entry(record) for d, record in held["catalog"].items()}
        reads = {
            (d, env): (dict(value), _request(request))
            for env, by_digest in held["tfvars"].items()
            for d, (value, request) in by_digest.items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return set()  # no cache, or not one this ecrctl wrote: read everything
    catalog.ENTRIES.remembered = entries
    tfvars.ENTRIES.remembered = reads
    return {*entries, *reads}


def _save(
    path: Path,
    key: str,
    catalog_entries: dict[str, CatalogEntry],
    tfvars_reads: dict[tuple[str, str], tuple[dict[str, Any], RegistryRequest]],
) -> None:
    """Write the cache: catalog entries by digest, tfvars reads by (digest, env)."""
    held: dict[str, Any] = {
        "key": key,
        "catalog": {d: _catalog_record(entry) for d, entry in catalog_entries.items()},
        "tfvars": {},
    }
    for (d, env), (value, request) in tfvars_reads.items():
        held["tfvars"].setdefault(env, {})[d] = [value, _record(request)]
    with contextlib.suppress(OSError):  # a read-only or full disk: the next command reads all
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # private to the user
        atomic_write(path, json.dumps(held, separators=(",", ":")))


def _record(request: RegistryRequest) -> list[Any]:
    return [getattr(request, name) for name in _REQUEST_FIELDS]  # tuples become lists


def _request(record: list[Any]) -> RegistryRequest:
    if len(record) != len(_REQUEST_FIELDS):
        raise ValueError("not a request record")
    values: list[Any] = [tuple(v) if isinstance(v, list) else v for v in record]
    return RegistryRequest(*values)


def _catalog_record(entry: CatalogEntry) -> list[Any]:
    return [_record(entry.request), str(entry.status), entry.repository_url, entry.history]


def _catalog_entry(record: list[Any]) -> CatalogEntry:
    request, status, url, history = record
    return CatalogEntry(_request(request), Status(status), url, dict(history))
