"""End to end on the emulator: replication, governed (issue 21, item 1). One environment, one
flow: the environment declares a DR region and a source account it lets in; a high-tier request
replicates there (the registry's replication configuration as the emulator then holds it,
through DescribeRegistry), a tier change adds a repository and another removes it, and drift
finds the configuration changed behind Terraform's back, with its fix."""

from __future__ import annotations

import json

import pytest
import yaml

from orchestrator.files import tfvars
from orchestrator.files.workspace import Workspace
from orchestrator.rules import replication
from tests.conftest import Aws
from tests.helpers import cli, create

ACCOUNT = "123456789012"  # moto's account
DR = "us-west-2"  # envs/local is us-east-1
SOURCE = "210987654321"  # another account allowed to replicate into this registry


def _declare(local: Workspace) -> None:
    """The reviewed settings, as a platform engineer writes them into envs/local."""
    path = local.tfvars_file("local")
    text = path.read_text()
    head = f'account_id  = "{ACCOUNT}"\nreplication_destinations = [{{ region = "{DR}" }}]\n'
    head += f'replication_sources = ["{SOURCE}"]\n\n'
    path.write_text(text.replace("ecr_repositories = {", head + "ecr_repositories = {", 1))


def _held(aws: Aws) -> list[tuple[list[tuple[str, str]], list[str]]]:
    """The registry's replication rules as the emulator holds them: (destinations, filters)."""
    found = aws.client("ecr").describe_registry()
    assert found["registryId"] == ACCOUNT
    return [
        (
            [(d["region"], d["registryId"]) for d in rule["destinations"]],
            sorted(f["filter"] for f in rule["repositoryFilters"]),
        )
        for rule in found["replicationConfiguration"]["rules"]
        if all(f["filterType"] == "PREFIX_MATCH" for f in rule["repositoryFilters"])
    ]


def _apply(capsys: pytest.CaptureFixture[str], *names: str) -> str:
    result = cli(capsys, "apply", *names, "--env", "local", "--auto-approve", "--no-sync")
    assert result.code == 0, result.stderr[-3000:]
    return result.stdout


def test_replication_follows_the_tier_table_and_drift_finds_it_changed(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    _declare(local)
    assert cli(capsys, "validate").code == 0
    create(capsys, "payments-gateway", risk="high")  # the tier requires replication
    create(capsys, "payments-ui", risk="low")  # the tier never replicates
    create(capsys, "search-api", risk="medium")  # the tier allows it; not asked
    tf = tfvars.load(local.tfvars_file("local"), "local")
    assert tf.replication_filters == ["payments-gateway"]

    shown = _apply(capsys, "payments-gateway", "payments-ui", "search-api")
    assert f"replication: 1 repository to {DR}, by 1 prefix filter(s): payments-gateway" in shown
    assert "replicates to" in shown  # the reviewer's row in the settings table
    assert _held(aws) == [([(DR, ACCOUNT)], ["payments-gateway"])]
    # The registry policy that lets the source account replicate in.
    policy = json.loads(aws.client("ecr").get_registry_policy()["policyText"])
    statement = policy["Statement"][0]
    assert statement["Principal"] == {"AWS": [f"arn:aws:iam::{SOURCE}:root"]}
    assert sorted(statement["Action"]) == ["ecr:CreateRepository", "ecr:ReplicateImage"]

    # The Backstage entity shows where a repository replicates (from the state).
    assert cli(capsys, "catalog", "sync", "--env", "local").code == 0
    entities = [
        doc
        for path in sorted(local.catalog_dir.rglob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if isinstance(doc, dict) and doc.get("spec", {}).get("type") == "ecr-repository"
    ]
    places = {
        e["metadata"]["title"]: e["metadata"]["annotations"].get(
            "platform/replication-destinations"
        )
        for e in entities
    }
    assert places == {"payments-gateway": DR, "payments-ui": None, "search-api": None}

    # A tier change adds replication: low -> medium, asking for it.
    updated = cli(
        capsys, "update", "payments-ui", "--env", "local", "--risk", "medium", "--replicate"
    )
    assert updated.code == 0, updated.stderr
    _apply(capsys, "payments-ui")
    # payments-gateway and payments-ui share a product prefix, but two filters fit: the
    # narrowest cover replicates nothing more (search-api is not matched).
    assert _held(aws) == [([(DR, ACCOUNT)], ["payments-gateway", "payments-ui"])]

    # ... and removes it: medium -> low is refused while it asks, then done without the ask.
    refused = cli(capsys, "update", "payments-ui", "--env", "local", "--risk", "low")
    assert refused.code == 1 and "does not replicate" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) <= 2  # one line and its hint
    assert "Traceback" not in refused.stderr
    down = cli(capsys, "update", "payments-ui", "--env", "local", "--risk", "low", "--no-replicate")
    assert down.code == 0, down.stderr
    _apply(capsys, "payments-ui")
    assert _held(aws) == [([(DR, ACCOUNT)], ["payments-gateway"])]

    # Behind Terraform's back: the configuration replicates everything to another region.
    aws.client("ecr").put_replication_configuration(
        replicationConfiguration={
            "rules": [
                {
                    "destinations": [{"region": "eu-west-1", "registryId": ACCOUNT}],
                    "repositoryFilters": [{"filter": "pa", "filterType": "PREFIX_MATCH"}],
                }
            ]
        }
    )
    drifted = cli(capsys, "drift", "--env", "local", "--output", "json")
    assert drifted.code == 4, drifted.stderr
    findings = json.loads(drifted.stdout)["findings"]
    kinds = {(f["kind"], f["repository"]) for f in findings}
    assert ("replication", None) in kinds
    assert ("terraform", None) in kinds  # the refresh-only plan sees it too
    wrong = next(f for f in findings if f["kind"] == "replication")
    assert "eu-west-1" in wrong["detail"] and "payments-gateway" in wrong["detail"]
    assert wrong["remedy"].startswith("ecrctl apply payments-gateway --env local")
    # The fix puts it back.
    _apply(capsys, "payments-gateway")
    assert _held(aws) == [([(DR, ACCOUNT)], ["payments-gateway"])]
    assert replication.ADDRESS == "aws_ecr_replication_configuration.this[0]"
