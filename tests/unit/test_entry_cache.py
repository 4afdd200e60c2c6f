"""The entry cache: what a later command takes from it is exactly what it would have read.

Each command below starts from an empty in-process memo, as a new ecrctl process does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.files import catalog, entry_cache, tfvars, transaction
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace
from orchestrator.models import CatalogEntry, RegistryRequest
from orchestrator.rules import policy
from tests.helpers import create_entry

NAMES = [f"svc{i:02d}-api" for i in range(12)]


def _fields(name: str) -> dict[str, Any]:
    return {
        "env": "dev",
        "owner": "app-team-x",
        "risk": ("low", "medium", "high")[len(name) % 3],
        "description": "images of " + name,
        "push_principals": ["arn:aws:iam::123456789012:role/ci"],
    }


def _request(name: str) -> RegistryRequest:
    return policy.build_request(name=name, **_fields(name))


def _cache_file(ws: Workspace) -> Path:
    path = entry_cache.cache_file(ws)
    assert path is not None
    return path


def _new_process() -> None:
    for entries in (catalog.ENTRIES, tfvars.ENTRIES):
        entries.read.clear()
        entries.remembered = {}


def _create(ws: Workspace, name: str) -> None:
    _new_process()
    create_entry(ws, name, **_fields(name))


@pytest.fixture
def read_in_full(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The entries read in full (not from the cache), as "catalog NAME" / "tfvars NAME"."""
    seen: list[str] = []
    for module in (catalog, tfvars):
        kind, real = module.__name__.rsplit(".", 1)[1], module._read_entry

        def counting(chunk: str, context: Any, real: Any = real, kind: str = kind) -> Any:
            seen.append(f"{kind} {chunk.split(chr(34))[1]}")
            return real(chunk, context)

        monkeypatch.setattr(module, "_read_entry", counting)
    yield seen
    _new_process()


@pytest.fixture
def filled(repo: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """Twelve entries, each create writing the cache (SAVE_AFTER = 1)."""
    monkeypatch.setattr(entry_cache, "SAVE_AFTER", 1)
    for name in NAMES:
        _create(repo, name)
    return repo


def _both(*names: str) -> list[str]:
    return sorted(f"{kind} {name}" for kind in ("catalog", "tfvars") for name in names)


def test_a_later_command_reads_in_full_only_the_entry_it_adds(
    filled: Workspace, read_in_full: list[str]
) -> None:
    _create(filled, "extra-api")
    assert sorted(read_in_full) == _both("extra-api")


def test_entries_from_the_cache_equal_entries_read_afresh(filled: Workspace) -> None:
    def read() -> tuple[Any, ...]:
        _new_process()
        with transaction.begin(filled, "dev") as txn:
            assert txn.tfvars is not None
            return txn.catalog.entries, txn.tfvars.entries, txn.tfvars.document.values

    cached = read()
    assert catalog.ENTRIES.read and all(catalog.ENTRIES.read.values())
    _cache_file(filled).unlink()
    assert read() == cached
    assert sorted(cached[0]) == NAMES


def test_another_tier_table_or_ecrctl_reads_every_entry_in_full(
    filled: Workspace, read_in_full: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    filled.tiers_file.write_text(
        filled.tiers_file.read_text() + "\n"
    )  # the same table, other bytes
    _create(filled, "extra-api")
    assert sorted(set(read_in_full)) == _both(*NAMES, "extra-api")

    read_in_full.clear()
    _create(filled, "more-api")  # the file was written anew under the new key
    assert sorted(read_in_full) == _both("more-api")

    monkeypatch.setattr(entry_cache, "FORMAT", entry_cache.FORMAT + 1)  # another ecrctl
    read_in_full.clear()
    _create(filled, "last-api")
    assert sorted(set(read_in_full)) == _both(*NAMES, "extra-api", "more-api", "last-api")


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: "{not json",
        lambda text: "[]",
        # The right key, a record of the wrong shape: the whole file is passed over.
        lambda text: text.replace('"catalog":{"', '"catalog":{"0":[1,2],"', 1),
    ],
    ids=["not-json", "not-an-object", "bad-record"],
)
def test_a_damaged_cache_is_read_around_and_written_anew(
    filled: Workspace, read_in_full: list[str], damage: Any
) -> None:
    path = _cache_file(filled)
    path.write_text(damage(path.read_text()))
    _create(filled, "extra-api")
    assert sorted(set(read_in_full)) == _both(*NAMES, "extra-api")
    held = json.loads(path.read_text())
    assert len(held["catalog"]) == len(NAMES) + 1 == len(held["tfvars"]["dev"])


def test_the_file_is_written_again_once_enough_entries_are_missing(
    repo: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _cache_file(repo)
    _create(repo, NAMES[0])  # no cache yet: written
    first = path.read_bytes()
    monkeypatch.setattr(entry_cache, "SAVE_AFTER", 4)
    _create(repo, NAMES[1])  # 2 entries read in full (catalog and tfvars): not yet
    assert path.read_bytes() == first
    _create(repo, NAMES[2])  # 4: written, with every entry of the files
    held = json.loads(path.read_text())
    assert len(held["catalog"]) == 3 == len(held["tfvars"]["dev"])


def test_a_refused_command_leaves_the_cache_alone(repo: Workspace) -> None:
    _create(repo, NAMES[0])
    before = _cache_file(repo).read_bytes()
    _new_process()
    with pytest.raises(Exception, match="different attributes"):
        create_entry(repo, NAMES[0], env="dev", owner="app-team-y")
    assert _cache_file(repo).read_bytes() == before


def test_a_command_that_reads_only_the_catalog_keeps_the_tfvars_entries(
    filled: Workspace, read_in_full: list[str]
) -> None:
    """catalog sync reads the catalog alone: the cache it writes still holds every tfvars entry."""
    _new_process()
    tiers = tiers_file.load(filled.tiers_file)
    with entry_cache.used(filled):  # a catalog-only command with an entry the cache lacks
        cat = catalog.load(filled.catalog_file, tiers)
        catalog.load_text(
            cat.with_entry(CatalogEntry(_request("extra-api")), tiers), filled.catalog_file, tiers
        )
    held = json.loads(_cache_file(filled).read_text())
    assert len(held["catalog"]) == len(NAMES) + 1 and len(held["tfvars"]["dev"]) == len(NAMES)
    read_in_full.clear()
    _create(filled, "more-api")
    assert sorted(read_in_full) == _both("more-api")


def test_the_cache_lives_outside_the_repository_one_file_per_checkout(
    repo: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file in the checkout could come with a pull request: the cache is never read from there."""
    monkeypatch.setenv(entry_cache.CACHE_DIR_VARIABLE, str(tmp_path / "cache"))
    _create(repo, NAMES[0])
    path = _cache_file(repo)
    assert path.parent == tmp_path / "cache" and path.is_file()
    assert not path.is_relative_to(repo.root)
    assert not (repo.state_dir / "cache").exists()
    other = Workspace(tmp_path / "other-checkout")
    assert _cache_file(other) != path


def test_the_default_cache_directory_and_none_without_one(
    repo: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_in_full: list[str]
) -> None:
    monkeypatch.delenv(entry_cache.CACHE_DIR_VARIABLE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _cache_file(repo).parent == tmp_path / "xdg" / "ecrctl"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _cache_file(repo).parent == tmp_path / "home" / ".cache" / "ecrctl"
    # A relative directory would depend on where ecrctl runs: no cache, every entry read.
    monkeypatch.setenv(entry_cache.CACHE_DIR_VARIABLE, "relative/cache")
    assert entry_cache.cache_file(repo) is None
    _create(repo, NAMES[0])
    _create(repo, NAMES[1])
    assert sorted(set(read_in_full)) == _both(NAMES[0], NAMES[1])
    assert read_in_full.count(f"tfvars {NAMES[0]}") == 2  # the second create read it again
    assert not (repo.root / "relative").exists()
