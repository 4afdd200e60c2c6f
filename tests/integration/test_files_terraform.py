"""Files ecrctl writes, read back by the real terraform (no AWS)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from orchestrator.files import hcl, tfvars
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
