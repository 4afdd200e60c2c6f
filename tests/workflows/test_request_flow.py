"""The self-service flow, each workflow on the event that starts it in production: a Backstage
dispatch opens the request's pull request, ecr-plan comments the plan on it, the merge applies
it and the sync workflow opens the catalog's pull request."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import yaml

from tests.workflows.harness import REPO, GitHub, PullRequest

FORM = {"name": "payments-gateway", "owner": "app-team-payments", "risk": "medium", "env": "dev"}


def dispatched(template: str, parameters: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The workflow and inputs that the template's github:actions:dispatch step sends for a
    filled-in form (read from the template, not copied)."""
    path = REPO / "catalog" / "templates" / template / "template.yaml"
    (step,) = [
        s
        for s in yaml.safe_load(path.read_text())["spec"]["steps"]
        if s["action"] == "github:actions:dispatch"
    ]

    def render(value: Any) -> str:
        return re.sub(r"\$\{\{\s*parameters\.(\w+)\s*\}\}", lambda m: parameters[m[1]], str(value))

    assert step["input"]["branchOrTagName"] == "development"
    inputs = {name: render(value) for name, value in step["input"]["workflowInputs"].items()}
    return str(step["input"]["workflowId"]), inputs


def request(github: GitHub, form: dict[str, str], number: int) -> PullRequest:
    """The form sent through the template: the request's pull request, opened on GitHub."""
    workflow, inputs = dispatched("ecr-request", form)
    run = github.dispatch(workflow, inputs)
    assert run.code == 0, run.log
    branch = f"ecr-request/{form['env']}/{form['name']}"
    pull = github.pulls()[branch]
    return github.open_pull_request(branch, number, pull["labels"], pull["title"])


def ecr(github: GitHub) -> Any:
    return boto3.client(
        "ecr",
        endpoint_url=github.endpoint,
        region_name="eu-west-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def state_object(github: GitHub) -> bytes:
    s3 = boto3.client(
        "s3",
        endpoint_url=github.endpoint,
        region_name="eu-west-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    obj = s3.get_object(Bucket="ecrctl-dev-tfstate", Key="ecr/dev/terraform.tfstate")
    return bytes(obj["Body"].read())


def repositories(github: GitHub) -> list[str]:
    return sorted(r["repositoryName"] for r in ecr(github).describe_repositories()["repositories"])


def test_a_backstage_request_is_planned_on_its_pull_request_and_applied_on_merge(
    github: GitHub,
) -> None:
    # ecr-request.yml, dispatched with exactly the template's inputs.
    workflow, inputs = dispatched("ecr-request", FORM)
    assert workflow == "ecr-request.yml"
    run = github.dispatch(workflow, inputs)
    assert run.code == 0, run.log
    pull = github.pulls()["ecr-request/dev/payments-gateway"]
    assert pull["base"] == "development" and pull["labels"] == ["ecr-registry"]
    assert pull["title"] == "ECR request: payments-gateway (medium risk) in dev"
    assert sorted(pull["files"]) == ["catalog/ecr-catalog.yaml", "envs/dev/terraform.tfvars"]
    tfvars = github.show(pull["head_sha"], "envs/dev/terraform.tfvars")
    assert '"payments-gateway" = {' in tfvars and 'owner           = "app-team-payments"' in tfvars
    assert "payments-gateway" in github.show(pull["head_sha"], "catalog/ecr-catalog.yaml")
    pr = github.open_pull_request(pull["branch"], 7, pull["labels"], pull["title"])

    # ecr-plan.yml on the pull request: the matrix, the plan, the sticky comment.
    plan = github.pull_request("ecr-plan.yml", pr)
    assert plan.code == 0, plan.log
    assert plan.jobs() == {
        "What the change asks for": "succeeded",
        "Plan dev": "succeeded",
        "PR comment": "succeeded",
    }
    record = json.loads((plan.artifacts()["ecr-plan-dev"] / "plan-dev.json").read_text())
    assert record["fingerprint"].startswith("sha256:")
    comment = github.comment(7, "ecrctl-plan")
    assert comment and "payments-gateway" in comment and record["fingerprint"] in comment
    assert repositories(github) == []  # a plan applies nothing

    # ecr-auto-apply.yml on the merged, labelled pull request, and its sync workflow.
    merge = github.merge(pr)
    applied = github.closed("ecr-auto-apply.yml", pr, merge)
    assert applied.code == 0, applied.log
    assert applied.jobs() == {
        "What was merged": "succeeded",
        "Apply dev": "succeeded",
        "Catalog sync dev/ECR Backstage sync/Sync dev": "succeeded",
    }
    assert repositories(github) == ["payments-gateway"]
    # The reviewed record: the plan run of the pull request's head commit, its dev artifact.
    calls = github.gh_calls()
    assert any(c[:2] == ["run", "list"] and pr.head_sha in c for c in calls), calls
    assert ["run", "download", str(plan.id), "--name", "ecr-plan-dev", "--dir", "reviewed"] in calls
    assert "dev: applied 3 change(s)" in applied.job_log("Apply dev")
    sync = github.pulls()["ecr-catalog-sync/dev"]
    assert sync["labels"] == ["ecr-catalog-sync"] and sync["base"] == "development"
    entities = github.show(sync["head_sha"], "catalog/resources/dev/ecr-registry-eu-west-2.yaml")
    assert "payments-gateway" in entities and "app-team-payments" in entities


def test_a_hand_edit_outside_the_rules_gets_a_comment_that_says_why_and_a_failed_check(
    github: GitHub,
) -> None:
    def hand_edit(root: Path) -> None:
        tfvars = root / "envs" / "dev" / "terraform.tfvars"
        tfvars.write_text(tfvars.read_text() + '\nregistry_scan_filters = "payments*"\n')

    github.commit_on("hand-edit", "scan filters by hand", hand_edit)
    pr = github.open_pull_request("hand-edit", 8, ["ecr-registry"])
    run = github.pull_request("ecr-plan.yml", pr)
    assert run.code != 0  # the check fails
    # Nothing to plan: the plan job is skipped; the comment says why.
    assert run.jobs() == {"What the change asks for": "failed", "PR comment": "failed"}
    comment = github.comment(8, "ecrctl-plan")
    assert comment and "does not pass ecrctl validate" in comment
    # The problem names the file once, relative to the repository (ecrctl validate named it
    # twice, the second time with the runner's absolute path).
    line = len((REPO / "envs" / "dev" / "terraform.tfvars").read_text().splitlines()) + 2
    problem = f"envs/dev/terraform.tfvars:{line}: registry_scan_filters must be a list of strings"
    assert problem in comment, comment
    assert "hostexecutor" not in comment and comment.count("terraform.tfvars:") == 1, comment


def test_a_merge_whose_plan_differs_from_the_reviewed_one_applies_nothing(
    github: GitHub,
) -> None:
    pr = request(github, FORM, 9)
    plan = github.pull_request("ecr-plan.yml", pr)
    assert plan.code == 0, plan.log
    # Between review and merge someone applies the same change by hand: the state moved.
    merge = github.merge(pr)
    by_hand = github.closed("ecr-auto-apply.yml", pr, merge)  # first run: applies as reviewed
    assert by_hand.code == 0, by_hand.log
    state_before = state_object(github)
    # The merge's run again (a re-run, or a second merge of the same change): refused.
    again = github.closed("ecr-auto-apply.yml", pr, merge)
    assert again.code != 0
    log = again.job_log("Apply dev")
    assert "the plan changed since it was reviewed" in log, log
    assert state_object(github) == state_before  # nothing applied
    # The sync does not run after a failed apply (it used to, and failed a second time).
    assert again.jobs() == {"What was merged": "succeeded", "Apply dev": "failed"}
