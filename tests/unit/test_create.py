"""ecrctl create through the CLI: both files or neither, idempotent, refusals write nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from orchestrator.errors import EXIT_BUG
from orchestrator.files import tfvars as tfvars_file
from orchestrator.files.workspace import Workspace
from orchestrator.ops import create as create_op
from tests.helpers import cli, create_args, create_entry, disk_full_for, snapshot

CREATE = create_args("payments-gateway", env="dev", risk="high")
# Names and environments a create refuses.
BAD_NAMES = ['pay"ments', "pay${x}", "pay%{x}", "pay\nments", "Payments", "../../etc", "p"]
BAD_ENVS = ["../prod", "/etc", "qa"]


def test_create_writes_catalog_and_tfvars(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, *CREATE, "--push-principal", "arn:aws:iam::123456789012:role/ci")
    assert result.code == 0, result.stderr
    catalog = repo.catalog_file.read_text()
    assert '"payments-gateway":' in catalog and 'environment: "dev"' in catalog
    assert 'encryption: "KMS"' in catalog and "keep_image_count: 50" in catalog
    tfvars = repo.tfvars_file("dev").read_text()
    assert '"payments-gateway" = {' in tfvars and 'risk            = "high"' in tfvars
    assert cli(capsys, "validate").code == 0


def test_same_request_again_changes_nothing(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, *CREATE).code == 0
    before = snapshot(repo.root)
    again = cli(capsys, *CREATE, "--output", "json")
    assert again.code == 0 and '"catalog_changed": false' in again.stdout
    assert snapshot(repo.root) == before


def test_same_name_with_other_attributes_is_refused(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, *CREATE).code == 0
    before = snapshot(repo.root)
    result = cli(capsys, *CREATE[:-1], "low")
    assert result.code == 1
    assert 'risk "high" -> "low"' in result.stderr and "Traceback" not in result.stderr
    assert snapshot(repo.root) == before


def test_dry_run_writes_nothing(repo: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(repo.root)
    result = cli(capsys, *CREATE, "--dry-run")
    assert result.code == 0 and "would add" in result.stdout
    assert snapshot(repo.root) == before


@pytest.mark.parametrize(
    "args",
    [
        *(create_args(name, env="dev", owner="app-team-x") for name in BAD_NAMES),
        *(create_args("payments", env=env, owner="app-team-x") for env in BAD_ENVS),
        create_args("payments", env="dev", owner="app-team-x", risk="extreme"),
        create_args("payments", env="dev", owner="payments"),
        create_args("payments", "--id", "X", env="dev", owner="app-team-x"),
    ],
)
def test_bad_input_is_one_line_exit_1_and_writes_nothing(
    repo: Workspace, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    before = snapshot(repo.root)
    result = cli(capsys, *args)
    assert result.code == 1
    assert result.stderr.startswith("ecrctl: error: ") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2  # the error and its hint
    assert snapshot(repo.root) == before


def test_environment_symlink_out_of_envs_is_refused(
    repo: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "terraform.tfvars").write_text("ecr_repositories = {}\n")
    (repo.envs_dir / "sneaky").symlink_to(outside)
    result = cli(
        capsys, "create", "payments", "--env", "sneaky", "--owner", "app-team-x", "--risk", "low"
    )
    assert result.code == 1 and "sneaky" in result.stderr
    assert (outside / "terraform.tfvars").read_text() == "ecr_repositories = {}\n"


def test_hand_broken_tfvars_is_named_with_its_line(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    path = repo.tfvars_file("dev")
    path.write_text(
        path.read_text().replace("ecr_repositories = {", 'ecr_repositories = {\n  "x" = "${oops}"')
    )
    before = snapshot(repo.root)
    result = cli(capsys, *CREATE)
    assert result.code == 1 and "envs/dev/terraform.tfvars:" in result.stderr
    assert snapshot(repo.root) == before


def test_failed_second_write_rolls_back_the_first(
    repo: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(repo.root)
    disk_full_for(monkeypatch, "terraform.tfvars")
    with pytest.raises(OSError):
        create_entry(repo, "payments-gateway", env="dev", owner="app-team-pay")
    assert snapshot(repo.root) == before


def test_validate_lists_every_problem(repo: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, *CREATE).code == 0
    dev = repo.tfvars_file("dev")
    dev.write_text(
        dev.read_text().replace(
            'owner           = "app-team-payments"', 'owner           = "app-team-other"'
        )
    )
    staging = repo.tfvars_file("staging")
    staging.write_text(
        staging.read_text().replace(
            "ecr_repositories = {",
            'ecr_repositories = {\n  "stray-svc" = {\n    id    = "REGISTRY_STRAY_SVC"\n    owner = "app-team-x"\n    risk  = "low"\n  }',
        )
    )
    result = cli(capsys, "validate")
    assert result.code == 1
    assert (
        "envs/dev/terraform.tfvars:" in result.stdout
        and "differs from the catalog" in result.stdout
    )
    assert (
        "envs/staging/terraform.tfvars:" in result.stdout
        and "'stray-svc' is not in" in result.stdout
    )


def test_validate_names_the_file_of_a_problem_once(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = repo.tfvars_file("dev")
    dev.write_text(dev.read_text() + 'registry_scan_filters = "payments*"\n')
    staging = repo.tfvars_file("staging")
    staging.write_text(staging.read_text().replace('risk  = "low"', 'risk  = "extreme"'))
    staging.write_text(
        staging.read_text().replace(
            "ecr_repositories = {",
            'ecr_repositories = {\n  "stray-svc" = {\n    id    = "REGISTRY_STRAY_SVC"\n'
            '    owner = "app-team-x"\n    risk  = "extreme"\n  }',
        )
    )
    result = cli(capsys, "validate")
    assert result.code == 1
    line = len(dev.read_text().splitlines())
    assert (
        f"envs/dev/terraform.tfvars:{line}: registry_scan_filters must be a list of strings\n"
        in result.stdout
    )
    assert "envs/staging/terraform.tfvars:9: entry 'stray-svc': risk 'extreme'" in result.stdout
    assert str(repo.root) not in result.stdout, result.stdout


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_error_is_one_line_unless_ecrctl_debug_asks_for_the_traceback(
    repo: Workspace,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    debug: bool,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(create_op, "create", broken)
    if debug:
        monkeypatch.setenv("ECRCTL_DEBUG", "1")
    else:
        monkeypatch.delenv("ECRCTL_DEBUG", raising=False)
    result = cli(capsys, *CREATE)
    assert result.code == EXIT_BUG
    assert "ecrctl: error: unexpected RuntimeError: boom" in result.stderr
    assert ("Traceback (most recent call last)" in result.stderr) is debug


def test_a_write_that_would_not_read_back_is_ecrctls_bug_and_writes_nothing(
    repo: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A renderer that loses a field: the transaction's read-back must catch it before writing.
    real = tfvars_file.render_entry
    monkeypatch.setattr(
        tfvars_file,
        "render_entry",
        lambda request: real(dataclasses.replace(request, owner="app-team-someone-else")),
    )
    before = snapshot(repo.root)
    result = cli(capsys, *CREATE)
    assert result.code == EXIT_BUG
    assert (
        "internal error: nothing was written" in result.stderr and "bug in ecrctl" in result.stderr
    )
    assert snapshot(repo.root) == before
