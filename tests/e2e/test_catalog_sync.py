"""End to end: the Backstage catalog written from real Terraform state on the emulator."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
import yaml

from orchestrator.adapters import terraform as terraform_mod
from orchestrator.context import Session
from orchestrator.files.workspace import Workspace
from tests.backstage_model import (
    all_entities,
    assert_relations_resolve,
    assert_valid,
    catalog_entities,
)
from tests.conftest import Aws
from tests.helpers import cli, create

REGISTRY_FILE = "resources/local/ecr-registry-us-east-1.yaml"
TIERS = {"web-frontend": "low", "search-api": "medium", "payments-gateway": "high"}


def _emulator_repositories(aws: Aws) -> dict[str, dict[str, Any]]:
    listed = aws.client("ecr").describe_repositories()["repositories"]
    return {r["repositoryName"]: r for r in listed}


def _registry(ws: Workspace) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    registry, *repos = catalog_entities(ws.catalog_dir)[REGISTRY_FILE]
    return registry, {r["metadata"]["title"]: r for r in repos}


def _assert_matches_emulator(ws: Workspace, aws: Aws) -> int:
    """The registry file counts, and points at, exactly what the emulator holds."""
    held = _emulator_repositories(aws)
    registry, repos = _registry(ws)
    assert registry["metadata"]["annotations"]["platform/repo-count"] == str(len(held))
    assert sorted(repos) == sorted(held)
    for name, entity in repos.items():
        annotations = entity["metadata"]["annotations"]
        assert annotations["platform/ecr-repository-url"] == held[name]["repositoryUri"]
        assert annotations["platform/ecr-repository-arn"] == held[name]["repositoryArn"]
        assert annotations["platform/aws-registry-id"] == held[name]["registryId"]
    catalogued = yaml.safe_load(ws.catalog_file.read_text())["repositories"]
    for name, repo in held.items():
        assert catalogued[name]["aws"]["repository_url"] == repo["repositoryUri"]
    entities = all_entities(ws.catalog_dir)
    assert_relations_resolve(entities, assert_valid(entities))
    return len(held)


def test_apply_syncs_a_valid_catalog_that_counts_what_exists(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, risk in TIERS.items():
        create(capsys, name, risk=risk)
    applied = cli(capsys, "apply", *TIERS, "--env", "local", "--auto-approve", "--output", "json")
    assert applied.code == 0, applied.stderr
    report = json.loads(applied.stdout)["catalog_sync"]
    assert report["repo_count"] == 3 and report["region"] == "us-east-1"
    assert _assert_matches_emulator(local, aws) == 3
    registry, repos = _registry(local)
    assert registry["metadata"]["annotations"]["platform/aws-account-id"] == "123456789012"
    assert {
        n: r["metadata"]["annotations"]["platform/risk-tier"] for n, r in repos.items()
    } == TIERS

    # One more repository, applied alone (-target), while another waits unapplied in the tfvars:
    # five entries, of which four exist. The catalog counts four.
    create(capsys, "orders-api")
    create(capsys, "ledger-api", risk="medium")
    targeted = cli(capsys, "apply", "orders-api", "--env", "local", "--auto-approve")
    assert targeted.code == 0, targeted.stderr
    assert "4 repositories in local" in targeted.stdout
    assert _assert_matches_emulator(local, aws) == 4
    # The state read straight from S3 is the state terraform itself pulls (which re-encodes it:
    # the order of its check results may differ, and ecrctl reads none of them).
    tf = Session(local).at("local").terraform()
    pulled = subprocess.run(
        [tf.settings.binary, "state", "pull"],
        cwd=local.terraform_dir,
        env=tf.environ,
        capture_output=True,
        text=True,
        check=True,
    )
    state, by_terraform = tf.state_pull(), json.loads(pulled.stdout)
    for read in (state, by_terraform):
        assert read.pop("check_results")
    assert state == by_terraform
    # No root output lists the repositories (it would go stale, and slow every targeted plan).
    assert set(state["outputs"]) == {"registry_scan_type"}
    ledger = yaml.safe_load(local.catalog_file.read_text())["repositories"]["ledger-api"]
    assert ledger["aws"]["repository_url"] == ""

    # Nothing new: a sync rewrites only platform/last-sync, and --check agrees.
    before = {p: d for p, d in catalog_entities(local.catalog_dir).items()}
    assert cli(capsys, "catalog", "sync", "--env", "local").code == 0
    after = catalog_entities(local.catalog_dir)
    for docs in (before[REGISTRY_FILE], after[REGISTRY_FILE]):
        docs[0]["metadata"]["annotations"].pop("platform/last-sync")
    assert after == before
    assert cli(capsys, "catalog", "sync", "--env", "local", "--check").code == 0


def test_sync_reads_only_the_state_and_apply_no_sync_leaves_the_catalog_behind(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    create(capsys, "web-frontend")
    quiet = cli(capsys, "apply", "web-frontend", "--env", "local", "--auto-approve", "--no-sync")
    assert quiet.code == 0, quiet.stderr
    assert not (local.catalog_dir / "resources").exists()
    stale = cli(capsys, "catalog", "sync", "--env", "local", "--check")
    assert stale.code == 1 and "would create" in stale.stdout

    import botocore.client

    calls: list[str] = []
    make_api_call = botocore.client.BaseClient._make_api_call

    def state_object_only(client: Any, operation: str, params: dict[str, Any]) -> Any:
        calls.append(f"{client.meta.service_model.service_name} {operation} {params.get('Key')}")
        if calls[-1] != "s3 GetObject ecr/local/terraform.tfstate":
            raise AssertionError(f"catalog sync called an AWS API: {calls[-1]}")
        return make_api_call(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", state_object_only)
    import urllib.request

    fetched: list[str] = []
    urlopen = urllib.request.urlopen

    def recording_urlopen(request: Any, *args: Any, **kwargs: Any) -> Any:
        fetched.append(f"{request.get_method()} {request.full_url}")
        return urlopen(request, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", recording_urlopen)
    commands: list[str] = []
    guarded = terraform_mod.subprocess.Popen

    def recording(cmd: Any, *args: Any, **kwargs: Any) -> Any:
        commands.append(" ".join(str(c) for c in cmd[1:3]))
        return guarded(cmd, *args, **kwargs)

    monkeypatch.setattr(terraform_mod.subprocess, "Popen", recording)
    synced = cli(capsys, "catalog", "sync", "--env", "local", "--output", "json")
    assert synced.code == 0, synced.stderr
    assert json.loads(synced.stdout)["repo_count"] == 1
    # The state object, read straight from the backend's bucket: no ECR API, no terraform run
    # (not even `state pull`, which hashes the provider package), so no provider is loaded; with
    # the emulator's keys in the environment, one signed GET and no boto3 call at all.
    assert calls == []
    endpoint = aws.endpoint.rstrip("/")
    assert fetched == [f"GET {endpoint}/ecrctl-local-tfstate/ecr/local/terraform.tfstate"]
    assert [c for c in commands if not c.startswith("init")] == []
    monkeypatch.undo()
    assert _assert_matches_emulator(local, aws) == 1


def test_an_environment_with_no_state_yet_is_one_error(
    local: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "catalog", "sync", "--env", "local")
    assert result.code == 1
    assert "local has no Terraform state yet" in result.stderr
    assert not (local.catalog_dir / "resources").exists()
