"""What act does not evaluate, checked on the workflow files: the `paths` filter, `concurrency`,
`environment` and the OIDC permission; that every action has a stand-in for tests/workflows; and
that every install comes from the lock."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import REPO
from tests.workflows.harness import ACTIONS, load_workflow, stand_in, workflow_actions

WORKFLOWS = REPO / ".github" / "workflows"
AWS_ACTION = "aws-actions/configure-aws-credentials"
PULL_REQUEST_ACTION = "peter-evans/create-pull-request"


def workflows() -> dict[str, dict[str, Any]]:
    return {path.name: load_workflow(path) for path in sorted(WORKFLOWS.glob("*.yml"))}


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps(job) if str(s.get("uses", "")).startswith(f"{action}@")]


# -- stand-ins ---------------------------------------------------------------------------------


def test_every_action_has_a_stand_in_that_takes_every_input_the_workflows_pass() -> None:
    for ref in sorted(workflow_actions(WORKFLOWS)):
        action = yaml.safe_load((stand_in(ref) / "action.yml").read_text())
        accepted = set(action.get("inputs", {}))
        for name, workflow in workflows().items():
            for job in workflow["jobs"].values():
                for step in steps(job):
                    if step.get("uses") == ref:
                        ignored = set(step.get("with", {})) - accepted
                        assert not ignored, f"{name}: {ref} stand-in ignores {sorted(ignored)}"


def test_docs_list_every_stand_in_and_nothing_else() -> None:
    text = (REPO / "docs" / "CI.md").read_text()
    section = text.split("### Stand-ins", 1)[1].split("\n#", 1)[0]
    listed = set(re.findall(r"^\| `([^`@]+)` \| `tests/workflows/actions/", section, re.MULTILINE))
    present = {str(p.parent.relative_to(ACTIONS)) for p in ACTIONS.glob("*/*/action.yml")}
    used = {ref.partition("@")[0] for ref in workflow_actions(WORKFLOWS)}
    assert listed == present == used


# -- paths -------------------------------------------------------------------------------------


def _glob(pattern: str) -> re.Pattern[str]:
    """GitHub's filter pattern: `**` crosses directories, `*` does not."""
    out = ""
    for part in re.split(r"(\*\*/?|\*)", pattern):
        if part.startswith("**"):
            out += ".*"
        elif part == "*":
            out += "[^/]*"
        else:
            out += re.escape(part)
    return re.compile(out + r"\Z")


def triggers(patterns: list[str], files: list[str]) -> bool:
    """Whether a push of `files` passes a `paths` filter (the last matching pattern decides)."""
    for file in files:
        verdict = False
        for pattern in patterns:
            negated = pattern.startswith("!")
            if _glob(pattern.lstrip("!")).match(file):
                verdict = not negated
        if verdict:
            return True
    return False


def test_the_plan_runs_on_registry_files_and_not_on_the_templates_or_the_code() -> None:
    on = workflows()["ecr-plan.yml"]["on"]["pull_request"]
    assert on["branches"] == ["development"]
    paths = on["paths"]
    for files in (
        ["catalog/ecr-catalog.yaml"],
        ["envs/dev/terraform.tfvars"],
        ["envs/prod/terraform.tfvars", "README.md"],
        ["catalog/resources/dev/ecr-registry-eu-west-2.yaml"],  # the sync's pull request
        ["envs/dev/backend.hcl"],  # ecrctl refuses it there, with the reason, in the comment
    ):
        assert triggers(paths, files), files
    for files in (
        ["catalog/templates/ecr-request/template.yaml"],
        ["terraform/main.tf"],
        ["orchestrator/cli/__init__.py", ".github/workflows/ecr-plan.yml"],
    ):
        assert not triggers(paths, files), files


# -- concurrency -------------------------------------------------------------------------------


def _groups() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for name, workflow in workflows().items():
        if "concurrency" in workflow:
            found.append((name, "", workflow["concurrency"]))
        for job_id, job in workflow["jobs"].items():
            if "concurrency" in job:
                found.append((name, job_id, job["concurrency"]))
    return found


def test_no_two_workflows_share_a_concurrency_group() -> None:
    owners: dict[str, str] = {}
    for name, _, concurrency in _groups():
        group = concurrency["group"] if isinstance(concurrency, dict) else concurrency
        assert owners.setdefault(group, name) == name, f"{name} and {owners[group]}: {group}"


def test_a_request_workflow_queues_only_behind_a_run_writing_the_same_branch() -> None:
    """GitHub keeps one running and ONE pending run per concurrency group and cancels the pending
    one when another queues: a group shared by independent requests loses the middle one of
    three, whose user saw a successful dispatch. So a workflow that opens a pull request from a
    dispatch may only group runs that write the same branch, or not group them at all."""
    for name, workflow in workflows().items():
        if "workflow_dispatch" not in workflow["on"] or "concurrency" not in workflow:
            continue
        for job in workflow["jobs"].values():
            for step in uses(job, PULL_REQUEST_ACTION):
                branch = step["with"]["branch"]
                group = workflow["concurrency"]["group"]
                assert "github.run_id" not in branch, f"{name}: a branch per run needs no group"
                for expression in re.findall(r"\$\{\{\s*([^}]+?)\s*\}\}", branch):
                    assert expression in group, f"{name}: group {group!r} lacks {expression}"


def test_plans_cancel_their_outdated_run_and_applies_queue_per_environment_and_state() -> None:
    plan = workflows()["ecr-plan.yml"]["concurrency"]
    assert plan == {
        "group": "ecr-plan-${{ github.event.pull_request.number }}",
        "cancel-in-progress": True,
    }
    jobs = workflows()["ecr-auto-apply.yml"]["jobs"]
    for job_id in ("apply", "apply_registry"):
        assert jobs[job_id]["concurrency"] == {
            "group": "ecr-apply-${{ matrix.pair.env }}-${{ matrix.pair.state }}",
            "cancel-in-progress": False,
        }


def test_a_sharded_environments_registry_state_applies_after_its_shards() -> None:
    """The registry state (scanning, replication, registry policy, derived from every entry)
    is its own job that waits for every shard's apply and runs only when none failed."""
    changes = workflows()["ecr-auto-apply.yml"]["jobs"]["changes"]
    script = changes["steps"][-1]["run"]
    assert (
        """select(.state != "registry")""" in script
        and """select(.state == "registry")""" in script
    )
    jobs = workflows()["ecr-auto-apply.yml"]["jobs"]
    assert "outputs.shards" in jobs["apply"]["strategy"]["matrix"]["pair"]
    registry = jobs["apply_registry"]
    assert "outputs.registry" in registry["strategy"]["matrix"]["pair"]
    assert "apply" in registry["needs"]
    assert "needs.apply.result == 'success' || needs.apply.result == 'skipped'" in registry["if"]
    assert "!cancelled()" in registry["if"]  # not always(): a cancelled run applies nothing more
    assert set(jobs["sync"]["needs"]) == {"changes", "apply", "apply_registry"}


# -- environments and OIDC ----------------------------------------------------------------------


def test_every_job_that_assumes_a_role_has_an_environment_and_an_oidc_token() -> None:
    for name, workflow in workflows().items():
        for job_id, job in workflow["jobs"].items():
            if not uses(job, AWS_ACTION):
                assert "environment" not in job, f"{name}/{job_id}: an environment but no AWS"
                continue
            environment = job.get("environment") or workflow.get("environment")
            assert environment, f"{name}/{job_id} assumes a role without an environment"
            permissions = job.get("permissions", workflow.get("permissions", {}))
            assert permissions.get("id-token") == "write", f"{name}/{job_id}: no OIDC token"
            # Only the apply job may use the apply role's environment; every other job the
            # read-only ENV-plan one.
            applies = name == "ecr-auto-apply.yml" and job_id in ("apply", "apply_registry")
            assert environment.endswith("-plan") != applies, f"{name}/{job_id}: {environment}"


# -- the lock ----------------------------------------------------------------------------------


def _pins(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) of a pip-compile lock with hashes."""
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    for block in re.split(r"\n(?=[a-z0-9])", path.read_text()):
        found = re.match(r"([a-z0-9][a-z0-9._-]*)==(\S+)", block)
        if found:
            hashes = frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
            assert hashes, f"{path.name}: {found[1]} has no hash"
            pins[found[1]] = (found[2], hashes)
    return pins


def _name(requirement: str) -> str:
    found = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert found
    return re.sub(r"[._-]+", "-", found[0]).lower()


def test_the_locks_pin_every_dependency_with_hashes_and_agree() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    runtime = {_name(r) for r in project["project"]["dependencies"]}
    build = {_name(r) for r in project["build-system"]["requires"]}
    tests = {_name(r) for r in project["project"]["optional-dependencies"]["test"]}
    ci = _pins(REPO / "requirements" / "ci.txt")
    test = _pins(REPO / "requirements" / "test.txt")
    assert runtime | build <= set(ci), sorted(runtime | build - set(ci))
    assert runtime | build | tests <= set(test), sorted(runtime | build | tests - set(test))
    for name, pin in ci.items():
        assert test.get(name) == pin, f"{name}: ci.txt and test.txt pin it differently"


def test_every_install_comes_from_the_lock() -> None:
    locked = [
        "pip install --require-hashes -r requirements/ci.txt",
        "pip install --no-deps --no-build-isolation .",
    ]
    for name, workflow in workflows().items():
        for job_id, job in workflow["jobs"].items():
            runs = [str(s.get("run", "")) for s in steps(job)]
            installs = [line.strip() for run in runs for line in run.splitlines() if "pip" in line]
            if installs:
                assert installs == locked, f"{name}/{job_id}: {installs}"
    makefile = (REPO / "Makefile").read_text()
    assert "pip install -q --require-hashes -r requirements/test.txt" in makefile
    assert "pip install -q --no-deps --no-build-isolation -e ." in makefile


def test_every_workflow_is_run_by_a_workflow_test() -> None:
    """A new workflow file comes with its run in tests/workflows (docs/CI.md)."""
    sources = "\n".join(p.read_text() for p in (REPO / "tests" / "workflows").glob("test_*.py"))
    for name in workflows():
        assert f'"{name}"' in sources, f"{name}: no test in tests/workflows runs it"
