"""Owners that resolve: `catalog sync` checks every owner against the platform's Groups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.files.workspace import Workspace
from orchestrator.ops import owners
from tests.backstage_model import catalog_entities
from tests.helpers import cli, snapshot
from tests.sync_fakes import (  # noqa: F401  (fake_terraform: autouse fixture)
    LOCAL_FILE,
    fake_terraform,
    three_tiers,
)


def group(name: str, namespace: str | None = None) -> str:
    ns = f"\n  namespace: {namespace}" if namespace else ""
    return (
        "---\napiVersion: backstage.io/v1alpha1\nkind: Group\n"
        f"metadata:\n  name: {name}{ns}\nspec:\n  type: team\n  children: []\n"
    )


def write_groups(ws: Workspace, *names: str, file: str = "teams.yaml") -> Path:
    path = ws.catalog_dir / "groups" / file
    path.parent.mkdir(exist_ok=True)
    path.write_text("".join(group(n) for n in names))
    return path


@pytest.fixture(autouse=True)
def no_groups_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(owners.GROUPS_VARIABLE, raising=False)


def test_an_owner_with_no_group_is_reported_and_fails_check(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    three_tiers(repo)  # owners app-team-web, app-team-search, app-team-payments
    write_groups(repo, "platform-team", "app-team-web", "app-team-search")
    synced = cli(capsys, "catalog", "sync", "--env", "local")
    assert synced.code == 0, synced.stderr
    expected = (
        "unresolved owner: group:app-team-payments (owner of"
        " resource:ecr-repo-payments-gateway.local.us-east-1): no such Group in the catalog"
    )
    assert expected in synced.stderr
    assert "catalog/groups/" in synced.stderr  # where to add it
    # Written all the same (the count stays true), and the entity says who it names.
    repos = {e["metadata"]["title"]: e for e in catalog_entities(repo.catalog_dir)[LOCAL_FILE][1:]}
    assert repos["payments-gateway"]["spec"]["owner"] == "group:app-team-payments"
    # Up to date, but --check fails on the owner, and says so; it changes nothing.
    before = snapshot(repo.root, tree=True)
    checked = cli(capsys, "catalog", "sync", "--env", "local", "--check", "--output", "json")
    assert checked.code == 1
    report = json.loads(checked.stdout)
    assert report["up_to_date"] is True and report["owners_checked"] is True
    assert report["unresolved_owners"] == [
        "group:app-team-payments (owner of resource:ecr-repo-payments-gateway.local.us-east-1)"
    ]
    assert snapshot(repo.root, tree=True) == before
    # The platform adds the Group: nothing is unresolved any more.
    write_groups(repo, "platform-team", "app-team-web", "app-team-search", "app-team-payments")
    again = cli(capsys, "catalog", "sync", "--env", "local", "--check")
    assert again.code == 0, again.stdout + again.stderr
    assert "unresolved" not in again.stderr


def test_the_platform_team_must_resolve_too(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    three_tiers(repo)
    write_groups(repo, "app-team-web", "app-team-search", "app-team-payments")
    checked = cli(capsys, "catalog", "sync", "--env", "local", "--output", "json")
    assert checked.code == 0
    (unresolved,) = json.loads(checked.stdout)["unresolved_owners"]
    assert unresolved == (
        "group:platform-team (owner of component:ecr-registry, domain:delivery,"
        " resource:ecr-registry.local.us-east-1, system:container-registry)"
    )


def test_groups_kept_elsewhere_are_named_by_a_setting(
    repo: Workspace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    three_tiers(repo)
    write_groups(repo, "platform-team")
    # An export of Backstage's own API (JSON, a by-query answer), and a checkout of YAML files.
    export = tmp_path / "groups.json"
    entities = [
        {"apiVersion": "backstage.io/v1alpha1", "kind": "Group", "metadata": {"name": n}}
        for n in ("app-team-web", "App-Team-Search")  # Backstage compares names case-blind
    ]
    export.write_text(json.dumps({"items": entities}))
    checkout = tmp_path / "org"
    checkout.mkdir()
    (checkout / "payments.yaml").write_text(group("app-team-payments"))
    (checkout / "elsewhere.yaml").write_text(group("app-team-nobody", namespace="other"))
    monkeypatch.setenv(owners.GROUPS_VARIABLE, f"{export}:{checkout}")
    checked = cli(capsys, "catalog", "sync", "--env", "local", "--output", "json")
    assert checked.code == 0, checked.stderr
    assert json.loads(checked.stdout)["unresolved_owners"] == []
    # Groups of this repository are listed by the root Location; those kept elsewhere are not.
    targets = catalog_entities(repo.catalog_dir)["all.yaml"][0]["spec"]["targets"]
    assert "./groups/teams.yaml" in targets
    assert not [t for t in targets if "org" in t or "json" in t]


def test_a_group_in_another_namespace_does_not_resolve_a_default_owner(repo: Workspace) -> None:
    write_groups(repo, "platform-team")
    (repo.catalog_dir / "groups" / "other.yaml").write_text(group("app-team-web", "other"))
    found = owners.load(repo, {})
    assert found is not None
    assert found.resolves("group:platform-team")
    assert found.resolves("group:default/Platform-Team")
    assert not found.resolves("group:app-team-web")
    assert found.resolves("group:other/app-team-web")


def test_without_any_groups_the_owners_are_not_checked_and_it_says_so(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    three_tiers(repo)
    synced = cli(capsys, "catalog", "sync", "--env", "local", "--output", "json")
    assert synced.code == 0
    report = json.loads(synced.stdout)
    assert report["owners_checked"] is False and report["unresolved_owners"] == []
    assert any("owners not checked" in w for w in report["warnings"])
    assert cli(capsys, "catalog", "sync", "--env", "local", "--check").code == 0


@pytest.mark.parametrize(
    ("setting", "content", "message"),
    [
        ("missing", None, "ECRCTL_BACKSTAGE_GROUPS: missing is neither a file nor a directory"),
        ("bad.yaml", "kind: [Group\n", "bad.yaml:2: not valid YAML"),
    ],
)
def test_a_broken_groups_source_is_one_error_and_changes_nothing(
    repo: Workspace,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    content: str | None,
    message: str,
) -> None:
    three_tiers(repo)
    if content is not None:
        (repo.root / setting).write_text(content)
    monkeypatch.setenv(owners.GROUPS_VARIABLE, setting)
    before = snapshot(repo.root, tree=True)
    result = cli(capsys, "catalog", "sync", "--env", "local")
    assert result.code == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(repo.root, tree=True) == before
