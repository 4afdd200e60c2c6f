"""CI commands on real git repositories, the template's patterns in node, the workflows in actionlint."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator.ci import markdown
from orchestrator.files import catalog as catalog_file
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace
from tests.gitrepo import commit, event, git, init_repo
from tests.helpers import REPO, cli, create
from tests.template_form import (
    NAMES,
    OWNERS,
    ecrctl_accepts,
    form,
    form_accepts_all,
    generated,
)

WORKFLOWS = REPO / ".github" / "workflows"


def test_a_change_outside_what_ecrctl_manages_is_refused_with_a_reason(
    repo: Workspace, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    init_repo(repo)
    git(repo, "checkout", "-q", "-b", "pr")
    create(capsys, "web-frontend", env="dev", owner="app-team-web")
    (repo.terraform_dir / "extra.tf").write_text("# a hand-written resource\n")
    (repo.root / "envs" / "dev" / "backend.hcl").write_text('bucket = "elsewhere"\n')
    commit(repo, "mixed change")
    summary = tmp_path / "plan.md"
    result = cli(capsys, "ci", "plan", "--base", "development", "--summary-file", str(summary))
    assert result.code == 1
    assert "2 file(s) that ecrctl does not manage" in result.stderr
    assert "envs/dev/backend.hcl" in result.stderr and "terraform/extra.tf" in result.stderr
    text = summary.read_text()
    assert text.startswith(markdown.MARKER) and "cannot plan this change" in text
    assert "terraform/extra.tf" in text
    # In CI the refusal travels as an artifact to the job that writes the PR comment.
    artifacts = tmp_path / "artifacts"
    refused = artifacts / "ecr-plan-changes" / "refused.md"
    changes = cli(capsys, "ci", "changes", "--base", "development", "--summary-file", str(refused))
    assert changes.code == 1
    comment = cli(capsys, "ci", "report", str(artifacts))
    assert comment.code == 1
    assert comment.stdout.count(markdown.MARKER) == 1 and "terraform/extra.tf" in comment.stdout


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
    create(capsys, "web-frontend", env="dev", owner="app-team-web")  # not committed
    result = cli(capsys, "ci", "changes", "--base", "HEAD")
    assert result.code == 1 and "the work tree is not the head revision" in result.stderr


def test_changes_lists_adds_changes_and_catalog_only_edits(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    create(capsys, "web-frontend", env="dev", owner="app-team-web")
    create(capsys, "search-api", env="dev", owner="app-team-web")
    init_repo(repo)
    git(repo, "checkout", "-q", "-b", "pr")
    create(capsys, "orders-api", env="dev", owner="app-team-web")
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


def test_changes_lists_the_states_each_environment_plans(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sharded environment (dev, 4 shards) plans the shards of its changed repositories and
    the registry state when the continuous-scan set moves; one of one state plans `main`."""
    tfvars = repo.tfvars_file("dev")
    tfvars.write_text(
        tfvars.read_text().replace("\necr_repositories =", "\nstate_shards = 4\necr_repositories =")
    )
    create(capsys, "search-api", env="dev", owner="app-team-web")  # shard 0 of 4
    init_repo(repo)
    git(repo, "checkout", "-q", "-b", "pr")
    create(capsys, "payments-gateway", env="dev", owner="app-team-pay", risk="medium")  # 3
    create(capsys, "web-frontend", env="dev", owner="app-team-web")  # 0
    create(capsys, "user-api", env="staging", owner="app-team-web")
    commit(repo, "two shards and a one-state environment")
    result = cli(capsys, "ci", "changes", "--base", "development", "--output", "json")
    assert result.code == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["states"] == [
        {"env": "dev", "state": "registry", "repositories": []},
        {"env": "dev", "state": "shard-00", "repositories": ["web-frontend"]},
        {"env": "dev", "state": "shard-03", "repositories": ["payments-gateway"]},
        {"env": "staging", "state": "main", "repositories": ["user-api"]},
    ]
    assert found["registry_moves"] == ["dev"]
    # A low-tier change leaves the registry's scanning set be: its shard alone.
    create(capsys, "orders-api", env="dev", owner="app-team-web")  # 0
    commit(repo, "one more")
    base = git(repo, "rev-parse", "HEAD~1").strip()
    found = json.loads(cli(capsys, "ci", "changes", "--base", base, "--output", "json").stdout)
    assert found["states"] == [{"env": "dev", "state": "shard-00", "repositories": ["orders-api"]}]
    assert found["registry_moves"] == []


def test_ci_plan_and_apply_of_one_state_take_only_a_pair_the_change_plans(
    repo: Workspace,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--env ENV --state STATE` (a CI matrix job): a state the change does not plan has
    nothing to plan or apply (no terraform runs); a state the environment does not have, or
    --state without --env, is refused with one line."""
    tfvars = repo.tfvars_file("dev")
    tfvars.write_text(
        tfvars.read_text().replace("\necr_repositories =", "\nstate_shards = 4\necr_repositories =")
    )
    init_repo(repo)
    git(repo, "checkout", "-q", "-b", "pr")
    create(capsys, "web-frontend", env="dev", owner="app-team-web")  # shard 0 of 4
    create(capsys, "user-api", env="staging", owner="app-team-web")  # one state: main
    head = commit(repo, "a shard of dev and staging")
    event(tmp_path, monkeypatch, head)
    out = tmp_path / "plans"
    plan = ["ci", "plan", "--base", "development", "--out-dir", str(out)]
    untouched = cli(capsys, *plan, "--env", "dev", "--state", "1")
    assert untouched.code == 0, untouched.stderr
    assert "nothing to plan" in untouched.stdout and not list(out.glob("plan-*.json"))
    for args, message in (
        (["--state", "shard-00"], "--state needs --env"),
        (["--env", "dev", "--state", "shard-04"], "dev has no state 'shard-04'"),
        (["--env", "dev", "--state", "main"], "dev has no state 'main'"),
        (["--env", "staging", "--state", "registry"], "staging has no state 'registry'"),
    ):
        refused = cli(capsys, *plan, *args)
        assert refused.code == 1 and message in refused.stderr, (args, refused.stderr)
        assert "Traceback" not in refused.stderr and not list(out.glob("plan-*.json"))
    applied = cli(
        capsys, "ci", "apply", "--base", "development", "--env", "dev", "--state", "shard-02"
    )
    assert applied.code == 0 and "nothing to apply" in applied.stdout, applied.stderr


def _settings(repo: Workspace, env: str, lines: str) -> None:
    """A hand edit of an environment's registry-wide settings (above ecr_repositories), with the
    filters ecrctl computes for them, as a platform engineer's pull request holds it."""
    from orchestrator.files import scan_filters

    path = repo.tfvars_file(env)
    text = path.read_text().replace("\necr_repositories =", f"\n{lines}\necr_repositories =", 1)
    path.write_text(scan_filters.with_filters(text, path, env, tiers_file.load(repo.tiers_file)))


def test_a_registry_settings_only_change_reports_its_environment_and_its_state(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    """A destination added, no entry changed: the environment is planned (its one state, no
    repository), with the settings it edits; a change of nothing registry-wide plans nothing."""
    create(capsys, "payments-gateway", env="dev", owner="app-team-pay", risk="high")
    init_repo(repo)
    git(repo, "checkout", "-q", "-b", "pr")
    _settings(repo, "dev", 'replication_destinations = [{ region = "us-west-2" }]')
    commit(repo, "dev replicates to us-west-2")
    result = cli(capsys, "ci", "changes", "--base", "development", "--output", "json")
    assert result.code == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["environments"] == ["dev"] and found["entries"] == []
    assert found["states"] == [{"env": "dev", "state": "main", "repositories": []}]
    assert found["registry"] == [
        {
            "env": "dev",
            "settings": [
                {"setting": "replication_destinations", "now": "none", "after": "us-west-2"},
                {
                    "setting": "registry_replication_filters",
                    "now": "none",
                    "after": "payments-gateway",
                },
            ],
        }
    ]
    text = cli(capsys, "ci", "changes", "--base", "development")
    assert "dev: registry-wide settings move (replication_destinations: none -> us-west-2;" in (
        text.stdout
    )

    # Nothing registry-wide: a comment in the tfvars, a low-tier repository (neither scanned
    # continuously nor replicated) in an environment without destinations.
    tfvars = repo.tfvars_file("staging")
    tfvars.write_text("# reviewed by the platform team\n" + tfvars.read_text())
    create(capsys, "user-api", env="staging", owner="app-team-web")
    commit(repo, "nothing registry-wide")
    base = git(repo, "rev-parse", "HEAD~1")
    found = json.loads(cli(capsys, "ci", "changes", "--base", base, "--output", "json").stdout)
    assert found["registry"] == [] and found["environments"] == ["staging"]
    assert found["states"] == [{"env": "staging", "state": "main", "repositories": ["user-api"]}]
    tfvars.write_text(tfvars.read_text().replace("# reviewed by the platform team\n", ""))
    commit(repo, "a comment alone")
    found = json.loads(cli(capsys, "ci", "changes", "--base", "HEAD~1", "--output", "json").stdout)
    assert (found["environments"], found["registry"], found["states"]) == ([], [], [])


def test_a_registry_settings_only_change_of_a_sharded_environment_plans_its_registry_state(
    repo: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    tfvars = repo.tfvars_file("dev")
    tfvars.write_text(
        tfvars.read_text().replace("\necr_repositories =", "\nstate_shards = 4\necr_repositories =")
    )
    create(capsys, "search-api", env="dev", owner="app-team-web")
    init_repo(repo)
    git(repo, "checkout", "-q", "-b", "pr")
    _settings(repo, "dev", 'replication_sources = ["210987654321"]')
    commit(repo, "another account may replicate into dev")
    result = cli(capsys, "ci", "changes", "--base", "development", "--output", "json")
    assert result.code == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["environments"] == ["dev"] and found["entries"] == []
    assert found["states"] == [{"env": "dev", "state": "registry", "repositories": []}]
    assert found["registry_moves"] == ["dev"]
    assert found["registry"][0]["settings"] == [
        {"setting": "replication_sources", "now": "none", "after": "210987654321"}
    ]


def _note_in_history(repo: Workspace, name: str) -> None:
    """A catalog-only edit: a note in the entry's history, which Terraform never sees."""
    tiers = tiers_file.load(repo.tiers_file)
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
    create(capsys, "web-frontend", env="dev", owner="app-team-web")
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
    names = NAMES + generated(600)
    owners = OWNERS + [f"app-team-{n}" for n in names]
    samples = [form(name=n) for n in names] + [form(owner=o) for o in owners]
    # The AWS limits that depend on the tier: the KMS alias of a high-tier name.
    high = [n for n in names if len(n) > 200]
    samples += [form(name=n, risk="high") for n in high]
    verdicts = form_accepts_all(samples)
    ecrctl = [ecrctl_accepts(name=n) for n in names] + [ecrctl_accepts(owner=o) for o in owners]
    ecrctl += [ecrctl_accepts(name=n, risk="high") for n in high]
    differ = [
        (s["name"], s["owner"], s["risk"])
        for s, f, e in zip(samples, verdicts, ecrctl, strict=True)
        if f != e
    ]
    assert not differ, f"the form and ecrctl disagree on {differ[:10]}"
    assert sum(verdicts) > 50 and len(verdicts) - sum(verdicts) > 50  # both verdicts represented


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
