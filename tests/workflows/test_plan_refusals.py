"""ecr-plan on a pull request that ecrctl refuses: a comment that says why, a failed check."""

from __future__ import annotations

from pathlib import Path

from tests.workflows.harness import REPO, GitHub


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


def test_a_change_outside_what_ecrctl_manages_is_refused_on_the_pull_request(
    github: GitHub,
) -> None:
    def edit(root: Path) -> None:
        (root / "terraform" / "extra.tf").write_text("# not a registry change\n")
        tfvars = root / "envs" / "dev" / "terraform.tfvars"
        tfvars.write_text(tfvars.read_text() + "# touched\n")

    github.commit_on("outside", "a terraform file too", edit)
    pr = github.open_pull_request("outside", 9, ["ecr-registry"])
    run = github.pull_request("ecr-plan.yml", pr)
    assert run.code != 0
    comment = github.comment(9, "ecrctl-plan")
    assert comment and "terraform/extra.tf" in comment
