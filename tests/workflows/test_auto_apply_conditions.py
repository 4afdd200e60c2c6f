"""ecr-auto-apply on the pull requests it must leave alone: nothing runs, nothing is applied."""

from __future__ import annotations

from pathlib import Path

from tests.workflows.harness import GitHub, Run


def assert_nothing_ran(run: Run) -> None:
    """No job started. act then aborts while planning the apply job, whose matrix it expands
    although its `needs` were skipped (GitHub skips the job without evaluating it): that error
    and no other."""
    assert "⭐ Run Set up job" not in run.log and run.jobs() == {}, run.log
    if run.code:
        assert "Error while evaluating matrix" in run.log, run.log


def _touch_tfvars(root: Path) -> None:
    tfvars = root / "envs" / "dev" / "terraform.tfvars"
    tfvars.write_text(tfvars.read_text() + "# a comment by hand\n")


def test_a_merged_pull_request_without_the_label_is_not_applied(github: GitHub) -> None:
    github.commit_on("unlabelled", "a hand edit", _touch_tfvars)
    pr = github.open_pull_request("unlabelled", 11, ["documentation"])
    merge = github.merge(pr)
    run = github.closed("ecr-auto-apply.yml", pr, merge)
    assert_nothing_ran(run)
    assert github.gh_calls() == []


def test_a_labelled_pull_request_closed_without_merging_is_not_applied(github: GitHub) -> None:
    github.commit_on("abandoned", "a hand edit", _touch_tfvars)
    pr = github.open_pull_request("abandoned", 12, ["ecr-registry"])
    event = {"action": "closed", "number": pr.number, "pull_request": pr.payload(merged=False)}
    run = github.run(
        "ecr-auto-apply.yml", "pull_request", event, sha=f"refs/pull/{pr.number}/merge"
    )
    assert_nothing_ran(run)
