"""Files ecrctl writes, read back by the real terraform (no AWS)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from orchestrator.files import hcl, tfvars
from orchestrator.rules import documents
from tests.helpers import TFVARS
from tests.unit.test_files import req


def test_written_tfvars_are_terraform_fmt_clean(tmp_path: Path) -> None:
    text = tfvars.parse(TFVARS, tmp_path / "t", "dev").with_entry(
        req(
            "mike-svc",
            description="Mixed: a/b @c",
            push_principals=["arn:aws:iam::123456789012:role/ci"],
        )
    )
    path = tmp_path / "terraform.tfvars"
    path.write_text(text)
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-diff", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def console(tmp_path: Path, config: str, values: list[str], expression: str) -> Any:
    """What `terraform console` evaluates `expression` to, with `var.v` set to `values` through a
    tfvars file ecrctl's renderer wrote (no provider needed)."""
    (tmp_path / "main.tf").write_text('variable "v" { type = list(string) }\n' + config + "\n")
    (tmp_path / "t.tfvars").write_text(f"v = {hcl.render_list(values)}\n")
    env = {
        "CHECKPOINT_DISABLE": "1",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "TF_DATA_DIR": str(tmp_path / ".tf"),
    }
    out = subprocess.run(
        ["terraform", "console", "-var-file=t.tfvars"],
        input=f"jsonencode({expression})\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0 and out.stdout.strip(), out.stderr
    return json.loads(json.loads(out.stdout))


def test_quote_reads_back_exactly_through_terraform(tmp_path: Path) -> None:
    """What Terraform itself reads from a quoted string equals the input (no provider needed)."""
    hostile = [
        'a"b',
        "back\\slash",
        "${var.x}",
        "%{ if true }x%{ endif }",
        "$${",
        "%%{",
        "line\nbreak\ttab",
        "uni ✓ ü",
        "$",
        "%",
    ]
    assert console(tmp_path, 'output "v" { value = var.v }', hostile, "var.v") == hostile
    assert hcl.parse(f"v = {hcl.render_list(hostile)}\n").values["v"] == hostile


def test_terraform_name_validations_are_ecrs_rule_as_policy_has_it(tmp_path: Path) -> None:
    """The root key validation and the module's name validation accept exactly policy.ECR_NAME."""
    import re

    from orchestrator.rules import policy

    root = Path(__file__).resolve().parents[2] / "terraform"
    patterns = [
        re.search(
            r'can\(regex\("(\^\[a-z0-9\][^"]*)", name\)\)', (root / "variables.tf").read_text()
        ),
        re.search(
            r'can\(regex\("(\^\[a-z0-9\][^"]*)", var\.name\)\)',
            (root / "modules" / "ecr" / "variables.tf").read_text(),
        ),
    ]
    assert all(patterns)
    names = ["team/app", "old_service", "a.b", "a__b", "a--b", "x/y/z-1", "payments-gateway"]
    names += ["Team/app", "team/", "/app", "a..b", "_a", "a_", "a b", "a___b", "a/-b"]
    checks = [
        f'p{i} = [for n in var.v : can(regex("{m.group(1)}", n))]'
        for i, m in enumerate(patterns)
        if m
    ]
    found = console(
        tmp_path, "locals {\n" + "\n".join(checks) + "\n}", names, "[local.p0, local.p1]"
    )
    expected = [bool(policy.ECR_NAME.fullmatch(n)) for n in names]
    assert found == [expected, expected]


def test_the_module_renders_the_lifecycle_and_key_policies_limits_measures(
    tmp_path: Path,
) -> None:
    """Terraform's `local.lifecycle_policy` and `local.key_policy` of the module, byte for byte
    what limits.py renders (one `terraform console` on a copy of the module, no AWS)."""
    import os
    import shutil

    from orchestrator.files import tiers as tiers_file
    from tests.helpers import REPO

    module = REPO / "terraform" / "modules" / "ecr"
    work = tmp_path / "ecr"
    work.mkdir()
    for path in [*module.glob("*.tf"), module / "risk-tiers.json"]:
        shutil.copy(path, work)
    mirror = os.environ["ECRCTL_PROVIDER_MIRROR"]
    (tmp_path / "cli.tfrc").write_text(
        f'provider_installation {{\n  filesystem_mirror {{ path = "{mirror}" }}\n}}\n'
    )
    env = {
        "CHECKPOINT_DISABLE": "1",
        "PATH": os.environ["PATH"],
        "TF_DATA_DIR": str(tmp_path / ".tf"),
        "TF_CLI_CONFIG_FILE": str(tmp_path / "cli.tfrc"),
        # Nothing here reaches AWS (-backend=false, console); the suite's guard wants a local one.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    subprocess.run(
        ["terraform", "init", "-backend=false", "-input=false"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    variables = {
        "name": "a-b",
        "registry_id": "REGISTRY_A",
        "owner": "app-team-a",
        "risk": "high",
        "environment": "dev",
        "account_id": "123456789012",
        "region": "ap-southeast-4",
    }
    out = subprocess.run(
        ["terraform", "console", *(f"-var={k}={v}" for k, v in variables.items())],
        input="jsonencode([local.lifecycle_policy, local.key_policy])\n",
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    lifecycle, key_policy = json.loads(json.loads(out.stdout))
    tiers = tiers_file.load(module / "risk-tiers.json")
    assert lifecycle == documents.lifecycle_policy_json(tiers["high"])
    assert key_policy == documents.key_policy_json("123456789012", "ap-southeast-4")
