"""A pull request cannot change an environment's registry-wide settings unseen (issue 23, item
2): `ci changes` (and so `ci plan`) refuses a change of aws_region or a registry_scan_type that
breaks its rule, instead of "nothing to plan". Runs git; no terraform."""

from __future__ import annotations

import pytest

from orchestrator.files.workspace import Workspace
from tests.gitrepo import commit, git, init_repo
from tests.helpers import cli


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ('aws_region  = "us-east-1"', 'aws_region  = "us-west-2"', "aws_region changes"),
        (
            'environment = "local"\n',
            'environment = "local"\nregistry_scan_type = "BASIC"\n',
            "BASIC",
        ),
    ],
)
def test_a_registry_wide_setting_change_is_refused_not_passed_as_nothing_to_plan(
    repo: Workspace, capsys: pytest.CaptureFixture[str], old: str, new: str, said: str
) -> None:
    init_repo(repo)
    git(repo, "checkout", "-q", "-b", "pr")
    tfvars = repo.tfvars_file("local")
    text = tfvars.read_text()
    assert old in text
    tfvars.write_text(text.replace(old, new, 1))
    commit(repo, "a setting")
    for command in ("changes", "plan"):
        result = cli(capsys, "ci", command, "--base", "development")
        assert result.code == 1, result.stdout
        assert said in result.stderr and "nothing to plan" not in result.stdout
