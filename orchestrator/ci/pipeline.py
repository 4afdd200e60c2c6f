"""ecrctl ci: plan a registry change on a pull request, apply exactly that on merge.

`plan` compares two revisions (changes.compare), runs ONE targeted plan per environment for
every repository the change adds, changes or removes, passes it through the plan guard and
writes one plan record per environment: the entries, each resource change (address and action),
the guard's verdict, the plan as terraform prints it, and a fingerprint, the sha256 of the
sorted `env action address` lines. The Markdown summary for the pull request is rendered from
the records, so records planned in separate jobs (one per AWS account) render as one comment.

`apply` recomputes the change set on the merged revision, plans the same targets again and
compares with the reviewed records (the ecr-plan run's artifact for the pull request's head
commit, see docs/CI.md): the same entries, the same fingerprint, or nothing is applied in any
environment. A human who reviewed the new plan may pass its fingerprint explicitly instead.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from orchestrator.adapters.git import Git
from orchestrator.adapters.terraform import Progress, instance_of
from orchestrator.ci import changes
from orchestrator.ci.changes import ChangeSet, EntryChange
from orchestrator.errors import UserError
from orchestrator.files.workspace import Workspace, atomic_write
from orchestrator.models import ApplyResult, ResourceChange
from orchestrator.ops import workflows
from orchestrator.ops.review import Review

RECORD_VERSION = 1
MARKER = "<!-- ecrctl:ci-plan -->"
PLAN_TEXT_LIMIT = 45_000  # a PR comment holds 65,536 characters; keep room for the tables
ACTION_ORDER = ("create", "update", "replace", "delete")


def plan_dir(ws: Workspace) -> Path:
    return ws.state_dir / "ci" / "plan"


def apply_dir(ws: Workspace) -> Path:
    return ws.state_dir / "ci" / "apply"


def record_file(directory: Path, env: str) -> Path:
    return directory / f"plan-{env}.json"


REFUSED = "refused.md"  # the failure summary ci changes / ci plan leave for ci report


# -- the GitHub event ------------------------------------------------------------------------


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


# -- fingerprint -----------------------------------------------------------------------------


Held = Mapping[str, Iterable[tuple[str, str]]]  # env -> (repository, its settings as JSON)


def fingerprint_lines(
    env_changes: Mapping[str, Iterable[ResourceChange]], held: Held | None = None
) -> list[str]:
    return sorted(
        [
            f"{env}\t{change.action}\t{change.address}"
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


# -- records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvRecord:
    """The plan of one environment, as reviewed (ci plan) or as re-planned (ci apply)."""

    env: str
    base: str
    head: str
    pull_request: dict[str, Any] | None
    entries: tuple[dict[str, Any], ...]
    changes: tuple[ResourceChange, ...]
    guard: tuple[str, ...]
    plan_text: str
    plan_file: str

    @property
    def held(self) -> list[tuple[str, str]]:
        """(repository, the settings it will hold as JSON) of each entry that records them."""
        return [
            (str(e["name"]), json.dumps(e["settings"]["after"], sort_keys=True))
            for e in self.entries
            if isinstance(e.get("settings"), dict) and e["settings"].get("after")
        ]

    @property
    def fingerprint(self) -> str:
        return fingerprint({self.env: self.changes}, {self.env: self.held})

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": RECORD_VERSION,
            "env": self.env,
            "base": self.base,
            "head": self.head,
            "pull_request": self.pull_request,
            "entries": list(self.entries),
            "changes": [c.to_dict() for c in self.changes],
            "fingerprint": self.fingerprint,
            "guard": list(self.guard),
            "plan_file": self.plan_file,
            "plan_text": self.plan_text,
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
                changes=tuple(
                    ResourceChange(
                        str(c["address"]), str(c["action"]), c.get("repository"), c.get("reason")
                    )
                    for c in data["changes"]
                ),
                guard=tuple(str(g) for g in data.get("guard", [])),
                plan_text=str(data.get("plan_text", "")),
                plan_file=str(data.get("plan_file", "")),
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
    envs = [r.env for r in records]
    dupes = sorted({e for e in envs if envs.count(e) > 1})
    if dupes:
        raise UserError(f"{directory} holds more than one plan record for {', '.join(dupes)}")
    return sorted(records, key=lambda r: r.env)


# -- ci plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CiPlan:
    change_set: ChangeSet
    records: tuple[EnvRecord, ...]
    summary: str
    out_dir: Path

    @property
    def objections(self) -> list[str]:
        return [f"{r.env}: {o}" for r in self.records for o in r.guard]

    @property
    def fingerprint(self) -> str:
        return combined(self.records)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.change_set.to_dict(),
            "fingerprint": self.fingerprint,
            "plans": {
                r.env: {
                    "fingerprint": r.fingerprint,
                    "changes": [c.to_dict() for c in r.changes],
                    "guard": list(r.guard),
                    "record": str(record_file(self.out_dir, r.env)),
                }
                for r in self.records
            },
        }


def combined(records: Iterable[EnvRecord]) -> str:
    """The fingerprint of several environments' plans."""
    records = list(records)
    return fingerprint({r.env: r.changes for r in records}, {r.env: r.held for r in records})


def change_set(ws: Workspace, base_ref: str, head_ref: str = "HEAD") -> ChangeSet:
    """The change between two revisions, refused unless it is a valid registry change."""
    found = changes.compare(ws, base_ref, head_ref)
    changes.validate_head(ws)
    return found


def _in_scope(cs: ChangeSet, env: str | None) -> list[str]:
    if env is not None:
        return [env] if env in cs.environments() else []
    return cs.environments()


def _plan_env(
    ws: Workspace,
    cs: ChangeSet,
    env: str,
    out: Path,
    pr: dict[str, Any] | None,
    progress: Progress | None,
    full_plan: bool = False,
) -> EnvRecord:
    entries = cs.planned(env)
    names = [e.name for e in entries]
    result, objections = workflows.plan(ws, env, names, out, progress=progress)
    text = ""
    if full_plan and result.changes:  # `terraform show` loads the provider a second time
        text = workflows.terraform_for(ws, env, progress).show_plan_text(result.plan_file)
    return EnvRecord(
        env=env,
        base=cs.base,
        head=cs.head,
        pull_request=pr,
        entries=tuple(_entry_dict(e, result.changes, objections, result.reviews) for e in entries),
        changes=result.changes,
        guard=tuple(objections),
        plan_text=text,
        plan_file=str(result.plan_file),
    )


def _entry_dict(
    entry: EntryChange,
    found: Iterable[ResourceChange],
    objections: list[str],
    reviews: Iterable[Review] = (),
) -> dict[str, Any]:
    mine = [c for c in found if c.instance == entry.name]
    settings = next((r.to_dict() for r in reviews if r.name == entry.name), None)
    return {
        **entry.to_dict(),
        "actions": {a: n for a in ACTION_ORDER if (n := sum(c.action == a for c in mine))},
        "guard": [o for o in objections if _instance_of_objection(o) == entry.name],
        **({"settings": settings} if settings else {}),
    }


def _instance_of_objection(objection: str) -> str | None:
    return instance_of(objection.split(" ", 1)[0])


def plan(
    ws: Workspace,
    base_ref: str,
    head_ref: str = "HEAD",
    env: str | None = None,
    out_dir: Path | None = None,
    progress: Progress | None = None,
    environ: Mapping[str, str] = os.environ,
    full_plan: bool = False,
) -> CiPlan:
    """One targeted plan per environment the change touches; records and a summary.

    `full_plan` adds terraform's own rendering of each plan (one more provider load each).
    """
    cs = change_set(ws, base_ref, head_ref)
    if env is not None:
        ws.env_dir(env)
    pr = pull_request(environ)
    out_dir = (out_dir or plan_dir(ws)).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*out_dir.glob("plan-*.json"), out_dir / REFUSED]:
        stale.unlink(missing_ok=True)  # an earlier run's records must never pass for this one's
    records = []
    for name in _in_scope(cs, env):
        record = _plan_env(ws, cs, name, out_dir / f"{name}.tfplan", pr, progress, full_plan)
        atomic_write(record_file(out_dir, name), json.dumps(record.to_dict(), indent=2) + "\n")
        records.append(record)
    summary = render_plan(cs, records, pr, env)
    atomic_write(out_dir / "summary.md", summary)
    return CiPlan(cs, tuple(records), summary, out_dir)


# -- ci apply --------------------------------------------------------------------------------


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
            "applied": {a.plan.env: list(a.applied) for a in self.applied},
            "catalog_changes": list(self.catalog_changes),
            "notes": list(self.notes),
        }


def _compare(
    record: EnvRecord | None,
    now: EnvRecord,
    accepted: str | None,
    pr: dict[str, Any] | None,
) -> Mismatch | None:
    env = now.env
    if accepted is not None:
        if accepted != now.fingerprint:
            return Mismatch(env, f"the plan's fingerprint is {now.fingerprint}, not {accepted}")
        return None
    if record is None:
        return Mismatch(env, "no reviewed plan record for this environment")
    if record.env != env:
        return Mismatch(env, f"the reviewed record is for environment {record.env!r}")
    reviewed_head = (record.pull_request or {}).get("head_sha")
    merged_head = (pr or {}).get("head_sha")
    if reviewed_head and merged_head and reviewed_head != merged_head:
        return Mismatch(
            env,
            f"the reviewed plan was made for commit {reviewed_head[:12]}, but the pull request"
            f" was merged at {merged_head[:12]}",
        )
    keys = ("name", "change", "risk", "owner", "id", "detail")
    reviewed = sorted(tuple(str(e.get(k, "")) for k in keys) for e in record.entries)
    current = sorted(tuple(str(e.get(k, "")) for k in keys) for e in now.entries)
    if reviewed != current:
        return Mismatch(
            env,
            "the merged change is not the reviewed one: reviewed "
            + (", ".join(f"{r[1]} {r[0]}" for r in reviewed) or "nothing")
            + "; merged "
            + (", ".join(f"{c[1]} {c[0]}" for c in current) or "nothing"),
        )
    if record.fingerprint != now.fingerprint:
        old = set(fingerprint_lines({env: record.changes}, {env: record.held}))
        new = set(fingerprint_lines({env: now.changes}, {env: now.held}))
        return Mismatch(
            env,
            f"the plan changed since it was reviewed ({record.fingerprint[:19]} reviewed,"
            f" {now.fingerprint[:19]} now): the state or the registry moved in between",
            tuple(sorted(new - old)),
            tuple(sorted(old - new)),
        )
    return None


def apply(
    ws: Workspace,
    base_ref: str,
    head_ref: str,
    env: str | None = None,
    reviewed_dir: Path | None = None,
    accepted: str | None = None,
    progress: Progress | None = None,
    environ: Mapping[str, str] = os.environ,
) -> CiApply:
    """Re-plan the merged change; apply it only where it is exactly what was reviewed.

    Every environment in scope is planned and compared before anything is applied: one
    mismatch and nothing is applied anywhere.
    """
    cs = change_set(ws, base_ref, head_ref)
    if env is not None:
        ws.env_dir(env)
    pr = pull_request(environ)
    envs = _in_scope(cs, env)
    if accepted is not None and len(envs) > 1:
        raise UserError(
            "--fingerprint accepts the plan of one environment",
            f"pass --env (one of {', '.join(envs)}) with it",
        )
    reviewed_dir = (reviewed_dir or plan_dir(ws)).resolve()
    reviewed: dict[str, EnvRecord] = {}
    if accepted is None and envs:
        reviewed = {r.env: r for r in load_records(reviewed_dir)}
    out_dir = apply_dir(ws).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    records, mismatches = [], []
    for name in envs:
        now = _plan_env(ws, cs, name, out_dir / f"{name}.tfplan", pr, progress)
        records.append(now)
        mismatch = _compare(reviewed.get(name), now, accepted, pr)
        if mismatch is None and now.guard:
            mismatch = Mismatch(name, "the plan guard refuses the plan: " + "; ".join(now.guard))
        if mismatch is not None:
            mismatches.append(mismatch)
    if mismatches:
        result = CiApply(cs, tuple(records), tuple(mismatches))
        return _with_summary(result, pr)
    applied, notes = [], []
    for record in records:
        names = [str(e["name"]) for e in record.entries]
        done = workflows.apply(
            ws, record.env, names, Path(record.plan_file), lambda _plan: True, progress=progress
        )
        applied.append(done)
        sync_error = getattr(done, "sync_error", None)  # the catalog sync that follows an apply
        if sync_error is not None:
            notes.append(
                f"{record.env}: the apply stands, but the catalog sync after it failed:"
                f" {getattr(sync_error, 'message', sync_error)}; ecr-backstage-sync runs it again"
            )
    left = _catalog_changes(ws)
    result = CiApply(cs, tuple(records), (), tuple(applied), left, tuple(notes))
    return _with_summary(result, pr)


def _catalog_changes(ws: Workspace) -> tuple[str, ...]:
    git = Git(ws.root)
    prefix = git.prefix()
    return tuple(p.removeprefix(prefix) for p in git.uncommitted(["catalog"]))


def _with_summary(result: CiApply, pr: dict[str, Any] | None) -> CiApply:
    return replace(result, summary=render_apply(result, pr))


# -- Markdown --------------------------------------------------------------------------------


def _short(sha: str) -> str:
    return sha[:12]


def _counts(found: Iterable[ResourceChange]) -> str:
    found = list(found)
    parts = [f"{sum(c.action == a for c in found)} to {a}" for a in ACTION_ORDER]
    return ", ".join(p for p in parts if not p.startswith("0 ")) or "no changes"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _verdict(objections: list[str]) -> str:
    if not objections:
        return "✅ passes"
    return "❌ refused: " + _cell("; ".join(o.split(": ", 1)[-1] for o in objections))


def _header(cs: ChangeSet, pr: dict[str, Any] | None) -> str:
    where = f"base `{_short(cs.base)}` → head `{_short(cs.head)}`"
    if pr and pr.get("number"):
        link = f"[#{pr['number']}]({pr['url']})" if pr.get("url") else f"#{pr['number']}"
        where += f" · pull request {link}"
    return where


def _env_section(record: EnvRecord, heading: str) -> list[str]:
    lines = [f"#### `{record.env}`: {_counts(record.changes)}", ""]
    lines += [
        "| Repository | Request | Risk | Owner | Plan | Guard |",
        "|---|---|---|---|---|---|",
    ]
    for entry in record.entries:
        actions = entry.get("actions") or {}
        plan = ", ".join(f"{n} {a}" for a, n in actions.items()) or "no change"
        request = entry["change"] + (f" ({_cell(entry['detail'])})" if entry.get("detail") else "")
        lines.append(
            f"| `{entry['name']}` | {request} | {entry['risk']} | `{entry['owner']}` | {plan}"
            f" | {_verdict(list(entry.get('guard') or []))} |"
        )
    names = {str(e["name"]) for e in record.entries}
    others = [c for c in record.changes if c.instance not in names]
    if others:
        outside = [o for o in record.guard if _instance_of_objection(o) not in names]
        for change in others:
            label = "registry-wide" if change.instance is None else f"`{change.instance}`"
            mine = [o for o in outside if o.split(" ", 1)[0] == change.address]
            lines.append(
                f"| *{label}* `{_cell(change.address)}` | — | — | — | 1 {change.action}"
                f" | {_verdict(mine)} |"
            )
    lines += ["", *_settings_section(record), f"Fingerprint `{record.fingerprint}`", ""]
    if not record.changes:
        return lines
    if record.plan_text:
        text = record.plan_text.strip("\n")
        if len(text) > PLAN_TEXT_LIMIT:
            text = text[:PLAN_TEXT_LIMIT] + "\n... (cut: the whole plan is in the job's log)"
        summary, note = f"{heading} <code>{record.env}</code>", []
    else:
        text = "\n".join(f"{c.action:<8} {c.address}" for c in record.changes)
        summary = f"Resource changes in <code>{record.env}</code>"
        note = [
            "Every attribute: `ecrctl ci plan --full-plan`, or `ecrctl plan NAME ... --env"
            f" {record.env}` on the branch.",
            "",
        ]
    lines += [
        f"<details><summary>{summary}</summary>",
        "",
        "```text",
        text,
        "```",
        "",
        *note,
        "</details>",
        "",
    ]
    return lines


def _settings_section(record: EnvRecord) -> list[str]:
    """Per repository, the settings that hold after the apply (now → after for an update)."""
    reviews = [
        Review.from_dict(e["settings"])
        for e in record.entries
        if isinstance(e.get("settings"), dict)
    ]
    if not reviews:
        return []
    lines = ["Settings after the apply (now → after):", ""]
    for review in reviews:
        shown = "; ".join(_cell(line).replace(" -> ", " → ") for line in review.lines())
        lines.append(f"- `{review.name}`: {shown}")
    return [*lines, ""]


def render_plan(
    cs: ChangeSet | None,
    records: Iterable[EnvRecord],
    pr: dict[str, Any] | None,
    env: str | None = None,
) -> str:
    """The pull-request comment: per environment, what is asked, the plan and the guard."""
    records = list(records)
    refused = any(r.guard for r in records)
    total = sum(len(r.entries) for r in records)
    title = "❌ refused by the plan guard" if refused else "✅ ready for review"
    if not records:
        title = "no repository to plan"
    lines = [MARKER, f"### ECR registry plan: {title}", ""]
    if cs is not None:
        lines += [_header(cs, pr), ""]
    elif records:
        lines += [_header(ChangeSet(records[0].base, records[0].head, (), ()), pr), ""]
    if records:
        envs = len(records)
        lines += [
            f"{total} repository change(s) in {envs} environment(s); fingerprint"
            f" `{combined(records)}`.",
            "On merge, `ecrctl ci apply` plans the same targets again and applies only a plan"
            " with these fingerprints.",
            "",
        ]
    for record in records:
        lines += _env_section(record, "Full plan for")
    catalog_only = [e for e in (cs.entries if cs else ()) if not e.planned]
    if env is not None:
        catalog_only = [e for e in catalog_only if e.env == env]
    if catalog_only:
        lines += ["Catalog only (nothing for Terraform to do):", ""]
        lines += [f"- `{e.name}` ({e.env}): {_cell(e.detail)}" for e in catalog_only]
        lines.append("")
    if not records and not catalog_only:
        lines += ["This change adds, changes or removes no repository.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def load_refusals(directory: Path) -> list[str]:
    """The failure summaries (refused.md) under `directory`, without duplicates."""
    found: list[str] = []
    for path in sorted(directory.rglob(REFUSED)):
        text = path.read_text(encoding="utf-8").replace(MARKER, "").strip("\n")
        if text not in found:
            found.append(text)
    return found


def render_report(records: list[EnvRecord], refusals: list[str], pr: dict[str, Any] | None) -> str:
    """The PR comment from the jobs' records and refusals (ci report)."""
    if not refusals:
        return render_plan(None, records, pr)
    parts = [MARKER, *refusals]
    if records:
        parts.append(render_plan(None, records, pr).replace(MARKER, "").strip("\n"))
    return "\n\n".join(parts) + "\n"


def render_failure(message: str, hint: str | None) -> str:
    lines = [MARKER, "### ECR registry plan: ❌ cannot plan this change", "", _cell(message), ""]
    if hint:
        lines += [f"*{_cell(hint)}*", ""]
    return "\n".join(lines)


def render_apply(result: CiApply, pr: dict[str, Any] | None) -> str:
    lines: list[str] = []
    if result.refused:
        lines += ["### ECR registry apply: ❌ refused, nothing was applied", ""]
    elif not result.records:
        lines += ["### ECR registry apply: nothing to apply", ""]
    else:
        lines += ["### ECR registry apply: ✅ applied as reviewed", ""]
    lines += [_header(result.change_set, pr), ""]
    for mismatch in result.mismatches:
        lines += [f"- **{mismatch.env}**: {_cell(mismatch.reason)}"]
        lines += [f"  - now: `{_cell(line)}`" for line in mismatch.added]
        lines += [f"  - reviewed, gone: `{_cell(line)}`" for line in mismatch.dropped]
    if result.mismatches:
        lines += [
            "",
            "Review the plan below; to apply it anyway, run the ECR auto-apply workflow by hand"
            " with the pull request and the fingerprint you reviewed (see docs/CI.md).",
            "",
        ]
    for applied in result.applied:
        lines += [f"- **{applied.plan.env}**: {len(applied.applied)} change(s) applied"]
    lines += [f"- ⚠️ {_cell(note)}" for note in result.notes]
    if result.catalog_changes:
        lines += [
            "",
            "Catalog files changed by the sync, left for the follow-up pull request: "
            + ", ".join(f"`{p}`" for p in result.catalog_changes),
        ]
    lines.append("")
    for record in result.records:
        lines += _env_section(record, "Plan for")
    return "\n".join(lines).rstrip("\n") + "\n"


# -- publishing ------------------------------------------------------------------------------


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
