"""ecrctl ci without terraform: what a change may touch, records, the comment, the workflows and
the Backstage template."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.ci import apply as ci_apply
from orchestrator.ci import markdown, records
from orchestrator.errors import UserError
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace
from orchestrator.models import ResourceChange
from tests.helpers import REPO, cli
from tests.template_form import form_schema
from tests.template_form import template as load_template

TEMPLATE = REPO / "catalog" / "templates" / "ecr-request" / "template.yaml"
WORKFLOWS = REPO / ".github" / "workflows"


def _record(env: str, changes: list[ResourceChange], **extra: Any) -> records.EnvRecord:
    values: dict[str, Any] = {
        "env": env,
        "base": "a" * 40,
        "head": "b" * 40,
        "pull_request": {"number": 7, "head_sha": "c" * 40, "url": None},
        "entries": (
            {
                "name": "web-frontend",
                "change": "add",
                "risk": "low",
                "owner": "app-team-web",
                "id": "REGISTRY_WEB_FRONTEND",
                "detail": "",
                "actions": {"create": len(changes)},
                "guard": [],
            },
        ),
        "changes": tuple(changes),
        "guard": (),
        "plan_text": "Plan: 2 to add, 0 to change, 0 to destroy.",
        "plan_file": f"/tmp/{env}.tfplan",
    }
    values.update(extra)
    return records.EnvRecord(**values)


CREATES = [
    ResourceChange(
        'module.ecr_repositories["web-frontend"].aws_ecr_repository.this', "create", "web-frontend"
    ),
    ResourceChange(
        'module.ecr_repositories["web-frontend"].aws_ecr_lifecycle_policy.this',
        "create",
        "web-frontend",
    ),
]


def test_the_fingerprint_is_addresses_and_actions_in_any_order() -> None:
    one = records.fingerprint({"dev": CREATES})
    assert one == records.fingerprint({"dev": list(reversed(CREATES))})
    assert one != records.fingerprint({"prod": CREATES})
    changed = [CREATES[0], ResourceChange(CREATES[1].address, "update", "web-frontend")]
    assert one != records.fingerprint({"dev": changed})
    assert one.startswith("sha256:") and len(one) == 7 + 64


def test_report_renders_records_of_several_jobs_as_one_comment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for env in ("prod", "dev"):
        folder = tmp_path / f"ecr-plan-{env}"
        folder.mkdir()
        record = _record(env, CREATES)
        records.record_file(folder, env).write_text(json.dumps(record.to_dict()))
    summary = tmp_path / "comment.md"
    result = cli(capsys, "ci", "report", str(tmp_path), "--summary-file", str(summary))
    assert result.code == 0, result.stderr
    text = summary.read_text()
    assert text.index("#### `dev`") < text.index("#### `prod`")
    combined = records.fingerprint({"dev": CREATES, "prod": CREATES})
    assert f"fingerprint `{combined}`" in text
    assert "| `web-frontend` | add | low | `app-team-web` | 2 create | ✅ passes |" in text


def test_the_summary_lists_each_change_and_adds_the_full_plan_only_when_asked() -> None:
    listed = markdown.render_report([_record("dev", CREATES, plan_text="")], [], None)
    assert "<details><summary>Resource changes in <code>dev</code></summary>" in listed
    assert f"create   {CREATES[1].address}\n" in listed and "--full-plan" in listed
    full = markdown.render_report([_record("dev", CREATES)], [], None)
    assert "<summary>Full plan for <code>dev</code></summary>" in full
    assert "Plan: 2 to add" in full and "Resource changes" not in full
    assert "<details>" not in markdown.render_report([_record("dev", [], plan_text="")], [], None)


def test_an_edited_record_is_refused(tmp_path: Path) -> None:
    data = _record("dev", CREATES).to_dict()
    data["changes"] = data["changes"][:1]
    path = records.record_file(tmp_path, "dev")
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="does not match its own changes"):
        records.load_record(path)


def test_apply_compares_the_commit_the_entries_and_the_fingerprint() -> None:
    reviewed = _record("dev", CREATES)
    same = _record("dev", CREATES)
    assert ci_apply._compare(reviewed, same, None, {"head_sha": "c" * 40}) is None
    other_head = ci_apply._compare(reviewed, same, None, {"head_sha": "d" * 40})
    assert other_head and "merged at dddddddddddd" in other_head.reason
    more = _record(
        "dev", CREATES, entries=(*reviewed.entries, {**reviewed.entries[0], "name": "x"})
    )
    entries = ci_apply._compare(reviewed, more, None, None)
    assert entries and "not the reviewed one" in entries.reason
    moved = _record("dev", CREATES[:1])
    fingerprint = ci_apply._compare(reviewed, moved, None, None)
    assert fingerprint and fingerprint.dropped == (
        'dev\tcreate\tmodule.ecr_repositories["web-frontend"].aws_ecr_lifecycle_policy.this',
    )
    assert ci_apply._compare(None, same, None, None) is not None
    assert ci_apply._compare(None, moved, moved.fingerprint, None) is None
    assert ci_apply._compare(None, moved, reviewed.fingerprint, None) is not None


SCANNING = ResourceChange("aws_ecr_registry_scanning_configuration.this[0]", "update", None)


def _pair_records() -> list[records.EnvRecord]:
    """A sharded dev's plan as CI's matrix makes it: its shard's record, the registry's."""
    return [
        _record("dev", CREATES, state="shard-00"),
        _record("dev", [SCANNING], state="registry", entries=()),
    ]


def test_the_records_of_every_state_fingerprint_together_as_the_plan_of_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shard, registry = _pair_records()
    whole = _record("dev", [*CREATES, SCANNING])
    # The pull request's fingerprint covers every pair: their lines are the whole plan's.
    assert records.combined([shard, registry]) == whole.fingerprint
    assert len({shard.fingerprint, registry.fingerprint, whole.fingerprint}) == 3
    for record in (registry, shard):  # as the comment job downloads them: a folder per pair
        folder = tmp_path / f"ecr-plan-dev-{record.state}"
        folder.mkdir()
        path = records.record_file(folder, "dev", record.state)
        assert path.name == f"plan-dev.{record.state}.json"
        path.write_text(json.dumps(record.to_dict()))
    loaded = records.load_records(tmp_path)
    assert [r.label for r in loaded] == ["dev/shard-00", "dev/registry"]  # the registry last
    summary = tmp_path / "comment.md"
    result = cli(capsys, "ci", "report", str(tmp_path), "--summary-file", str(summary))
    assert result.code == 0, result.stderr
    text = summary.read_text()
    assert f"in 1 environment(s), 2 state(s); fingerprint `{whole.fingerprint}`" in text
    assert text.index("#### `dev/shard-00`") < text.index("#### `dev/registry`")
    for record in (shard, registry):
        assert f"Fingerprint `{record.fingerprint}`" in text


def test_records_of_a_whole_environment_and_of_its_states_are_not_mixed(tmp_path: Path) -> None:
    for record in (_record("dev", CREATES), _pair_records()[0]):
        path = records.record_file(tmp_path, "dev", record.state)
        path.write_text(json.dumps(record.to_dict()))
    with pytest.raises(UserError, match="of the whole of dev and one of its states"):
        records.load_records(tmp_path)


def test_apply_of_one_state_compares_with_the_reviewed_record_of_that_state() -> None:
    shard, registry = _pair_records()
    now = _record("dev", CREATES, state="shard-00")
    assert ci_apply._compare(shard, now, None, None) is None
    missing = ci_apply._compare(None, now, None, None)
    assert missing and missing.env == "dev/shard-00"
    assert missing.reason == "no reviewed plan record for this state"
    other = ci_apply._compare(registry, now, None, None)
    assert other and "the reviewed record is for 'dev/registry'" in other.reason
    whole = ci_apply._compare(_record("dev", CREATES), now, None, None)
    assert whole and "the reviewed record is for 'dev'" in whole.reason
    moved = _record("dev", CREATES[:1], state="shard-00")
    changed = ci_apply._compare(shard, moved, None, None)
    assert changed and "the plan changed since it was reviewed" in changed.reason
    # A fingerprint a human reviewed: that state's plan, not the pull request's combined one.
    assert ci_apply._compare(None, now, shard.fingerprint, None) is None
    combined = records.combined([shard, registry])
    assert ci_apply._compare(None, now, combined, None) is not None


# -- the Backstage template ------------------------------------------------------------------


def test_template_risks_and_environments_are_ecrctls() -> None:
    properties = load_template()["spec"]["parameters"][0]["properties"]
    assert properties["risk"]["enum"] == list(
        tiers_file.load(REPO / "terraform/modules/ecr/risk-tiers.json")
    )
    environments = set(Workspace(REPO).environments())
    assert set(properties["env"]["enum"]) <= environments
    assert "local" not in properties["env"]["enum"]


def test_template_dispatches_the_request_workflow_with_its_inputs() -> None:
    template = load_template()
    (step,) = template["spec"]["steps"]
    assert step["action"] == "github:actions:dispatch"
    assert step["input"]["workflowId"] == "ecr-request.yml"
    assert step["input"]["branchOrTagName"] == "development"
    fields = set(form_schema()["properties"])
    assert step["input"]["workflowInputs"] == {f: f"${{{{ parameters.{f} }}}}" for f in fields}
    workflow = yaml.safe_load((WORKFLOWS / "ecr-request.yml").read_text())
    inputs = workflow[True]["workflow_dispatch"]["inputs"]  # YAML 1.1 reads `on` as true
    assert set(inputs) == fields
    properties = form_schema()["properties"]
    for choice in ("risk", "env"):
        assert inputs[choice]["options"] == properties[choice]["enum"]


# -- the workflows ---------------------------------------------------------------------------


def test_workflows_stay_thin_every_decision_is_ecrctls() -> None:
    for path in WORKFLOWS.glob("ecr-*.yml"):
        text = path.read_text()
        assert "terraform plan" not in text and "terraform apply" not in text, path.name
    apply = yaml.safe_load((WORKFLOWS / "ecr-auto-apply.yml").read_text())
    for job in (apply["jobs"]["apply"], apply["jobs"]["apply_registry"]):
        assert job["concurrency"] == {
            "group": "ecr-apply-${{ matrix.pair.env }}-${{ matrix.pair.state }}",
            "cancel-in-progress": False,
        }
        assert "ecrctl ci apply" in json.dumps(job["steps"])


def _verified_actions() -> dict[str, tuple[str, str]]:
    """docs/CI.md "Workflow actions": action -> (version, runtime), as checked and recorded."""
    text = (REPO / "docs" / "CI.md").read_text()
    section = text.split("## Workflow actions", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \| (\w+) \|", section, re.MULTILINE)
    return {action: (version, runtime) for action, version, runtime in rows}


def test_every_workflow_action_is_a_verified_node24_version() -> None:
    verified = _verified_actions()
    used = {
        step["uses"]
        for path in WORKFLOWS.glob("*.yml")
        for job in yaml.safe_load(path.read_text())["jobs"].values()
        for step in job.get("steps", [])
        if "uses" in step
    }
    assert used, "no action found in the workflows"
    for ref in sorted(used):
        action, _, version = ref.partition("@")
        assert action in verified, f"{ref}: not in docs/CI.md, Workflow actions"
        assert verified[action] == (version, "node24"), f"{ref}: docs/CI.md says {verified[action]}"
    # Every row still describes an action in use: the table is the record of what runs.
    assert set(verified) == {ref.partition("@")[0] for ref in used}


def test_the_request_forms_tier_descriptions_follow_the_tier_table() -> None:
    """The Backstage form's risk choices say what the one table says (retention, the untagged
    days, the protected prefixes): a change of the table fails here until the form follows."""
    tiers = tiers_file.load(REPO / "terraform/modules/ecr/risk-tiers.json")
    risk = form_schema()["properties"]["risk"]
    assert risk["enum"] == list(tiers)
    for name, text in zip(risk["enum"], risk["enumNames"], strict=True):
        tier = tiers[name]
        assert text.startswith(f"{name}: {tier.image_tag_mutability.lower()} tags"), text
        assert f"{tier.keep_image_count} images" in text, text
        assert f"untagged expire after {tier.untagged_expire_days} days" in text, text
        for prefix in tier.protected_tag_prefixes:
            assert f"{prefix}*" in text, text
        assert ("KMS" in text) == (tier.encryption_type == "KMS"), text
        replication = {"none": "never replicated", "allowed": "replicated on request"}
        assert replication.get(tier.replication, "always replicated") in text, text
