"""The environment as one value: each request file parsed once per command, whatever the steps."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from orchestrator.context import Session
from orchestrator.files import catalog, tfvars
from orchestrator.files.workspace import Workspace
from orchestrator.models import CatalogEntry
from orchestrator.ops import apply as apply_op
from orchestrator.ops import sync as sync_mod
from orchestrator.rules import policy
from tests.helpers import create_entry
from tests.sync_fakes import (  # noqa: F401  (fake_terraform is an autouse fixture)
    FakeTerraform,
    fake_terraform,
    repository,
    state,
)


def _counting(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[str, str]]:
    """Every parse of a tfvars or catalog text from here on, by (file kind, text)."""
    seen: Counter[tuple[str, str]] = Counter()
    real_tfvars, real_catalog = tfvars.parse, catalog.parse

    def parse_tfvars(text: str, *args: Any) -> Any:
        seen["tfvars", text] += 1
        return real_tfvars(text, *args)

    def parse_catalog(text: str, *args: Any) -> Any:
        seen["catalog", text] += 1
        return real_catalog(text, *args)

    monkeypatch.setattr(tfvars, "parse", parse_tfvars)
    monkeypatch.setattr(catalog, "parse", parse_catalog)
    return seen


def test_one_apply_parses_the_tfvars_once_and_the_catalog_once(
    repo: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """plan, guard, apply, catalog sync and the URLs shown after: one parse of each file.

    The catalog sync writes the repository URL into the catalog, and the write is read back
    (the transaction's check): that parse is of the new text, never of a file read before.
    """
    create_entry(repo, "ledger-api")
    tfvars_text = repo.tfvars_file("local").read_text()
    catalog_text = repo.catalog_file.read_text()
    seen = _counting(monkeypatch)

    ctx = Session(repo).at("local")
    result = apply_op.apply(ctx, ["ledger-api"], None, confirm=lambda _plan: True)
    urls = apply_op.repository_urls(ctx, result.plan.repositories)

    assert result.sync is not None and urls["ledger-api"].endswith("/ledger-api")
    assert FakeTerraform.calls.count("plan local") == 1
    assert seen["tfvars", tfvars_text] == 1
    assert seen["catalog", catalog_text] == 1
    written = repo.catalog_file.read_text()
    assert written != catalog_text and seen["catalog", written] == 1  # the read-back
    assert sum(seen.values()) == 3


def test_a_write_is_remembered_so_the_next_step_reads_no_file_again(
    repo: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a catalog sync wrote the catalog, the same command sees the written catalog."""
    create_entry(repo, "ledger-api")
    FakeTerraform.states["local"] = state(repository("ledger-api"))
    ctx = Session(repo).at("local")
    seen = _counting(monkeypatch)
    assert ctx.catalog.entries["ledger-api"].repository_url == ""
    sync_mod.sync(ctx)
    after = ctx.catalog
    assert after.entries["ledger-api"].repository_url.endswith("/ledger-api")
    assert after.text == repo.catalog_file.read_text()
    # the tfvars (its region) and the catalog once each, then the read-back of the write
    assert sorted(seen.values()) == [1, 1, 1]


def test_a_catalog_sync_never_writes_an_environments_tfvars(repo: Workspace) -> None:
    """An adopted entry's tfvars form carries import markers the catalog does not: the sync
    fills in the catalog's URL and leaves the tfvars byte for byte."""
    adopted = policy.build_request(
        name="legacy-api",
        env="local",
        owner="app-team-legacy",
        risk="low",
        adopt=["repository"],
        ecr_name=True,
    )
    with Session(repo).at("local").transaction() as txn:
        txn.put(CatalogEntry(replace(adopted, adopt=())), adopted)
        txn.commit()
    before = repo.tfvars_file("local").read_text()
    assert '"repository"' in before
    FakeTerraform.states["local"] = state(repository("legacy-api", owner="app-team-legacy"))
    synced = sync_mod.sync(Session(repo).at("local"))
    assert repo.tfvars_file("local").read_text() == before
    assert [f.action for f in synced.files if f.path == "catalog/ecr-catalog.yaml"] == ["update"]
