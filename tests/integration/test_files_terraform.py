"""Files ecrctl writes, read back by the real terraform (no AWS)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from orchestrator.files import hcl, tfvars
from orchestrator.rules import documents, policy
from tests.helpers import REPO, TFVARS
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


def test_the_module_renders_the_lifecycle_key_and_repository_policies_limits_measures(
    tmp_path: Path,
) -> None:
    """Terraform's `local.lifecycle_policy`, `local.key_policy` and `local.repository_policy`
    (every kind of principal) of the module, byte for byte what documents.py renders and
    limits.py measures (one `terraform console` on a copy of the module, no AWS)."""
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
    # Every kind of principal: IAM ARNs (a role, an account root), organizations and services.
    push = ["arn:aws:iam::123456789012:role/ci"]
    pull = [
        "o-a1b2c3d4e5",
        "lambda.amazonaws.com",
        "arn:aws:iam::210987654321:root",
        "codebuild.amazonaws.com",
        "o-" + "z" * 32,
        "arn:aws:iam::123456789012:role/deployer",
    ]
    (work / "p.tfvars").write_text(
        f"push_principals = {hcl.render_list(push)}\npull_principals = {hcl.render_list(pull)}\n"
    )
    out = subprocess.run(
        [
            "terraform",
            "console",
            "-var-file=p.tfvars",
            *(f"-var={k}={v}" for k, v in variables.items()),
        ],
        input="jsonencode([local.lifecycle_policy, local.key_policy, local.repository_policy])\n",
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    lifecycle, key_policy, repository_policy = json.loads(json.loads(out.stdout))
    tiers = tiers_file.load(module / "risk-tiers.json")
    assert lifecycle == documents.lifecycle_policy_json(tiers["high"])
    assert key_policy == documents.key_policy_json("123456789012", "ap-southeast-4")
    request = policy.build_request(
        name="a-b",
        env="dev",
        owner="app-team-a",
        risk="high",
        push_principals=push,
        pull_principals=pull,
    )
    assert repository_policy == documents.repository_policy_json(request, "123456789012")
    sids = [s["Sid"] for s in json.loads(repository_policy)["Statement"]]
    assert sids == ["AllowPush", "AllowPull", "AllowPullOrganization", "AllowPullService"]


def test_the_modules_principal_validations_are_policys_rules(tmp_path: Path) -> None:
    """The module's push_principals and pull_principals validations accept exactly what
    policy.check_principals accepts, at and past each pattern's edge (terraform console, no
    provider)."""
    import re

    from orchestrator.errors import UserError

    text = (REPO / "terraform" / "modules" / "ecr" / "variables.tf").read_text()
    pull = re.search(r"for p in var\.pull_principals : \((.*?)\)\]\)", text, re.DOTALL)
    push = re.search(r"for arn in var\.push_principals : (can\(regex\(.*?, arn\)\))\]", text)
    assert pull and push
    samples = [
        "arn:aws:iam::123456789012:role/deployer",
        "arn:aws:iam::123456789012:root",
        "arn:aws-us-gov:iam::123456789012:user/a+b=c,d.e@f_g/h-",
        "arn:aws:iam::12345678901:role/x",
        "o-" + "a" * 9,
        "o-" + "a" * 10,
        "o-" + "0" * 32,
        "o-" + "0" * 33,
        "o-A1B2C3D4E5",
        "o-a1b2c3d4e5\n",
        "ou-a1b2-c3d4e5f6",
        "lambda.amazonaws.com",
        "codebuild.amazonaws.com",
        "ecs-tasks.amazonaws.com",
        "lamda.amazonaws.com",
        "xlambda.amazonaws.com",
        "lambda.amazonaws.com.cn",
        "*",
        "",
    ]
    config = (
        "locals {\n"
        f"  pull = [for p in var.v : ({pull.group(1)})]\n"
        f"  push = [for arn in var.v : {push.group(1)}]\n"
        "}"
    )
    found = console(tmp_path, config, samples, "[local.pull, local.push]")

    def accepts(principal: str, kind: str) -> bool:
        try:
            policy.check_principals([principal], kind)
        except UserError:
            return False
        return True

    assert found == [
        [accepts(s, "pull") for s in samples],
        [accepts(s, "push") for s in samples],
    ]
    assert sum(found[0]) == 7 and sum(found[1]) == 3
