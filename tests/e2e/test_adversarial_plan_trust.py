"""The saved plan is judged on what Terraform will apply, and the review's "now" is what the plan
found (issue 23, items 1 and 10): real terraform 1.11 and the AWS provider against moto.

Cost: two tests, each one apply and two plans or a plan and an apply (a provider load each, some 3 s), the first also
two `terraform show -json` (to hold ecrctl's own reader of the plan file to terraform's).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.adapters import planfile
from orchestrator.adapters.terraform_output import changes_from_plan_json
from orchestrator.context import Session
from orchestrator.files.workspace import Workspace
from orchestrator.ops import plan as plan_op
from orchestrator.ops.plan import read_plan
from tests.conftest import Aws
from tests.helpers import cli, snapshot


def _create(capsys: pytest.CaptureFixture[str], *names: tuple[str, str]) -> None:
    for name, risk in names:
        owner = f"app-team-{name.split('-')[0]}"
        result = cli(capsys, "create", name, "--env", "local", "--owner", owner, "--risk", risk)
        assert result.code == 0, result.stderr
    applied = cli(capsys, "apply", *(n for n, _ in names), "--env", "local", "--auto-approve")
    assert applied.code == 0, applied.stderr


def _tamper(plan_file: Path, **fields: Any) -> None:
    """Edit the summary beside a plan as anyone with the file could (its sha256 still matches)."""
    sidecar = plan_file.with_name(plan_file.name + ".json")
    saved = json.loads(sidecar.read_text())
    saved.update(fields)
    sidecar.write_text(json.dumps(saved))


def _agrees_with_terraform(local: Workspace, plan_file: Path, name: str) -> None:
    """ecrctl's reader of the plan file gives what `terraform show -json` gives (one provider load)."""
    ctx = Session(local).at("local")
    changes, targets, variables = read_plan(ctx, plan_file)
    shown = ctx.terraform().show_plan_json(plan_file)
    # terraform's JSON names only a taint among the reasons (the one the guard reads).
    mine = {replace(c, reason=c.reason if c.reason == "tainted" else None) for c in changes}
    assert mine == set(changes_from_plan_json(shown)) and len(mine) == len(changes)
    assert targets is not None and set(targets) == {
        f'module.ecr_repositories["{name}"]',
        *plan_op.REGISTRY_TARGETS,  # scanning, replication, the registry policy
    }
    assert variables == {k: v["value"] for k, v in shown["variables"].items() if k in variables}
    assert planfile.read(plan_file).terraform_version == shown["terraform_version"]


def test_apply_judges_the_plan_not_the_summary_beside_it(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(capsys, ("web-frontend", "low"), ("search-api", "medium"))
    ecr = aws.client("ecr")
    tfvars = local.tfvars_file("local")
    text = tfvars.read_text()

    # A removal by hand (the catalog still lists search-api as active): the plan deletes it.
    start = text.index('  "search-api" = {')
    tfvars.write_text(text[:start] + text[text.index("  }\n", start) + 4 :])
    removal = local.root / "removal.tfplan"
    planned = cli(capsys, "plan", "search-api", "--env", "local", "--out", str(removal))
    assert planned.code == 0, planned.stderr
    _agrees_with_terraform(local, removal, "search-api")
    # The summary is edited to read "update", the repository "configured" and the guard silent.
    changes = json.loads(removal.with_name(removal.name + ".json").read_text())["changes"]
    _tamper(
        removal,
        changes=[{**c, "action": "update"} for c in changes],
        configured=["search-api"],
        guard=[],
    )
    before = snapshot(local.root)
    applied = cli(capsys, "apply", "--env", "local", "--plan", str(removal), "--auto-approve")
    assert applied.code == 1, applied.stdout
    assert "deletes search-api" in applied.stderr
    assert 'module.ecr_repositories["search-api"].aws_ecr_repository.this' in applied.stderr
    assert snapshot(local.root) == before
    assert ecr.describe_repositories(repositoryNames=["search-api"])["repositories"]
    tfvars.write_text(text)

    # A hand edit that replaces a live repository: the guard refuses the plan; the summary is
    # edited to say it did not, and to read "update"; apply refuses it all the same.
    tfvars.write_text(
        text.replace('risk            = "low"', 'risk            = "high"').replace(
            '  "search-api*",\n', '  "search-api*",\n  "web-frontend*",\n'
        )
    )
    replacing = local.root / "replace.tfplan"
    refused = cli(capsys, "plan", "web-frontend", "--env", "local", "--out", str(replacing))
    assert refused.code == 1 and "refused" in refused.stderr, refused.stderr
    _agrees_with_terraform(local, replacing, "web-frontend")
    changes = json.loads(replacing.with_name(replacing.name + ".json").read_text())["changes"]
    _tamper(replacing, changes=[{**c, "action": "update"} for c in changes], guard=[])
    applied = cli(capsys, "apply", "--env", "local", "--plan", str(replacing), "--auto-approve")
    assert applied.code == 1
    assert "refused by the guard" in applied.stderr
    assert 'module.ecr_repositories["web-frontend"].aws_ecr_repository.this (replace)' in (
        applied.stderr
    )
    repo = ecr.describe_repositories(repositoryNames=["web-frontend"])["repositories"][0]
    assert repo["encryptionConfiguration"]["encryptionType"] == "AES256"


def test_the_review_shows_what_the_plan_found_after_its_refresh(
    local: Workspace, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(capsys, ("web-frontend", "low"))
    # Changed behind Terraform's back: the plan puts it back, and the review must say so.
    aws.client("ecr").put_image_tag_mutability(
        repositoryName="web-frontend", imageTagMutability="IMMUTABLE"
    )
    out = local.root / "drift.tfplan"
    result = cli(
        capsys, "plan", "web-frontend", "--env", "local", "--out", str(out), "--output", "json"
    )
    assert result.code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert [c["action"] for c in plan["changes"]] == ["update"]
    (review,) = plan["settings"]
    assert review["before"]["image_tag_mutability"] == "IMMUTABLE"
    assert review["after"]["image_tag_mutability"] == "MUTABLE"
    # apply --plan shows the same review, read from the plan file (no extra provider load).
    applied = cli(capsys, "apply", "--env", "local", "--plan", str(out), "--output", "json")
    assert applied.code == 0, applied.stderr
    (review,) = json.loads(applied.stdout)["plan"]["settings"]
    assert review["before"]["image_tag_mutability"] == "IMMUTABLE"
    assert review["after"]["image_tag_mutability"] == "MUTABLE"
    repo = aws.client("ecr").describe_repositories(repositoryNames=["web-frontend"])
    assert repo["repositories"][0]["imageTagMutability"] == "MUTABLE"
