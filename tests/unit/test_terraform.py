"""The terraform adapter with a faked binary (pytest-subprocess): arguments, errors, caching."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pytest_subprocess import FakeProcess

from orchestrator.adapters.terraform import Settings, Terraform
from orchestrator.errors import TerraformError
from orchestrator.files import hcl
from orchestrator.files.workspace import Workspace
from tests.helpers import cli, create

ENV = {"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "PATH": "/usr/bin"}


def planned(addr: str, action: str) -> str:
    return json.dumps(
        {
            "type": "planned_change",
            "@message": f"{addr}: Plan to {action}",
            "change": {"resource": {"addr": addr}, "action": action},
        }
    )


def test_plan_passes_one_target_per_name_as_separate_arguments(
    repo: Workspace, fp: FakeProcess
) -> None:
    tf = Terraform(repo, "dev", ENV, Settings())
    addr = 'module.ecr_repositories["alpha-svc"].aws_ecr_repository.this'
    fp.register(
        ["terraform", "plan", fp.any()],
        stdout="\n".join([planned(addr, "create"), '{"type": "change_summary"}', "not json"])
        + "\n",
    )
    changes = tf.plan(
        ['module.ecr_repositories["alpha-svc"]', 'module.ecr_repositories["bravo"]'],
        Path("/tmp/p.tfplan"),
        Path("/tmp/x.tfvars"),
    )
    argv = fp.calls[0]
    assert '-target=module.ecr_repositories["alpha-svc"]' in argv
    assert '-target=module.ecr_repositories["bravo"]' in argv
    assert "-out=/tmp/p.tfplan" in argv and "-input=false" in argv
    assert [(c.address, c.action, c.instance) for c in changes] == [(addr, "create", "alpha-svc")]


def test_failure_carries_command_exit_code_and_diagnostics(
    repo: Workspace, fp: FakeProcess
) -> None:
    tf = Terraform(repo, "dev", ENV, Settings())
    diag = {
        "type": "diagnostic",
        "diagnostic": {
            "severity": "error",
            "summary": "Saved plan is stale",
            "detail": "The given plan file can no longer be applied",
        },
    }
    fp.register(["terraform", "apply", fp.any()], stdout=json.dumps(diag) + "\n", returncode=1)
    with pytest.raises(TerraformError) as info:
        tf.apply(Path("/tmp/p.tfplan"))
    err = info.value
    assert err.exit_code == 3 and err.returncode == 1 and err.command[:2] == ["terraform", "apply"]
    assert "Saved plan is stale" in err.message and err.hint and "plan again" in err.hint


def test_a_state_terraform_could_not_save_is_flagged(repo: Workspace, fp: FakeProcess) -> None:
    tf = Terraform(repo, "dev", ENV, Settings())
    diags = [
        {"severity": "error", "summary": "creating KMS Key: connect: connection refused"},
        {
            "severity": "error",
            "summary": "Failed to save state",
            "detail": "Error saving state: failed to upload state",
        },
        {
            "severity": "error",
            "summary": "Failed to persist state to backend",
            "detail": "The error shown above has prevented Terraform from writing the updated"
            " state to the configured backend.",
        },
    ]
    stdout = "".join(json.dumps({"type": "diagnostic", "diagnostic": d}) + "\n" for d in diags)
    fp.register(["terraform", "apply", fp.any()], stdout=stdout, returncode=1)
    with pytest.raises(TerraformError) as info:
        tf.apply(Path("/tmp/p.tfplan"))
    assert info.value.state_saved is False
    assert "errored.tfstate" in (info.value.hint or "")
    assert info.value.message.startswith("terraform apply failed (exit 1): creating KMS Key")

    fp.register(
        ["terraform", "apply", fp.any()],
        stdout=json.dumps({"type": "diagnostic", "diagnostic": diags[0]}) + "\n",
        returncode=1,
    )
    with pytest.raises(TerraformError) as info:
        tf.apply(Path("/tmp/p.tfplan"))
    assert info.value.state_saved is True


def test_lock_failure_names_the_holder(repo: Workspace, fp: FakeProcess) -> None:
    tf = Terraform(repo, "dev", ENV, Settings())
    text = (
        "Error acquiring the state lock\n\nLock Info:\n  ID:        1234-abcd\n  Path: b/k\n"
        "  Who:       alice@ci-runner\n"
    )
    fp.register(["terraform", "plan", fp.any()], stderr=text, returncode=1)
    with pytest.raises(TerraformError) as info:
        tf.plan(["x"], Path("/tmp/p"), Path("/tmp/v"))
    assert "alice@ci-runner" in (info.value.hint or "") and "ecrctl unlock dev 1234-abcd" in (
        info.value.hint or ""
    )


# What terraform 1.11 says, as a -json diagnostic, when the S3 backend's native lock is held
# (captured against the emulator): the S3 error before "Lock Info:" has RequestID:/HostID:.
S3_LOCK_DETAIL = (
    "Error message: operation error S3: PutObject, https response error StatusCode: 412,"
    " RequestID: TGyjhDiDAP4jW8w389Ms5e1RAsoDNNuzSAzDxthW3JBQxAep1oEZ, HostID:"
    " 9Gjjt1m+cjU4OPvX9O9/8RuvnG41MRb/18Oux2o5H5MY7ISNTlXN+Dz9IG62/ILVxhAGI0qyPfg=, api error"
    " PreconditionFailed: At least one of the pre-conditions you specified did not hold\n"
    "Lock Info:\n  ID:        e4405cb9-01f8-7d32-f4a7-7a1035a6d090\n"
    "  Path:      ecrctl-local-tfstate/ecr/local/terraform.tfstate\n"
    "  Operation: OperationTypeApply\n  Who:       root@vm\n  Version:   1.11.4\n"
    "  Created:   2026-11-22 05:23:52.687422019 +0000 UTC\n  Info:      \n\n\n"
    "Terraform acquires a state lock to protect the state from being written\nby multiple users"
    " at the same time."
)


def test_s3_native_lock_failure_names_the_holder_and_its_lock_id(
    repo: Workspace, fp: FakeProcess
) -> None:
    tf = Terraform(repo, "local", ENV, Settings())
    diag = {
        "type": "diagnostic",
        "diagnostic": {
            "severity": "error",
            "summary": "Error acquiring the state lock",
            "detail": S3_LOCK_DETAIL,
        },
    }
    fp.register(["terraform", "apply", fp.any()], stdout=json.dumps(diag) + "\n", returncode=1)
    with pytest.raises(TerraformError) as info:
        tf.apply(Path("/tmp/p.tfplan"))
    hint = info.value.hint or ""
    assert "ecrctl unlock local e4405cb9-01f8-7d32-f4a7-7a1035a6d090" in hint
    assert "root@vm" in hint and "apply" in hint and "2026-11-22 05:23:52" in hint
    assert "TGyjhD" not in hint  # the S3 request ID is not the lock ID
    # One line: who holds which lock; not the Lock Info block again, nor S3's 412 cut short.
    assert info.value.message == (
        "terraform apply failed (exit 1): the state lock is held by root@vm, apply, since"
        " 2026-11-22 05:23:52.687422019 +0000 UTC (lock ID e4405cb9-01f8-7d32-f4a7-7a1035a6d090)"
    )


def _initialised(ws: Workspace, env: str) -> None:
    """What a real init leaves in the data dir: the backend it used and the module manifest."""
    data = ws.state_dir / "tf" / env
    (data / "modules").mkdir(parents=True, exist_ok=True)
    config = hcl.parse(ws.backend_file(env).read_text()).values
    (data / "terraform.tfstate").write_text(
        json.dumps({"backend": {"type": "s3", "config": config}})
    )
    modules = [{"Key": "", "Source": "", "Dir": "."}]
    (data / "modules" / "modules.json").write_text(json.dumps({"Modules": modules}))


def test_init_runs_once_until_its_inputs_change(repo: Workspace, fp: FakeProcess) -> None:
    fp.register(["terraform", "init", fp.any()], callback=lambda _p: _initialised(repo, "dev"))
    fp.register(["terraform", "init", fp.any()], callback=lambda _p: _initialised(repo, "dev"))
    tf = Terraform(repo, "dev", ENV, Settings())
    tf.init()
    tf.init()
    assert fp.call_count(["terraform", "init", fp.any()]) == 1
    backend = repo.backend_file("dev")
    backend.write_text(backend.read_text() + "\n# changed\n")
    tf.init()
    assert fp.call_count(["terraform", "init", fp.any()]) == 2


def test_init_without_a_provider_says_how_to_give_it_one(repo: Workspace, fp: FakeProcess) -> None:
    fp.register(
        ["terraform", "init", fp.any()],
        returncode=1,
        stderr="Error: Failed to query available provider packages\n\nCould not retrieve the list"
        " of available versions for provider hashicorp/aws: could not connect to"
        " registry.terraform.io",
    )
    with pytest.raises(TerraformError) as info:
        Terraform(repo, "dev", ENV, Settings()).init()
    assert "Failed to query available provider packages" in info.value.message
    assert "ECRCTL_PROVIDER_MIRROR" in (info.value.hint or "")


def test_mirror_setting_writes_a_cli_config(repo: Workspace, tmp_path: Path) -> None:
    tf = Terraform(repo, "dev", ENV, Settings(provider_mirror=tmp_path / "mirror"))
    config = Path(tf.environ["TF_CLI_CONFIG_FILE"]).read_text()
    assert "filesystem_mirror" in config and str(tmp_path / "mirror") in config
    assert tf.environ["CHECKPOINT_DISABLE"] == "1"


def test_apply_without_terminal_or_approval_runs_no_terraform(
    repo: Workspace, fp: FakeProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "apply", "alpha-svc", "--env", "dev")
    assert result.code == 1 and "--auto-approve" in result.stderr
    assert list(fp.calls) == []


def test_usage_errors_exit_2(repo: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "create", "x").code == 2
    assert cli(capsys, "no-such-command").code == 2


def test_apply_refuses_a_saved_plan_changed_after_planning(
    repo: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str], fp: FakeProcess
) -> None:
    plan = tmp_path / "p.tfplan"
    plan.write_bytes(b"plan")
    (tmp_path / "p.tfplan.json").write_text(json.dumps({"plan_sha256": "0" * 64, "env": "dev"}))
    result = cli(capsys, "apply", "--env", "dev", "--plan", str(plan))
    assert result.code == 1 and "changed after ecrctl planned it" in result.stderr
    assert list(fp.calls) == []  # refused before any terraform ran


@pytest.mark.parametrize("stray", ["{ x", "", "[]"])
def test_a_stray_terraform_tfstate_cannot_break_a_command(
    repo: Workspace, fp: FakeProcess, capsys: pytest.CaptureFixture[str], stray: str
) -> None:
    # python-terraform's constructor json-loads terraform.tfstate beside the configuration.
    (repo.terraform_dir / "terraform.tfstate").write_text(stray)
    fp.register(["terraform", "init", fp.any()])
    addr = 'module.ecr_repositories["alpha-svc"].aws_ecr_repository.this'

    def save_plan(process: Any) -> None:
        out = next(a for a in process.args if a.startswith("-out="))
        Path(out.removeprefix("-out=")).write_bytes(b"plan")

    fp.register(
        ["terraform", "plan", fp.any()], stdout=planned(addr, "create") + "\n", callback=save_plan
    )
    create(capsys, "alpha-svc", env="dev", owner="app-team-a")
    result = cli(capsys, "plan", "alpha-svc", "--env", "dev")
    assert result.code == 0, result.stderr
    assert [c[1] for c in fp.calls] == ["init", "plan"]
