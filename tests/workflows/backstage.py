"""What Backstage sends: the inputs of a template's github:actions:dispatch step for a form."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.workflows.harness import REPO


def dispatched(template: str, form: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The workflow and the inputs that the template dispatches for a filled-in form, read
    from catalog/templates/TEMPLATE/template.yaml (never copied into the test)."""
    path = REPO / "catalog" / "templates" / template / "template.yaml"
    steps = yaml.safe_load(path.read_text())["spec"]["steps"]
    (step,) = [s for s in steps if s["action"] == "github:actions:dispatch"]

    def render(value: Any) -> str:
        return re.sub(r"\$\{\{\s*parameters\.(\w+)\s*\}\}", lambda m: form[m[1]], str(value))

    assert step["input"]["branchOrTagName"] == "development"
    inputs = {name: render(value) for name, value in step["input"]["workflowInputs"].items()}
    return str(step["input"]["workflowId"]), inputs
