"""The software templates, checked by the scaffolder's own validator (plugin-scaffolder-common)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.backstage_model import validate_templates
from tests.helpers import REPO

TEMPLATES = sorted((REPO / "catalog" / "templates").glob("*/template.yaml"))


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def test_every_template_passes_the_scaffolders_validator() -> None:
    assert TEMPLATES, "no catalog/templates/*/template.yaml"
    templates = [_load(p) for p in TEMPLATES]
    results = validate_templates(templates)
    assert [r["error"] for r in results] == [None] * len(templates), results
    assert len({r["ref"] for r in results}) == len(templates)


def test_the_validator_refuses_a_broken_template() -> None:
    good = _load(REPO / "catalog" / "templates" / "ecr-request" / "template.yaml")
    no_action = copy.deepcopy(good)
    del no_action["spec"]["steps"][0]["action"]
    bad_parameters = copy.deepcopy(good)
    bad_parameters["spec"]["parameters"] = "name"
    results = validate_templates([no_action, bad_parameters])
    assert "must have required property 'action'" in results[0]["error"]
    assert "/spec/parameters" in results[1]["error"]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.parent.name)
def test_dispatch_steps_link_to_their_run_and_name_no_placeholder(path: Path) -> None:
    template = _load(path)
    assert "CHANGE-ME" not in path.read_text()
    fields = {
        name for page in template["spec"]["parameters"] for name in page.get("properties", {})
    }
    dispatches = [s for s in template["spec"]["steps"] if s["action"] == "github:actions:dispatch"]
    for step in dispatches:
        assert step["input"]["returnWorkflowRunDetails"] is True
        repo_url = step["input"]["repoUrl"]
        assert repo_url.startswith("${{ parameters.") and repo_url[15:-3] in fields, repo_url
        links = [link["url"] for link in template["spec"]["output"]["links"]]
        assert f"${{{{ steps.{step['id']}.output.workflowRunHtmlUrl }}}}" in links
