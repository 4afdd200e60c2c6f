"""ecrctl ci plan / apply end to end: a temporary git repository with a base and a pull request
commit, a GitHub event file, real terraform against the emulator."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from orchestrator.files import catalog, tfvars
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace
from tests.conftest import Aws
from tests.gitrepo import ci_apply, ci_plan, commit, event, git, init_repo, merge_pull_request
from tests.helpers import cli, create

SNAPSHOTS = Path(__file__).parent / "snapshots"
CI_ROLE = "arn:aws:iam::123456789012:role/ci-publisher"


def remove(ws: Workspace, name: str) -> None:
    """What a decommission pull request holds: the tfvars entry gone, the catalog entry marked."""
    tiers = tiers_file.load(ws.tiers_file)
    tf = tfvars.load(ws.tfvars_file("local"), "local")
    ws.tfvars_file("local").write_text(tf.without_entry(name))
    cat = catalog.load(ws.catalog_file, tiers)
    entry = catalog.with_status(
        cat.entries[name], "decommissioned", decommissioned_at="2026-11-20T10:00:00Z"
    )
    ws.catalog_file.write_text(cat.with_entry(entry, tiers))


def names(aws: Aws) -> list[str]:
    repos = aws.client("ecr").describe_repositories()["repositories"]
    return sorted(r["repositoryName"] for r in repos)


def normalise(summary: str, ws: Workspace) -> str:
    """The summary without what changes from run to run: commit IDs and the temp path."""
    summary = summary.replace(str(ws.root), "<repo>")
    summary = re.sub(r"`[0-9a-f]{12}`", "`<sha>`", summary)
    return re.sub(r"\b[0-9a-f]{40}\b", "<sha>", summary)


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("ECRCTL_UPDATE_SNAPSHOTS") or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; ECRCTL_UPDATE_SNAPSHOTS=1 rewrites it"


def test_pull_request_adds_two_and_removes_one_then_merge_applies_it(
    local: Workspace,
    aws: Aws,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The base: legacy-web exists (applied), the catalog synced, all committed.
    create(capsys, "legacy-web")
    applied = cli(capsys, "apply", "legacy-web", "--env", "local", "--auto-approve")
    assert applied.code == 0, applied.stderr
    init_repo(local)
    # The pull request: two new repositories and legacy-web decommissioned.
    git(local, "checkout", "-q", "-b", "ecr/request")
    create(capsys, "api-gateway", "--push-principal", CI_ROLE, risk="high")
    create(capsys, "search-api", risk="medium")
    remove(local, "legacy-web")
    head = commit(local, "ECR request")
    event(tmp_path, monkeypatch, head)
    step_summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))

    listed = cli(capsys, "ci", "changes", "--base", "development", "--output", "json")
    assert listed.code == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert found["environments"] == ["local"]
    assert [(e["name"], e["change"]) for e in found["entries"]] == [
        ("api-gateway", "add"),
        ("legacy-web", "remove"),
        ("search-api", "add"),
    ]

    summary_file = tmp_path / "plan.md"
    result = ci_plan(capsys, summary_file, "--full-plan")
    plan = result["plans"]["local"]
    actions = {(c["repository"], c["action"]) for c in plan["changes"]}
    assert ("api-gateway", "create") in actions and ("search-api", "create") in actions
    assert ("legacy-web", "delete") in actions
    assert not any(a == "delete" for r, a in actions if r != "legacy-web")
    assert plan["guard"] == []
    # ONE plan for the environment, covering all three.
    record = json.loads(Path(plan["record"]).read_text())
    assert sorted(e["name"] for e in record["entries"]) == [
        "api-gateway",
        "legacy-web",
        "search-api",
    ]
    assert record["pull_request"]["head_sha"] == head
    assert record["fingerprint"] == plan["fingerprint"] == result["fingerprint"]
    summary = summary_file.read_text()
    assert step_summary.read_text().startswith(summary)
    assert "| `legacy-web` | remove | low | `app-team-legacy` |" in summary
    assert "<details><summary>Full plan for <code>local</code></summary>" in summary
    check_snapshot("ci-plan-summary.md", normalise(summary, local))
    assert names(aws) == ["legacy-web"]  # planning changed nothing

    # Merged into development with a merge commit; the apply job gets the closed event.
    merge = merge_pull_request(local, tmp_path, monkeypatch, head)
    done = ci_apply(capsys, merge, "--output", "json")
    assert done.code == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["refused"] is False and report["fingerprint"] == result["fingerprint"]
    assert names(aws) == ["api-gateway", "search-api"]
    assert "applied as reviewed" in step_summary.read_text()


def test_merge_whose_plan_no_longer_matches_the_review_is_refused(
    local: Workspace,
    aws: Aws,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    init_repo(local)
    git(local, "checkout", "-q", "-b", "ecr/request")
    create(capsys, "web-frontend")
    create(capsys, "search-api")
    head = commit(local, "ECR request")
    event(tmp_path, monkeypatch, head)
    reviewed = ci_plan(capsys)["fingerprint"]
    # Before the merge, someone applies web-frontend by hand: the state moves.
    assert cli(capsys, "apply", "web-frontend", "--env", "local", "--auto-approve").code == 0
    git(local, "checkout", "-q", "--", ".")  # the hand apply's catalog sync is not in the merge
    git(local, "clean", "-qfd", "catalog")
    merge = merge_pull_request(local, tmp_path, monkeypatch, head)
    summary_file = tmp_path / "apply.md"
    refused = ci_apply(capsys, merge, "--summary-file", str(summary_file), "--output", "json")
    assert refused.code == 1, refused.stderr
    assert "not the one reviewed" in refused.stderr
    report = json.loads(refused.stdout)
    assert report["refused"] is True and report["fingerprint"] != reviewed
    mismatch = report["mismatches"][0]
    assert "changed since it was reviewed" in mismatch["reason"]
    assert any("web-frontend" in line for line in mismatch["dropped"])
    assert not any("search-api" in line for line in mismatch["dropped"] + mismatch["added"])
    assert "refused, nothing was applied" in summary_file.read_text()
    assert names(aws) == ["web-frontend"]  # search-api was not applied

    # A human reviews the new plan and applies it with its fingerprint.
    accepted = ci_apply(capsys, merge, "--env", "local", "--fingerprint", report["fingerprint"])
    assert accepted.code == 0, accepted.stderr
    assert names(aws) == ["search-api", "web-frontend"]


def test_an_adoption_is_reviewed_as_imports_and_applied_on_merge(
    local: Workspace,
    aws: Aws,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ecr = aws.client("ecr")
    arn = ecr.create_repository(repositoryName="team/app", imageTagMutability="IMMUTABLE")[
        "repository"
    ]["repositoryArn"]
    init_repo(local)
    git(local, "checkout", "-q", "-b", "ecr/adopt")
    adopted = cli(
        capsys, "adopt", "team/app", "--env", "local", "--owner", "app-team-web", "--risk", "low"
    )
    assert adopted.code == 0, adopted.stderr
    head = commit(local, "Adopt team/app")
    event(tmp_path, monkeypatch, head)
    summary_file = tmp_path / "plan.md"
    plan = ci_plan(capsys, summary_file)["plans"]["local"]
    assert plan["guard"] == []
    assert {
        "address": 'module.ecr_repositories["team/app"].aws_ecr_repository.this',
        "action": "update",
        "repository": "team/app",
        "importing": True,
    } in plan["changes"]
    summary = summary_file.read_text()
    assert "| `team/app` | adopt | low | `app-team-web` | 1 import;" in summary
    assert "Conformance of <code>team/app</code> to the low tier: adoptable" in summary
    assert "| image_tag_mutability | IMMUTABLE | MUTABLE | in place |" in summary

    merge = merge_pull_request(local, tmp_path, monkeypatch, head, "ecr/adopt", 43)
    done = ci_apply(capsys, merge, "--output", "json")
    assert done.code == 0, done.stderr
    assert json.loads(done.stdout)["refused"] is False
    repo = ecr.describe_repositories(repositoryNames=["team/app"])["repositories"][0]
    assert repo["repositoryArn"] == arn and repo["imageTagMutability"] == "MUTABLE"
    # Apply-on-merge needs no commit: the import markers stay (a no-op once imported; the
    # empty plan after an adoption is checked in test_adopt.py).
    assert git(local, "status", "--porcelain", "envs") == ""


def test_a_registry_settings_only_change_is_planned_reviewed_and_applied_on_merge(
    local: Workspace,
    aws: Aws,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pull request that only adds a replication destination changes no repository entry: it
    is planned with the registry-wide targets alone, shown, and applied on merge as reviewed."""
    from orchestrator.files import scan_filters

    # The base: a high-tier repository (the tier requires replication) applied, no destination.
    create(capsys, "payments-gateway", risk="high")
    applied = cli(capsys, "apply", "payments-gateway", "--env", "local", "--auto-approve")
    assert applied.code == 0, applied.stderr
    init_repo(local)
    # The pull request: a DR region, and the filters ecrctl computes for it; nothing else.
    git(local, "checkout", "-q", "-b", "ecr/request")
    path = local.tfvars_file("local")
    text = path.read_text().replace(
        "ecr_repositories = {",
        'replication_destinations = [{ region = "us-west-2" }]\n\necr_repositories = {',
        1,
    )
    path.write_text(scan_filters.with_filters(text, path, "local", local_tiers(local)))
    head = commit(local, "Replicate local to us-west-2")
    event(tmp_path, monkeypatch, head)

    listed = cli(capsys, "ci", "changes", "--base", "development", "--output", "json")
    assert listed.code == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert found["environments"] == ["local"] and found["entries"] == []
    assert found["states"] == [{"env": "local", "state": "main", "repositories": []}]

    summary_file = tmp_path / "plan.md"
    result = ci_plan(capsys, summary_file)
    plan = result["plans"]["local"]
    assert plan["guard"] == []
    assert [(c["address"], c["action"]) for c in plan["changes"]] == [
        ("aws_ecr_replication_configuration.this[0]", "create")
    ]
    record = json.loads(Path(plan["record"]).read_text())
    assert record["entries"] == [] and record["fingerprint"] == result["fingerprint"]
    summary = summary_file.read_text()
    assert "replication_destinations: none → us-west-2" in summary
    assert "| *registry-wide* `aws_ecr_replication_configuration.this[0]` |" in summary
    assert "1 create" in summary
    assert "replication: 1 repository to us-west-2" in summary
    assert (
        "replicationConfiguration" not in aws.client("ecr").describe_registry()
        or not (aws.client("ecr").describe_registry()["replicationConfiguration"]["rules"])
    )  # planning changed nothing

    merge = merge_pull_request(local, tmp_path, monkeypatch, head)
    done = ci_apply(capsys, merge, "--output", "json")
    assert done.code == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["refused"] is False and report["fingerprint"] == result["fingerprint"]
    assert report["applied"] == {"local": ["aws_ecr_replication_configuration.this[0]"]}
    rules = aws.client("ecr").describe_registry()["replicationConfiguration"]["rules"]
    assert [
        (
            [(d["region"], d["registryId"]) for d in r["destinations"]],
            [f["filter"] for f in r["repositoryFilters"]],
        )
        for r in rules
    ] == [([("us-west-2", "123456789012")], ["payments-gateway"])]

    # Locally: a second destination, planned with no name (the registry-wide targets alone)
    # and applied from the saved plan.
    path.write_text(
        path.read_text().replace(
            '[{ region = "us-west-2" }]', '[{ region = "us-west-2" }, { region = "eu-west-1" }]'
        )
    )
    saved = tmp_path / "registry.tfplan"
    planned = cli(capsys, "plan", "--env", "local", "--registry", "--out", str(saved))
    assert planned.code == 0, planned.stderr
    assert "aws_ecr_replication_configuration.this[0]" in planned.stdout
    assert "replication: 1 repository to us-west-2, eu-west-1" in planned.stdout
    shown = cli(capsys, "apply", "--env", "local", "--plan", str(saved), "--no-sync")
    assert shown.code == 0, shown.stderr
    rules = aws.client("ecr").describe_registry()["replicationConfiguration"]["rules"]
    assert sorted(d["region"] for d in rules[0]["destinations"]) == ["eu-west-1", "us-west-2"]


def local_tiers(ws: Workspace) -> dict[str, object]:
    return dict(tiers_file.load(ws.tiers_file))
