"""The self-service flow, each workflow on the event that starts it in production.

One platform repository for the module (the runs build on each other, as on GitHub): a
Backstage dispatch opens the request's pull request, ecr-plan comments the plan on it, the merge
applies it and the sync workflow opens the catalog's pull request; then a re-run whose plan
differs, an access request, a sync on its own and the morning's drift report, in that order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.workflows.backstage import dispatched
from tests.workflows.conftest import fresh_github
from tests.workflows.harness import GitHub, PullRequest, Run

FORM = {
    "name": "payments-gateway",
    "owner": "app-team-payments",
    "risk": "medium",
    "replicate": "true",  # the medium tier allows it: ecr-request.yml passes --replicate
    "env": "dev",
}
ACCESS_FORM = {
    "name": "payments-gateway",
    "env": "dev",
    "principal": "arn:aws:iam::123456789012:role/deployer",
    "access": "pull",
    "reason": "the deployer pulls the release images",
}


def state_object(github: GitHub) -> bytes:
    got = github.aws("s3").get_object(Bucket="ecrctl-dev-tfstate", Key="ecr/dev/terraform.tfstate")
    return bytes(got["Body"].read())


def repositories(github: GitHub) -> list[str]:
    found = github.aws("ecr").describe_repositories()["repositories"]
    return sorted(r["repositoryName"] for r in found)


@dataclass
class Flow:
    github: GitHub
    request: Run
    pr: PullRequest
    plan: Run
    planned_before_merge: list[str]
    apply: Run


@pytest.fixture(scope="module")
def flow(
    tmp_path_factory: pytest.TempPathFactory,
    emulator_endpoint: str,
    platform_tree: Path,
) -> Flow:
    root = tmp_path_factory.mktemp("flow") / "github"
    github = fresh_github(root, emulator_endpoint, platform_tree)
    workflow, inputs = dispatched("ecr-request", FORM)
    request = github.dispatch(workflow, inputs)
    assert request.code == 0, request.log
    pull = github.pulls()["ecr-request/dev/payments-gateway"]
    pr = github.open_pull_request(pull["branch"], 7, pull["labels"], pull["title"])
    plan = github.pull_request("ecr-plan.yml", pr)
    planned_before_merge = repositories(github)
    merge = github.merge(pr)
    apply = github.closed("ecr-auto-apply.yml", pr, merge)
    return Flow(github, request, pr, plan, planned_before_merge, apply)


def test_the_backstage_request_opens_a_labelled_pull_request(flow: Flow) -> None:
    assert dispatched("ecr-request", FORM)[0] == flow.request.workflow == "ecr-request.yml"
    pull = flow.github.pulls()["ecr-request/dev/payments-gateway"]
    assert pull["base"] == "development" and pull["labels"] == ["ecr-registry"]
    assert pull["title"] == "ECR request: payments-gateway (medium risk) in dev"
    assert "by jane-platform" in pull["body"]
    assert sorted(pull["files"]) == ["catalog/ecr-catalog.yaml", "envs/dev/terraform.tfvars"]
    tfvars = flow.github.show(pull["head_sha"], "envs/dev/terraform.tfvars")
    assert '"payments-gateway" = {' in tfvars and '"app-team-payments"' in tfvars
    assert "    replicate       = true\n" in tfvars
    catalog = flow.github.show(pull["head_sha"], "catalog/ecr-catalog.yaml")
    assert "payments-gateway" in catalog and "      replicate: true\n" in catalog


def test_the_pull_request_gets_the_plan_and_its_fingerprint_in_one_comment(flow: Flow) -> None:
    assert flow.plan.code == 0, flow.plan.log
    assert flow.plan.jobs() == {
        "What the change asks for": "succeeded",
        "Plan dev main": "succeeded",
        "PR comment": "succeeded",
    }
    record = json.loads(
        (flow.plan.artifacts()["ecr-plan-dev-main"] / "plan-dev.main.json").read_text()
    )
    assert record["fingerprint"].startswith("sha256:")
    assert record["pull_request"]["head_sha"] == flow.pr.head_sha
    comment = flow.github.comment(flow.pr.number, "ecrctl-plan")
    assert comment and comment.count("<!-- ecrctl:ci-plan -->") == 1
    assert "payments-gateway" in comment and record["fingerprint"] in comment
    assert flow.planned_before_merge == []  # a plan applies nothing


def test_the_merge_applies_the_reviewed_plan_and_the_sync_opens_the_catalog_pull_request(
    flow: Flow,
) -> None:
    assert flow.apply.code == 0, flow.apply.log
    assert flow.apply.jobs() == {
        "What was merged": "succeeded",
        "Apply dev main": "succeeded",
        "Catalog sync dev/ECR Backstage sync/Sync dev": "succeeded",
    }
    assert repositories(flow.github) == ["payments-gateway"]
    # The reviewed record: the plan run of the pull request's head commit, its dev artifact.
    calls = flow.github.gh_calls()
    assert any(c[:2] == ["run", "list"] and flow.pr.head_sha in c for c in calls), calls
    download = [
        "run",
        "download",
        str(flow.plan.id),
        "--name",
        "ecr-plan-dev-main",
        "--dir",
        "reviewed",
    ]
    assert download in calls
    assert "dev/main: applied 3 change(s)" in flow.apply.job_log("Apply dev main")
    record = json.loads(
        (flow.plan.artifacts()["ecr-plan-dev-main"] / "plan-dev.main.json").read_text()
    )
    summary = flow.apply.summary("Apply dev main")
    assert "applied as reviewed" in summary and f"Fingerprint `{record['fingerprint']}`" in summary
    sync = flow.github.pulls()["ecr-catalog-sync/dev"]
    assert sync["labels"] == ["ecr-catalog-sync"] and sync["base"] == "development"
    entities = flow.github.show(
        sync["head_sha"], "catalog/resources/dev/ecr-registry-eu-west-2.yaml"
    )
    assert "payments-gateway" in entities and "app-team-payments" in entities


def test_a_rerun_whose_plan_differs_from_the_reviewed_one_applies_nothing(flow: Flow) -> None:
    github = flow.github
    before = state_object(github)
    merge = github.development()
    # The same merge again ("Re-run all jobs"): the state moved since the review (it holds the
    # repository now), so the plan is not the reviewed one.
    again = github.closed("ecr-auto-apply.yml", flow.pr, merge)
    assert again.code != 0
    log = again.job_log("Apply dev main")
    assert "the plan changed since it was reviewed" in log, log
    assert state_object(github) == before  # nothing applied
    # No sync after a failed apply (it used to run, and fail a second time or bury the error).
    assert again.jobs() == {"What was merged": "succeeded", "Apply dev main": "failed"}


def test_an_access_request_opens_a_pull_request_granting_the_principal(flow: Flow) -> None:
    github = flow.github
    workflow, inputs = dispatched("ecr-access", ACCESS_FORM)
    assert workflow == "ecr-access.yml"
    run = github.dispatch(workflow, inputs)
    assert run.code == 0, run.log
    branch = f"ecr-access/dev/payments-gateway/{run.id}"
    pull = github.pulls()[branch]
    assert pull["labels"] == ["ecr-registry"] and pull["base"] == "development"
    assert pull["title"] == "ECR access: pull on payments-gateway in dev"
    tfvars = github.show(pull["head_sha"], "envs/dev/terraform.tfvars")
    assert 'pull_principals = ["arn:aws:iam::123456789012:role/deployer"]' in tfvars
    catalog = github.show(pull["head_sha"], "catalog/ecr-catalog.yaml")
    assert "the deployer pulls the release images" in catalog


def test_the_sync_workflow_on_its_own_opens_the_catalog_pull_request(flow: Flow) -> None:
    run = flow.github.dispatch("ecr-backstage-sync.yml", {"env": "dev"})
    assert run.code == 0, run.log
    sync = flow.github.pulls()["ecr-catalog-sync/dev"]
    assert sync["run_id"] == str(run.id)
    assert sync["title"] == "Backstage catalog sync: dev"
    assert "payments-gateway" in flow.github.show(
        sync["head_sha"], "catalog/resources/dev/ecr-registry-eu-west-2.yaml"
    )


def test_the_morning_drift_report_fails_and_names_the_repository_and_the_fix(flow: Flow) -> None:
    github = flow.github
    # Behind Terraform's back: tags made immutable on a medium-tier (mutable) repository.
    github.aws("ecr").put_image_tag_mutability(
        repositoryName="payments-gateway", imageTagMutability="IMMUTABLE"
    )
    run = github.schedule("ecr-drift.yml")
    assert run.code != 0
    # One leg per environment (act reports one result for all legs: their steps tell them apart).
    assert run.steps("Drift dev main")["ecrctl drift"] == "failure"
    assert run.steps("Drift staging main")["ecrctl drift"] == "success"
    assert run.steps("Drift prod main")["ecrctl drift"] == "success"
    summary = run.summary("Drift dev main")
    assert "ECR drift in `dev`: ⚠️ drift found" in summary, run.log
    assert (
        "`payments-gateway`" in summary and "`ecrctl apply payments-gateway --env dev`" in summary
    )
    assert "image tag mutability IMMUTABLE, the medium tier wants MUTABLE" in summary
    assert "no drift" in run.summary("Drift staging main") and "no drift" in run.summary(
        "Drift prod main"
    )
