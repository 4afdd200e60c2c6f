"""The terraform wrapper with real processes: a missing binary, a fake terraform interrupted."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from orchestrator.adapters.terraform import Settings, Terraform
from orchestrator.errors import Interrupted, TerraformError
from orchestrator.files.workspace import Workspace

ENV = {"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "PATH": "/usr/bin"}


FAKE_TERRAFORM = """\
import json, os, signal, sys

stopping = False


def stop(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGINT, stop)
completed = open(os.environ["FAKE_COMPLETED"], "w")


def apply(i):
    for kind in ("apply_start", "apply_complete"):
        hook = {"resource": {"addr": f"r{i}"}}
        print(json.dumps({"type": kind, "@message": f"r{i}: {kind}", "hook": hook}), flush=True)
    completed.write(f"r{i}\\n")
    completed.flush()


i = 0
while not stopping:
    apply(i)
    i += 1
    if i == 40:  # Ctrl-C for ecrctl while this output streams
        os.kill(os.getppid(), signal.SIGINT)
apply(i)  # what was in flight when the interrupt came
sys.exit(1)
"""


def test_missing_binary_is_a_clear_error(repo: Workspace) -> None:
    tf = Terraform(repo, "dev", ENV, Settings(binary="/nonexistent/terraform"))
    with pytest.raises(TerraformError) as info:
        tf.force_unlock("0e1f")
    assert "not found" in info.value.message and "ECRCTL_TERRAFORM" in (info.value.hint or "")


def test_ctrl_c_while_terraform_reports_progress_loses_none_of_it(
    repo: Workspace, tmp_path: Path
) -> None:
    """The report after Ctrl-C is read from terraform's output: every line of it must arrive.

    The fake terraform interrupts ecrctl (this process) while it streams, then stops once ecrctl
    passes the interrupt on. A KeyboardInterrupt inside a read of the pipe drops what that read
    held; many trials, because where the interrupt lands varies.
    """
    binary = tmp_path / "terraform"
    binary.write_text(f"#!{sys.executable}\n{FAKE_TERRAFORM}")
    binary.chmod(0o755)
    completed = tmp_path / "completed"
    env = {**ENV, "FAKE_COMPLETED": str(completed)}
    tf = Terraform(repo, "dev", env, Settings(binary=str(binary)))
    for _trial in range(30):
        with pytest.raises(Interrupted) as info:
            tf.apply(Path("/tmp/p.tfplan"), ["r0"])
        report = re.match(
            r"interrupted during terraform apply; applied before stopping: (.*?);",
            info.value.message,
        )
        assert report, info.value.message
        assert report.group(1).split(", ") == completed.read_text().split()
