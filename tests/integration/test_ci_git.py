"""CI commands on real git repositories, the template's patterns in node, the workflows in actionlint."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator.ci import pipeline as ci
from orchestrator.errors import UserError
from orchestrator.files import catalog as catalog_file
from orchestrator.files.workspace import Workspace
from orchestrator.rules import policy
from tests.gitrepo import commit, event, git, init_repo
from tests.helpers import REPO, cli
from tests.unit.test_ci import _form_schema

TEMPLATE = REPO / "catalog" / "templates" / "ecr-request" / "template.yaml"


WORKFLOWS = REPO / ".github" / "workflows"


def _request(capsys: pytest.CaptureFixture[str], name: str) -> None:
    args = ["create", name, "--env", "dev", "--owner", "app-team-web", "--risk", "low"]
    assert cli(capsys, *args).code == 0


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
    _note_in_history(repo, "web-frontend")  # a deprecation changes the tfvars too (status)
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
    assert found["entries"][2]["detail"] == "history updated"


def _note_in_history(repo: Workspace, name: str) -> None:
    """A catalog-only edit: a note in the entry's history, which Terraform never sees."""
    tiers = policy.load_tiers(repo.tiers_file)
    cat = catalog_file.load(repo.catalog_file, tiers)
    entry = cat.entries[name]
    noted = replace(entry, history={**entry.history, "note": "reviewed by the platform team"})
    repo.catalog_file.write_text(cat.with_entry(noted, tiers))


def test_a_catalog_only_change_plans_nothing(
    repo: Workspace,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _request(capsys, "web-frontend")
    init_repo(repo)
    git(repo, "checkout", "-q", "-b", "pr")
    _note_in_history(repo, "web-frontend")
    head = commit(repo, "a note")
    event(tmp_path, monkeypatch, head)
    summary = tmp_path / "plan.md"
    result = cli(capsys, "ci", "plan", "--base", "development", "--summary-file", str(summary))
    assert result.code == 0, result.stderr
    assert "nothing to plan" in result.stdout
    assert "Catalog only" in summary.read_text() and "`web-frontend` (dev)" in summary.read_text()


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
