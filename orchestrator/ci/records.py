"""Plan records: what `ci plan` reviewed and `ci apply` re-plans, one per environment, and their fingerprint.

A record holds the entries, each resource change (address and action), the guard's verdicts, the plan as
terraform prints it, and a fingerprint: the sha256 of the sorted `env action address` lines.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.ci.changes import ChangeSet
from orchestrator.errors import UserError
from orchestrator.files.workspace import Workspace
from orchestrator.models import ApplyResult, ResourceChange, Violation
from orchestrator.rules import shards

RECORD_VERSION = 1


def plan_dir(ws: Workspace) -> Path:
    return ws.state_dir / "ci" / "plan"


def apply_dir(ws: Workspace) -> Path:
    return ws.state_dir / "ci" / "apply"


def record_file(directory: Path, env: str, state: str | None = None) -> Path:
    """`plan-ENV.json`, or `plan-ENV.STATE.json` for the plan of one state (a CI matrix job)."""
    return directory / (f"plan-{env}.json" if state is None else f"plan-{env}.{state}.json")


REFUSED = "refused.md"  # the failure summary ci changes / ci plan leave for ci report
REGISTRY_HELD = "(registry)"  # no repository name has parentheses (rules/policy.py)


Held = Mapping[str, Iterable[tuple[str, str]]]  # env -> (repository, its settings as JSON)


def fingerprint_lines(
    env_changes: Mapping[str, Iterable[ResourceChange]], held: Held | None = None
) -> list[str]:
    return sorted(
        [
            # An import is part of what was reviewed: `update+import` differs from `update`.
            f"{env}\t{change.action}{'+import' if change.importing else ''}\t{change.address}"
            for env, found in env_changes.items()
            for change in found
        ]
        + [
            f"{env}\tholds\t{name}\t{settings}"
            for env, repos in (held or {}).items()
            for name, settings in repos
        ]
    )


def fingerprint(
    env_changes: Mapping[str, Iterable[ResourceChange]], held: Held | None = None
) -> str:
    """sha256 of the sorted `env action address` lines: what a plan would do, and where.

    With `held`, also `env holds NAME SETTINGS` per repository: the settings each will hold
    after the apply (tier, principals ...), so that an update granting another principal
    than the reviewed one, whose resource changes look alike, does not match.
    """
    text = "\n".join(fingerprint_lines(env_changes, held))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def combined(records: Iterable[EnvRecord]) -> str:
    """The fingerprint of several plans: environments, or states of one environment planned
    apart (CI's matrix), whose lines together are those of the environment's whole plan."""
    changes: dict[str, list[ResourceChange]] = {}
    held: dict[str, list[tuple[str, str]]] = {}
    for r in records:
        changes.setdefault(r.env, []).extend(r.changes)
        held.setdefault(r.env, []).extend(r.held)
    return fingerprint(changes, held)


@dataclass(frozen=True)
class EnvRecord:
    """The plan of one environment, as reviewed (ci plan) or as re-planned (ci apply)."""

    env: str
    base: str
    head: str
    pull_request: dict[str, Any] | None
    entries: tuple[dict[str, Any], ...]
    changes: tuple[ResourceChange, ...]
    guard: tuple[Violation, ...]
    plan_text: str
    plan_file: str
    # Repositories the registry's CONTINUOUS_SCAN filters scan more than their tier asks, and
    # why (scanning.OverScan.lines); shown, not fingerprinted: it follows from the tfvars.
    scanning: tuple[str, ...] = ()
    # What replicates where and beyond what its tier asks (replication.Replication.lines),
    # when the plan changes the replication configuration; shown, not fingerprinted.
    replication: tuple[str, ...] = ()
    # The one state this record plans (ci plan --state: a CI matrix job), or None: every
    # state the environment's change touches.
    state: str | None = None

    @property
    def label(self) -> str:
        """`ENV`, or `ENV/STATE` for the plan of one state."""
        return self.env if self.state is None else f"{self.env}/{self.state}"

    # The registry-wide settings the change edits, "SETTING: NOW -> AFTER" (changes.RegistryMove):
    # fingerprinted, like each repository's settings after the apply, so that a plan that
    # creates or updates the same registry-wide resources with other settings does not match.
    registry: tuple[str, ...] = ()

    @property
    def held(self) -> list[tuple[str, str]]:
        """(repository, the settings it will hold as JSON) of each entry that records them, and
        (REGISTRY_HELD, the registry-wide settings the change edits) when it edits any."""
        found = [
            (str(e["name"]), json.dumps(e["settings"]["after"], sort_keys=True))
            for e in self.entries
            if isinstance(e.get("settings"), dict) and e["settings"].get("after")
        ]
        if self.registry:
            found.append((REGISTRY_HELD, json.dumps(sorted(self.registry))))
        return found

    @property
    def fingerprint(self) -> str:
        return fingerprint({self.env: self.changes}, {self.env: self.held})

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": RECORD_VERSION,
            "env": self.env,
            "state": self.state,
            "base": self.base,
            "head": self.head,
            "pull_request": self.pull_request,
            "entries": list(self.entries),
            "changes": [c.to_dict() for c in self.changes],
            "fingerprint": self.fingerprint,
            "guard": [v.to_dict() for v in self.guard],
            "plan_file": self.plan_file,
            "plan_text": self.plan_text,
            "scanning": list(self.scanning),
            "replication": list(self.replication),
            "registry": list(self.registry),
        }

    @classmethod
    def from_dict(cls, data: Any, where: Path) -> EnvRecord:
        try:
            if data["version"] != RECORD_VERSION:
                raise UserError(
                    f"{where}: plan record version {data['version']!r} is not supported"
                )
            record = cls(
                env=str(data["env"]),
                base=str(data["base"]),
                head=str(data["head"]),
                pull_request=data.get("pull_request"),
                entries=tuple(dict(e) for e in data["entries"]),
                changes=tuple(ResourceChange.from_dict(c) for c in data["changes"]),
                guard=tuple(Violation.from_dict(v) for v in data.get("guard", [])),
                plan_text=str(data.get("plan_text", "")),
                plan_file=str(data.get("plan_file", "")),
                scanning=tuple(str(line) for line in data.get("scanning", [])),
                replication=tuple(str(line) for line in data.get("replication", [])),
                state=None if data.get("state") is None else str(data["state"]),
                registry=tuple(str(line) for line in data.get("registry", [])),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UserError(f"{where} is not an ecrctl plan record ({exc})") from None
        if data.get("fingerprint") != record.fingerprint:
            raise UserError(
                f"{where}: the recorded fingerprint does not match its own changes",
                "the record was edited; use the one ecrctl ci plan wrote",
            )
        return record


def load_record(path: Path) -> EnvRecord:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"no reviewed plan record at {path}") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} is not readable JSON ({exc})") from None
    return EnvRecord.from_dict(data, path)


def load_records(directory: Path) -> list[EnvRecord]:
    """Every plan record under `directory` (artifacts of several jobs may sit in subfolders)."""
    if not directory.is_dir():
        raise UserError(f"{directory} is not a directory of plan records")
    records = [load_record(p) for p in sorted(directory.rglob("plan-*.json"))]
    labels = [r.label for r in records]
    dupes = sorted({e for e in labels if labels.count(e) > 1})
    if dupes:
        raise UserError(f"{directory} holds more than one plan record for {', '.join(dupes)}")
    # A plan of the whole environment and one of its states would count the state twice.
    whole = {r.env for r in records if r.state is None}
    mixed = sorted({r.env for r in records if r.state is not None and r.env in whole})
    if mixed:
        raise UserError(
            f"{directory} holds a plan record of the whole of {', '.join(mixed)} and one of its"
            " states",
            "keep the records of one ci plan run (with --state, or without it)",
        )
    return sorted(records, key=lambda r: (r.env, _state_order(r.state)))


def _state_order(state: str | None) -> tuple[int, str]:
    """main, then the shards, then the registry (applied last)."""
    return (
        2 if state == shards.REGISTRY else 0 if state in (None, shards.MAIN) else 1,
        state or "",
    )


@dataclass(frozen=True)
class CiPlan:
    change_set: ChangeSet
    records: tuple[EnvRecord, ...]
    summary: str
    out_dir: Path

    @property
    def objections(self) -> list[Violation]:
        return [v for r in self.records for v in r.guard]

    @property
    def fingerprint(self) -> str:
        return combined(self.records)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.change_set.to_dict(),
            "fingerprint": self.fingerprint,
            "plans": {
                r.label: {
                    "fingerprint": r.fingerprint,
                    "changes": [c.to_dict() for c in r.changes],
                    "guard": [v.to_dict() for v in r.guard],
                    "record": str(record_file(self.out_dir, r.env, r.state)),
                }
                for r in self.records
            },
        }


@dataclass(frozen=True)
class Mismatch:
    env: str
    reason: str
    added: tuple[str, ...] = ()  # fingerprint lines in the new plan, not in the reviewed one
    dropped: tuple[str, ...] = ()  # reviewed lines the new plan no longer has

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "reason": self.reason,
            "added": list(self.added),
            "dropped": list(self.dropped),
        }


@dataclass(frozen=True)
class CiApply:
    change_set: ChangeSet
    records: tuple[EnvRecord, ...]  # the plans made now
    mismatches: tuple[Mismatch, ...]
    applied: tuple[ApplyResult, ...] = ()
    catalog_changes: tuple[str, ...] = ()  # left in the work tree for the follow-up PR
    notes: tuple[str, ...] = ()  # what went wrong after the apply stood (the catalog sync)
    summary: str = ""

    @property
    def refused(self) -> bool:
        return bool(self.mismatches)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.change_set.to_dict(),
            "fingerprint": combined(self.records),
            "refused": self.refused,
            "mismatches": [m.to_dict() for m in self.mismatches],
            "applied": {
                r.label: list(a.applied) for r, a in zip(self.records, self.applied, strict=False)
            },
            "catalog_changes": list(self.catalog_changes),
            "notes": list(self.notes),
        }
