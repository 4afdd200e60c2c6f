"""ecrctl ci without terraform: what a change may touch, records, the comment, the workflows and
the Backstage template."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator import ci, policy
from orchestrator.errors import UserError
from orchestrator.models import ResourceChange
from orchestrator.workspace import Workspace

from .gitrepo import commit, event, git, init_repo
from .helpers import REPO, cli

TEMPLATE = REPO / "catalog" / "templates" / "ecr-request" / "template.yaml"
WORKFLOWS = REPO / ".github" / "workflows"


def _request(capsys: pytest.CaptureFixture[str], name: str) -> None:
    args = ["create", name, "--env", "dev", "--owner", "app-team-web", "--risk", "low"]
    assert cli(capsys, *args).code == 0


def test_a_change_outside_what_ecrctl_manages_is_refused_with_a_reason(
    repo: Workspace, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    init_repo(repo)
    git(repo, "checkout", "-q", "-b", "pr")
    _request(capsys, "web-frontend")
    (repo.terraform_dir / "extra.tf").write_text("# a hand-written resource\n")
    (repo.root / "envs" / "dev" / "backend.hcl").write_text('bucket = "elsewhere"\n')
    commit(repo, "mixed change")
    summary = tmp_path / "plan.md"
    result = cli(capsys, "ci", "plan", "--base", "development", "--summary-file", str(summary))
    assert result.code == 1
    assert "2 file(s) that ecrctl does not manage" in result.stderr
    assert "envs/dev/backend.hcl" in result.stderr and "terraform/extra.tf" in result.stderr
    text = summary.read_text()
    assert text.startswith(ci.MARKER) and "cannot plan this change" in text
    assert "terraform/extra.tf" in text
    # In CI the refusal travels as an artifact to the job that writes the PR comment.
    artifacts = tmp_path / "artifacts"
    refused = artifacts / "ecr-plan-changes" / "refused.md"
    changes = cli(capsys, "ci", "changes", "--base", "development", "--summary-file", str(refused))
    assert changes.code == 1
    comment = cli(capsys, "ci", "report", str(artifacts))
    assert comment.code == 1
    assert comment.stdout.count(ci.MARKER) == 1 and "terraform/extra.tf" in comment.stdout


def test_a_hand_edit_that_fails_validate_is_refused(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    init_repo(repo)
    git(repo, "checkout", "-q", "-b", "pr")
    tfvars = repo.tfvars_file("dev")
    tfvars.write_text(
        tfvars.read_text().replace(
            "ecr_repositories = {\n",
            'ecr_repositories = {\n  "rogue-app" = {\n    id    = "REGISTRY_ROGUE_APP"\n'
            '    owner = "app-team-rogue"\n    risk  = "low"\n  }\n',
        )
    )
    commit(repo, "hand edit")
    result = cli(capsys, "ci", "changes", "--base", "development")
    assert result.code == 1
    assert "does not pass ecrctl validate" in result.stderr
    assert "'rogue-app' is not in catalog/ecr-catalog.yaml" in result.stderr


def test_the_work_tree_must_be_the_head(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    init_repo(repo)
    _request(capsys, "web-frontend")  # not committed
    result = cli(capsys, "ci", "changes", "--base", "HEAD")
    assert result.code == 1 and "the work tree is not the head revision" in result.stderr


def test_changes_lists_adds_changes_and_catalog_only_edits(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    _request(capsys, "web-frontend")
    _request(capsys, "search-api")
    init_repo(repo)
    git(repo, "checkout", "-q", "-b", "pr")
    _request(capsys, "orders-api")
    for path in (repo.tfvars_file("dev"), repo.catalog_file):  # search-api changes owner
        text = path.read_text()
        at = text.index('"search-api"')
        path.write_text(text[:at] + text[at:].replace("app-team-web", "app-team-search", 1))
    catalog = repo.catalog_file
    text = catalog.read_text()
    at = text.index('"web-frontend":')
    catalog.write_text(text[:at] + text[at:].replace('status: "active"', 'status: "deprecated"', 1))
    commit(repo, "three kinds")
    result = cli(capsys, "ci", "changes", "--base", "development", "--output", "json")
    assert result.code == 0, result.stderr
    found = json.loads(result.stdout)
    assert [(e["name"], e["change"]) for e in found["entries"]] == [
        ("orders-api", "add"),
        ("search-api", "change"),
        ("web-frontend", "catalog"),
    ]
    assert found["environments"] == ["dev"]
    assert 'owner "app-team-web" -> "app-team-search"' in found["entries"][1]["detail"]
    assert found["entries"][2]["detail"] == "status active -> deprecated"


def test_a_catalog_only_change_plans_nothing(
    repo: Workspace,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _request(capsys, "web-frontend")
    init_repo(repo)
    git(repo, "checkout", "-q", "-b", "pr")
    text = repo.catalog_file.read_text()
    repo.catalog_file.write_text(text.replace('status: "active"', 'status: "deprecated"'))
    head = commit(repo, "deprecate")
    event(tmp_path, monkeypatch, head)
    summary = tmp_path / "plan.md"
    result = cli(capsys, "ci", "plan", "--base", "development", "--summary-file", str(summary))
    assert result.code == 0, result.stderr
    assert "nothing to plan" in result.stdout
    assert "Catalog only" in summary.read_text() and "`web-frontend` (dev)" in summary.read_text()


def _record(env: str, changes: list[ResourceChange], **extra: Any) -> ci.EnvRecord:
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
    return ci.EnvRecord(**values)


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
    one = ci.fingerprint({"dev": CREATES})
    assert one == ci.fingerprint({"dev": list(reversed(CREATES))})
    assert one != ci.fingerprint({"prod": CREATES})
    changed = [CREATES[0], ResourceChange(CREATES[1].address, "update", "web-frontend")]
    assert one != ci.fingerprint({"dev": changed})
    assert one.startswith("sha256:") and len(one) == 7 + 64


def test_report_renders_records_of_several_jobs_as_one_comment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for env in ("prod", "dev"):
        folder = tmp_path / f"ecr-plan-{env}"
        folder.mkdir()
        record = _record(env, CREATES)
        ci.record_file(folder, env).write_text(json.dumps(record.to_dict()))
    summary = tmp_path / "comment.md"
    result = cli(capsys, "ci", "report", str(tmp_path), "--summary-file", str(summary))
    assert result.code == 0, result.stderr
    text = summary.read_text()
    assert text.index("#### `dev`") < text.index("#### `prod`")
    combined = ci.fingerprint({"dev": CREATES, "prod": CREATES})
    assert f"fingerprint `{combined}`" in text
    assert "| `web-frontend` | add | low | `app-team-web` | 2 create | ✅ passes |" in text


def test_the_summary_lists_each_change_and_adds_the_full_plan_only_when_asked() -> None:
    listed = ci.render_report([_record("dev", CREATES, plan_text="")], [], None)
    assert "<details><summary>Resource changes in <code>dev</code></summary>" in listed
    assert f"create   {CREATES[1].address}\n" in listed and "--full-plan" in listed
    full = ci.render_report([_record("dev", CREATES)], [], None)
    assert "<summary>Full plan for <code>dev</code></summary>" in full
    assert "Plan: 2 to add" in full and "Resource changes" not in full
    assert "<details>" not in ci.render_report([_record("dev", [], plan_text="")], [], None)


def test_an_edited_record_is_refused(tmp_path: Path) -> None:
    data = _record("dev", CREATES).to_dict()
    data["changes"] = data["changes"][:1]
    path = ci.record_file(tmp_path, "dev")
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="does not match its own changes"):
        ci.load_record(path)


def test_apply_compares_the_commit_the_entries_and_the_fingerprint() -> None:
    reviewed = _record("dev", CREATES)
    same = _record("dev", CREATES)
    assert ci._compare(reviewed, same, None, {"head_sha": "c" * 40}) is None
    other_head = ci._compare(reviewed, same, None, {"head_sha": "d" * 40})
    assert other_head and "merged at dddddddddddd" in other_head.reason
    more = _record(
        "dev", CREATES, entries=(*reviewed.entries, {**reviewed.entries[0], "name": "x"})
    )
    entries = ci._compare(reviewed, more, None, None)
    assert entries and "not the reviewed one" in entries.reason
    moved = _record("dev", CREATES[:1])
    fingerprint = ci._compare(reviewed, moved, None, None)
    assert fingerprint and fingerprint.dropped == (
        'dev\tcreate\tmodule.ecr_repositories["web-frontend"].aws_ecr_lifecycle_policy.this',
    )
    assert ci._compare(None, same, None, None) is not None
    assert ci._compare(None, moved, moved.fingerprint, None) is None
    assert ci._compare(None, moved, reviewed.fingerprint, None) is not None


# -- the Backstage template ------------------------------------------------------------------


def _template() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(TEMPLATE.read_text())
    return data


def _form_schema() -> dict[str, Any]:
    page = _template()["spec"]["parameters"][0]
    return {"type": "object", "required": page["required"], "properties": page["properties"]}


def _form_accepts_all(samples: list[dict[str, str]]) -> list[bool]:
    """Whether the form accepts each sample, judged as Backstage does: JSON Schema in the
    browser, whose `pattern` is an ECMAScript regex with the u flag (rjsf's ajv8 validator) and
    whose lengths count code points. Run by node: Python's `$` would also match before a
    trailing newline, which ECMAScript's does not."""
    schema = _form_schema()
    script = """
const { schema, samples } = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const ok = (prop, value) => {
  const s = schema.properties[prop];
  if (typeof value !== 'string') return false;
  if (s.enum && !s.enum.includes(value)) return false;
  if (s.pattern && !new RegExp(s.pattern, 'u').test(value)) return false;
  const n = [...value].length;
  if (s.minLength !== undefined && n < s.minLength) return false;
  if (s.maxLength !== undefined && n > s.maxLength) return false;
  return true;
};
process.stdout.write(JSON.stringify(samples.map(
  (form) => schema.required.every((k) => k in form) && Object.keys(form).every((k) => ok(k, form[k]))
)));
"""
    node = shutil.which("node")
    assert node, "node is not installed: the form's patterns are checked as ECMAScript"
    done = subprocess.run(
        [node, "-e", script],
        input=json.dumps({"schema": schema, "samples": samples}),
        capture_output=True,
        text=True,
        check=True,
    )
    result: list[bool] = json.loads(done.stdout)
    return result


def _form(**values: str) -> dict[str, str]:
    form = {"name": "payments-gateway", "owner": "app-team-payments", "risk": "low", "env": "dev"}
    form.update(values)
    return form


def _ecrctl_accepts(**values: str) -> bool:
    form = {"name": "payments-gateway", "owner": "app-team-payments", "risk": "low"}
    form.update(values)
    try:
        policy.build_request(name=form["name"], env="dev", owner=form["owner"], risk=form["risk"])
    except UserError:
        return False
    return True


NAMES = [
    "payments-gateway",
    "ab",
    "a",
    "web",
    "ml-inference-engine",
    "012",
    "on",
    "a" * 256,
    "a" * 257,
    "Payments",
    "payments_gateway",
    "payments--gateway",
    "-payments",
    "payments-",
    "payments gateway",
    "payments\n",
    "\npayments",
    "paymënts",
    "",
]
OWNERS = [
    "app-team-payments",
    "app-team-a1-b2",
    "app-team-",
    "team-payments",
    "app-team-Payments",
    "app-team-payments\n",
    "app-team-pay--ments",
]


def _generated(count: int) -> list[str]:
    """Names near the rule's edges: its alphabet, separators, case, whitespace, lengths."""
    rng = random.Random(92)
    alphabet = "abz09-_A \n\té"
    found = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(count)]
    found += [rng.choice(["a", "0"]) * n for n in (1, 2, 255, 256, 257)]
    return found


def test_template_validation_matches_ecrctl_on_every_sample() -> None:
    names = NAMES + _generated(600)
    owners = OWNERS + [f"app-team-{n}" for n in names]
    samples = [_form(name=n) for n in names] + [_form(owner=o) for o in owners]
    form = _form_accepts_all(samples)
    ecrctl = [_ecrctl_accepts(name=n) for n in names] + [_ecrctl_accepts(owner=o) for o in owners]
    differ = [
        (s["name"], s["owner"]) for s, f, e in zip(samples, form, ecrctl, strict=True) if f != e
    ]
    assert not differ, f"the form and ecrctl disagree on {differ[:10]}"
    assert sum(form) > 50 and len(form) - sum(form) > 50  # both verdicts well represented


def test_template_risks_and_environments_are_ecrctls() -> None:
    properties = _template()["spec"]["parameters"][0]["properties"]
    assert properties["risk"]["enum"] == list(
        policy.load_tiers(REPO / "terraform/modules/ecr/risk-tiers.json")
    )
    environments = set(Workspace(REPO).environments())
    assert set(properties["env"]["enum"]) <= environments
    assert "local" not in properties["env"]["enum"]


def test_template_dispatches_the_request_workflow_with_its_inputs() -> None:
    template = _template()
    (step,) = template["spec"]["steps"]
    assert step["action"] == "github:actions:dispatch"
    assert step["input"]["workflowId"] == "ecr-request.yml"
    assert step["input"]["branchOrTagName"] == "development"
    fields = set(_form_schema()["properties"])
    assert step["input"]["workflowInputs"] == {f: f"${{{{ parameters.{f} }}}}" for f in fields}
    workflow = yaml.safe_load((WORKFLOWS / "ecr-request.yml").read_text())
    inputs = workflow[True]["workflow_dispatch"]["inputs"]  # YAML 1.1 reads `on` as true
    assert set(inputs) == fields
    properties = _form_schema()["properties"]
    for choice in ("risk", "env"):
        assert inputs[choice]["options"] == properties[choice]["enum"]


# -- the workflows ---------------------------------------------------------------------------


def test_workflows_pass_actionlint() -> None:
    actionlint = shutil.which("actionlint") or shutil.which(
        "actionlint", path=str(Path(sys.executable).parent)
    )
    assert actionlint, "actionlint is not installed (pip install -e '.[test]' installs it)"
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert {Path(f).name for f in files} >= {
        "ecr-plan.yml",
        "ecr-auto-apply.yml",
        "ecr-backstage-sync.yml",
        "ecr-request.yml",
        "ecr-drift.yml",
    }
    done = subprocess.run([actionlint, "-no-color", *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


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


def test_workflows_stay_thin_every_decision_is_ecrctls() -> None:
    for path in WORKFLOWS.glob("ecr-*.yml"):
        text = path.read_text()
        assert "terraform plan" not in text and "terraform apply" not in text, path.name
    apply = yaml.safe_load((WORKFLOWS / "ecr-auto-apply.yml").read_text())
    job = apply["jobs"]["apply"]
    assert job["concurrency"] == {
        "group": "ecr-apply-${{ matrix.env }}",
        "cancel-in-progress": False,
    }
    assert "ecrctl ci apply" in json.dumps(job["steps"])
