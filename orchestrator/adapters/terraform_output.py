"""What terraform says, read: the `-json` stream (changes, drift, applied addresses), a saved
plan's JSON, the Lock Info block, and a failed command turned into one TerraformError with a hint.

Pure functions of terraform's output; adapters/terraform.py runs the commands.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import TerraformError
from orchestrator.models import Action, ResourceChange, instance_of

# The "Lock Info:" block terraform prints when the state lock is held (the S3 backend's own
# error text before it carries RequestID:/HostID:, so each field is matched at a line start).
_LOCK_FIELD = re.compile(
    r"^[ \t]*(ID|Path|Operation|Who|Created):[ \t]*(\S.*?)[ \t]*$", re.MULTILINE
)


@dataclass
class RunResult:
    returncode: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""


# What terraform says when the data dir no longer holds what init installed.
_STALE_INIT = (
    "required plugins are not installed",
    "there is no package for",
    "inconsistent dependency lock file",
    "backend initialization required",
)


def needs_init(failure: TerraformError) -> bool:
    text = failure.message.lower()
    return any(marker in text for marker in _STALE_INIT)


def decode(line: str) -> dict[str, Any] | None:
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def interrupted_apply(planned: list[str], started: list[str], applied: list[str]) -> str:
    """What an interrupted apply did: applied, in flight when it stopped, and not applied."""
    done = set(applied)
    in_flight = [a for a in dict.fromkeys(started) if a not in done]
    parts = [f"applied before stopping: {', '.join(applied) or 'nothing'}"]
    if in_flight:
        parts.append(
            "in flight when it stopped (may exist in AWS without being in the state): "
            + ", ".join(in_flight)
        )
    if planned:
        rest = [a for a in planned if a not in done and a not in in_flight]
        parts.append(f"not applied: {', '.join(rest) or 'nothing'}")
    return "interrupted during terraform apply; " + "; ".join(parts)


def _stream_changes(messages: list[dict[str, Any]], kind: str) -> list[ResourceChange]:
    """The resource changes in the `kind` messages of terraform's -json stream."""
    found = []
    for message in messages:
        if message.get("type") != kind:
            continue
        change = message.get("change", {})
        action = change.get("action", "")
        address = change.get("resource", {}).get("addr", "")
        if action in set(Action):
            reason = change.get("reason")
            importing = bool(change.get("importing"))  # an import block's {"id": ...}
            found.append(
                ResourceChange(address, Action(action), instance_of(address), reason, importing)
            )
    return found


def changes_from_messages(messages: list[dict[str, Any]]) -> list[ResourceChange]:
    """The `planned_change` messages of a plan: what applying it would do."""
    return _stream_changes(messages, "planned_change")


def drift_from_messages(messages: list[dict[str, Any]]) -> list[ResourceChange]:
    """The `resource_drift` messages of a plan: resources changed or deleted outside Terraform."""
    return _stream_changes(messages, "resource_drift")


def lock_holder(text: str) -> dict[str, str]:
    """The fields of the "Lock Info:" block in a failed lock's message (ID, Who, Operation ...)."""
    at = text.find("Lock Info:")
    if at < 0:
        return {}
    return {key: value for key, value in _LOCK_FIELD.findall(text[at:])}


def changes_from_plan_json(plan: dict[str, Any]) -> list[ResourceChange]:
    changes = []
    for rc in plan.get("resource_changes", []):
        actions = rc.get("change", {}).get("actions", [])
        if actions in (["no-op"], ["read"]):
            continue
        if set(actions) in ({"create", "delete"}, {"create", "forget"}):
            action = Action.REPLACE
        elif actions == ["forget"]:
            action = Action.REMOVE
        elif len(actions) == 1 and actions[0] in set(Action):
            action = Action(actions[0])
        else:
            raise TerraformError(
                f"the plan holds actions ecrctl does not know for {rc.get('address')}: {actions}",
                [],
                0,
                "",
            )
        tainted = rc.get("action_reason") == "replace_because_tainted"
        changes.append(
            ResourceChange(
                rc["address"],
                action,
                instance_of(rc["address"]),
                "tainted" if tainted else None,
                importing=bool(rc.get("change", {}).get("importing")),
            )
        )
    return changes


def applied_addresses(messages: list[dict[str, Any]]) -> list[str]:
    return [
        m.get("hook", {}).get("resource", {}).get("addr", "")
        for m in messages
        if m.get("type") == "apply_complete"
    ]


def failure(
    what: str, cmd: list[str], result: RunResult, env: str = "ENV", state: str | None = None
) -> TerraformError:
    """`state`: the state's name when the environment is sharded (its lock, its data dir)."""
    data_dir = f"{env}.{state}" if state else env
    state_option = f" --state {state}" if state else ""
    diagnostics = [
        m["diagnostic"]
        for m in result.messages
        if m.get("type") == "diagnostic" and m.get("diagnostic", {}).get("severity") == "error"
    ]
    errors = [" ".join(filter(None, [d.get("summary"), d.get("detail")])) for d in diagnostics]
    # Lock Info is read from the raw text: its fields are one per line there.
    raw = "\n".join(str(d.get("detail") or "") for d in diagnostics) + "\n" + result.stderr
    # The first error is the cause (later ones are its consequences): keep it whole, cut the end.
    text = " | ".join(dict.fromkeys(errors)) or (result.stderr.strip() or result.stdout.strip())
    squashed = " ".join(text.split())
    tail = squashed if len(squashed) <= 600 else squashed[:600] + " ..."
    hint = None
    state_saved = "failed to persist state" not in text.lower()
    if not state_saved:
        # The backend went away mid-apply: the only record of what was applied is a local file.
        hint = (
            f"terraform could not save the state of {env} and wrote it to"
            " terraform/errored.tfstate: keep that file, and before anything else runs in"
            f" {env} push it once the backend answers (from terraform/, with"
            f" TF_DATA_DIR=.ecrctl/tf/{data_dir}: terraform state push errored.tfstate); running"
            " apply first would fork the state"
        )
        if "releasing the state lock" in text.lower():
            hint += "; the state lock may still be held (the next run names it)"
    elif "acquiring the state lock" in text.lower():
        holder = lock_holder(raw) or lock_holder(text)
        lock_id = holder.get("ID", "LOCK_ID")
        held_by = ", ".join(
            part
            for part in (
                holder.get("Who"),
                holder.get("Operation", "").removeprefix("OperationType").lower() or None,
                f"since {holder['Created']}" if "Created" in holder else None,
            )
            if part
        )
        hint = (
            f"another terraform run holds the state lock of {env}{'/' + state if state else ''}"
            f"{' (held by ' + held_by + ', lock ID ' + lock_id + ')' if holder else ''}; wait for"
            " it (--lock-timeout or ECRCTL_LOCK_TIMEOUT waits), or only if that run died:"
            f" ecrctl unlock {env} {lock_id}{state_option}"
        )
        if holder:
            # Lock Info says all there is: the rest is that block again and S3's 412, cut short.
            tail = f"the state lock is held by {held_by} (lock ID {lock_id})"
    elif "failed to query available provider packages" in text.lower():
        hint = (
            "terraform could not fetch the AWS provider: set ECRCTL_PROVIDER_MIRROR to an offline"
            " provider mirror (a directory holding registry.terraform.io/hashicorp/aws;"
            " scripts/find-provider-mirror looks for one), or let terraform reach its registry"
        )
    elif any(marker in text.lower() for marker in _STALE_INIT):
        hint = (
            f"terraform's providers for {env} (.ecrctl/tf/{env}) are not what the provider mirror"
            " holds, even after a fresh init: point ECRCTL_PROVIDER_MIRROR at a mirror holding"
            " hashicorp/aws as terraform/.terraform.lock.hcl pins it"
            " (scripts/find-provider-mirror finds one), then run again"
        )
    elif "stale" in text.lower() and "plan" in text.lower():
        hint = "the state changed since this plan was made; run ecrctl plan again and review it"
    return TerraformError(
        f"{what} failed (exit {result.returncode}): {tail}",
        cmd,
        result.returncode,
        tail,
        hint,
        state_saved,
    )
