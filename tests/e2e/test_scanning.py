"""End to end: a 250-repository fleet (50/30/20 low/medium/high) whose continuous-scan
repositories outnumber ECR's 100 filters per rule, planned and applied once on the emulator."""

from __future__ import annotations

import json
import random

import pytest

from orchestrator.context import Environment
from orchestrator.files import tfvars
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace
from orchestrator.ops import plan as plan_op
from orchestrator.rules import documents, limits, scanning
from tests.conftest import Aws
from tests.helpers import cli, create_entry

CI_ROLE = "arn:aws:iam::123456789012:role/ci-publisher"
DEPLOY_ROLE = "arn:aws:iam::123456789012:role/deployer"


def _fleet() -> dict[str, str]:
    """250 product-based names, 25 products of 10 components; 125 low, 75 medium, 50 high.

    Products 0-1 are all medium/high, so their product prefix over-scans nothing; the others
    mix tiers, so some low repositories must share a filter with their product's others.
    """
    names = [f"prod{p:02d}-comp{c}" for p in range(25) for c in range(10)]
    first = ["high", "medium"] * 10  # products 0-1
    rest = ["low"] * 125 + ["medium"] * 65 + ["high"] * 40
    random.Random(12).shuffle(rest)
    return dict(zip(names, first + rest, strict=True))


def test_a_fleet_past_100_continuous_scan_repositories_plans_applies_and_is_covered(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = _fleet()
    counts = {r: sum(v == r for v in fleet.values()) for r in ("low", "medium", "high")}
    assert counts == {"low": 125, "medium": 75, "high": 50}
    for name, risk in sorted(fleet.items()):
        principals = {"push_principals": [CI_ROLE], "pull_principals": [DEPLOY_ROLE]}
        create_entry(local, name, risk=risk, **(principals if name == "prod00-comp0" else {}))
    tiers = tiers_file.load(local.tiers_file)
    tf = tfvars.load(local.tfvars_file("local"), "local")
    written = (tf).scan_filters
    continuous = sorted(n for n, r in fleet.items() if r != "low")
    expected = scanning.cover(continuous, [n for n in fleet if n not in continuous])
    assert written == list(expected.filters) and len(written) <= 100
    assert expected.over_scanned, "the fleet is meant to force some over-scan"

    result = cli(capsys, "apply", *sorted(fleet), "--env", "local", "--auto-approve", "--no-sync")
    assert result.code == 0, result.stderr[-3000:]
    # The plan shown says which repositories get more scanning than their tier, and why.
    for name, hit in expected.over_scanned.items():
        assert f"{name}: continuous scan (tier asks for scan on push), matched by {hit!r}" in (
            result.stdout
        )

    ecr = aws.client("ecr")
    config = ecr.get_registry_scanning_configuration()["scanningConfiguration"]
    assert config["scanType"] == "ENHANCED"
    assert len(config["rules"]) <= limits.LIMIT["scan-rules"].max
    rules = {r["scanFrequency"]: r["repositoryFilters"] for r in config["rules"]}
    filters = [f["filter"] for f in rules["CONTINUOUS_SCAN"]]
    assert sorted(filters) == written
    assert len(filters) <= limits.LIMIT["scan-filters"].max
    assert all(len(f) <= limits.LIMIT["scan-filter"].max for f in filters)
    for name in continuous:  # as ECR reads the filters it holds
        assert any(scanning.matches(f, name) for f in filters), name
    over = {
        n for n in fleet if n not in continuous and any(scanning.matches(f, n) for f in filters)
    }
    assert over == set(expected.over_scanned)
    assert [f["filter"] for f in rules["SCAN_ON_PUSH"]] == ["*"]

    names = set()
    for page in ecr.get_paginator("describe_repositories").paginate():
        names |= {r["repositoryName"] for r in page["repositories"]}
    assert names == set(fleet)
    aliases = {a["AliasName"] for a in aws.client("kms").list_aliases()["Aliases"]}
    assert {f"alias/ecr/{n}" for n, r in fleet.items() if r == "high"} <= aliases
    # The repository policy is the JSON limits.py measures against AWS's 10,240 characters.
    text = ecr.get_repository_policy(repositoryName="prod00-comp0")["policyText"]
    request = tf.entries["prod00-comp0"]
    assert text == documents.repository_policy_json(request)
    lifecycle = ecr.get_lifecycle_policy(repositoryName="prod00-comp0")["lifecyclePolicyText"]
    assert lifecycle == documents.lifecycle_policy_json(tiers["high"])


def test_plan_lists_unmanaged_repositories_a_filter_matches(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ecrctl plan --unmanaged`: one DescribeRepositories call on the emulator (the plan itself
    is stubbed here: the 250-repository test above runs the real one)."""
    from orchestrator.models import PlanResult

    for name, risk in (("shop-api", "high"), ("shop-web", "low")):
        create_entry(local, name, owner="app-team-shop", risk=risk)
    ecr = aws.client("ecr")
    for name in ("shop-api-legacy", "other-thing"):  # created outside ecrctl
        ecr.create_repository(repositoryName=name)

    def plan(ctx: Environment, names: list[str], *_: object, **__: object) -> object:
        return PlanResult(ctx.env, (), tuple(names), local.root / "x.tfplan", ()), []

    monkeypatch.setattr(plan_op, "plan", plan)
    result = cli(capsys, "plan", "shop-api", "--env", "local", "--unmanaged", "--output", "json")
    assert result.code == 0, result.stderr
    scan = json.loads(result.stdout)["scanning"]
    assert scan["filters"] == ["shop-api*"]
    assert scan["over_scanned"] == {}
    assert scan["unmanaged_matched"] == {"shop-api-legacy": "shop-api*"}
