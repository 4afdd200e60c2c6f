"""Every setting of an environment's tfvars outside ecr_repositories holds to a rule (issue 23,
item 2): `ecrctl validate` refuses one that breaks it, with its file and line. No process."""

from __future__ import annotations

import pytest

from orchestrator.files.workspace import Workspace
from tests.helpers import cli


def _validate_after(repo: Workspace, capsys: pytest.CaptureFixture[str], old: str, new: str) -> str:
    tfvars = repo.tfvars_file("dev")
    text = tfvars.read_text()
    assert old in text
    tfvars.write_text(text.replace(old, new, 1))
    result = cli(capsys, "validate", "--env", "dev")
    assert result.code != 0, result.stdout
    return result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        # BASIC turns continuous scanning off for every repository of the registry.
        ('environment = "dev"\n', 'environment = "dev"\nregistry_scan_type = "BASIC"\n', "BASIC"),
        # Terraform only warns about an undeclared variable, then ignores it.
        ('environment = "dev"\n', 'environment = "dev"\nregistry_scan_kind = "X"\n', "unknown"),
        ('environment = "dev"', 'environment = "prod"', "environment must be 'dev'"),
        ('aws_region  = "eu-west-2"', 'aws_region  = "EU West"', "aws_region must be"),
        # ecrctl's own: what it computes from the entries (none here), nothing else.
        (
            "ecr_repositories = {",
            'registry_scan_filters = ["a*"]\necr_repositories = {',
            "computes",
        ),
    ],
)
def test_validate_refuses_a_setting_that_breaks_its_rule(
    repo: Workspace, capsys: pytest.CaptureFixture[str], old: str, new: str, said: str
) -> None:
    out = _validate_after(repo, capsys, old, new)
    assert said in out and "envs/dev/terraform.tfvars:" in out


def test_validate_accepts_the_settings_as_shipped(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "validate")
    assert result.code == 0, result.stdout + result.stderr
    tfvars = repo.tfvars_file("dev")
    tfvars.write_text(tfvars.read_text() + 'registry_scan_type = "ENHANCED"\n')  # the default
    assert cli(capsys, "validate").code == 0
