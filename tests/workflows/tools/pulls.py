"""create-pull-request stand-in: commit add-paths on a branch, push it, record the pull request.

Run by tests/workflows/actions/peter-evans/create-pull-request with the action's inputs in the
environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BOT = ["-c", "user.name=ecr-bot[bot]", "-c", "user.email=ecr-bot@users.noreply.github.com"]


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def main() -> int:
    env = os.environ
    if not env["TOKEN"]:
        print("create-pull-request (stand-in): no token", file=sys.stderr)
        return 1
    paths = [p.strip() for p in env["ADD_PATHS"].splitlines() if p.strip()] or ["."]
    git("add", "--", *paths)
    if not git("diff", "--cached", "--name-only"):
        print("create-pull-request (stand-in): no changes, no pull request")
        return 0
    branch = env["BRANCH"]
    changed = git("diff", "--cached", "--name-only").splitlines()
    git(*BOT, "commit", "-q", "-m", env["MESSAGE"])
    head = git("rev-parse", "HEAD")
    git("push", "-q", "-f", "origin", f"HEAD:refs/heads/{branch}")
    state = Path(env["STANDIN_STATE"]) / "pulls" / "by-branch"
    state.mkdir(parents=True, exist_ok=True)
    record = {
        "branch": branch,
        "base": env["BASE"],
        "head_sha": head,
        "title": env["TITLE"],
        "body": env["BODY"],
        "labels": [
            label.strip()
            for label in env["LABELS"].replace(",", "\n").splitlines()
            if label.strip()
        ],
        "files": changed,
        "run_id": env["GITHUB_RUN_ID"],
        "workflow": env["GITHUB_WORKFLOW"],
    }
    (state / (branch.replace("/", "__") + ".json")).write_text(json.dumps(record, indent=2))
    with open(env["GITHUB_OUTPUT"], "a") as out:
        out.write(f"pull-request-number={len(list(state.glob('*.json')))}\n")
    print(f"create-pull-request (stand-in): {branch} -> {env['BASE']}: {env['TITLE']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
