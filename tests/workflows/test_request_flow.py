"""The self-service flow end to end, each workflow on the event that starts it in production."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.workflows.harness import REPO, GitHub


def dispatched_inputs(template: str, parameters: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The workflow and inputs the template's github:actions:dispatch step sends for a form."""
    data = yaml.safe_load((REPO / "catalog" / "templates" / template / "template.yaml").read_text())
    (step,) = [s for s in data["spec"]["steps"] if s["action"] == "github:actions:dispatch"]

    def render(value: Any) -> str:
        return re.sub(r"\$\{\{\s*parameters\.(\w+)\s*\}\}", lambda m: parameters[m[1]], str(value))

    inputs = {k: render(v) for k, v in step["input"]["workflowInputs"].items()}
    return step["input"]["workflowId"], inputs


def test_smoke_request(github: GitHub, tmp_path: Path) -> None:
    workflow, inputs = dispatched_inputs(
        "ecr-request",
        {"name": "payments-gateway", "owner": "app-team-payments", "risk": "high", "env": "dev"},
    )
    run = github.dispatch(workflow, inputs)
    print(run.log)
    assert run.code == 0
