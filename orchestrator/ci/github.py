"""The GitHub side of ci: the pull request of the event being handled, and the step summary."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import UserError
from orchestrator.files.workspace import atomic_write


def pull_request(environ: Mapping[str, str] = os.environ) -> dict[str, Any] | None:
    """The pull request of the GitHub event being handled (GITHUB_EVENT_PATH), if any."""
    path = environ.get("GITHUB_EVENT_PATH")
    if not path:
        return None
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"GITHUB_EVENT_PATH={path} is not a readable event file ({exc})") from None
    pr = event.get("pull_request") if isinstance(event, dict) else None
    if not isinstance(pr, dict):
        return None
    head: dict[str, Any] = pr["head"] if isinstance(pr.get("head"), dict) else {}
    base: dict[str, Any] = pr["base"] if isinstance(pr.get("base"), dict) else {}
    return {
        "number": pr.get("number"),
        "title": pr.get("title"),
        "url": pr.get("html_url"),
        "head_sha": head.get("sha"),
        "base_ref": base.get("ref"),
        "merged": pr.get("merged"),
        "merge_commit_sha": pr.get("merge_commit_sha"),
    }


@dataclass
class Published:
    files: list[Path] = field(default_factory=list)


def publish(
    summary: str, summary_file: Path | None, environ: Mapping[str, str] = os.environ
) -> Published:
    """Write the summary to --summary-file and append it to $GITHUB_STEP_SUMMARY when set."""
    done = Published()
    if summary_file is not None:
        summary_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(summary_file, summary)
        done.files.append(summary_file)
    step = environ.get("GITHUB_STEP_SUMMARY")
    if step:
        with open(step, "a", encoding="utf-8") as handle:
            handle.write(summary + "\n")
        done.files.append(Path(step))
    return done
