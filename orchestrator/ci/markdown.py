"""The pull-request comment and the step summary, rendered from plan records (never from terraform)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orchestrator.ci.changes import ChangeSet
from orchestrator.ci.records import REFUSED, CiApply, EnvRecord, combined
from orchestrator.models import Review, Violation, counted

MARKER = "<!-- ecrctl:ci-plan -->"


PLAN_TEXT_LIMIT = 45_000  # a PR comment holds 65,536 characters; keep room for the tables


def _short(sha: str) -> str:
    return sha[:12]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _verdict(objections: list[Violation]) -> str:
    if not objections:
        return "✅ passes"
    return "❌ refused: " + _cell("; ".join(v.reason for v in objections))


def _header(cs: ChangeSet, pr: dict[str, Any] | None) -> str:
    where = f"base `{_short(cs.base)}` → head `{_short(cs.head)}`"
    if pr and pr.get("number"):
        link = f"[#{pr['number']}]({pr['url']})" if pr.get("url") else f"#{pr['number']}"
        where += f" · pull request {link}"
    return where


def _env_section(record: EnvRecord, heading: str) -> list[str]:
    lines = [f"#### `{record.label}`: {counted(record.changes)}", ""]
    if record.registry:  # what the plan's registry-wide rows below come from
        lines += ["Registry-wide settings this change edits (now → after):", ""]
        lines += [f"- {_cell(line).replace(' -> ', ' → ')}" for line in record.registry]
        lines.append("")
    lines += [
        "| Repository | Request | Risk | Owner | Plan | Guard |",
        "|---|---|---|---|---|---|",
    ]
    for entry in record.entries:
        actions = entry.get("actions") or {}
        plan = ", ".join(f"{n} {a}" for a, n in actions.items()) or "no change"
        if entry.get("imports"):
            plan = f"{entry['imports']} import; {plan}"
        request = entry["change"] + (f" ({_cell(entry['detail'])})" if entry.get("detail") else "")
        lines.append(
            f"| `{entry['name']}` | {request} | {entry['risk']} | `{entry['owner']}` | {plan}"
            f" | {_verdict([Violation.from_dict(v) for v in entry.get('guard') or []])} |"
        )
    names = {str(e["name"]) for e in record.entries}
    others = [c for c in record.changes if c.instance not in names]
    if others:
        outside = [v for v in record.guard if v.change.instance not in names]
        for change in others:
            label = "registry-wide" if change.instance is None else f"`{change.instance}`"
            mine = [v for v in outside if v.change.address == change.address]
            lines.append(
                f"| *{label}* `{_cell(change.address)}` | — | — | — | 1 {change.action}"
                f" | {_verdict(mine)} |"
            )
    for title, found in (
        (
            "More scanning than the tier asks (registry-wide CONTINUOUS_SCAN filters):",
            record.scanning,
        ),
        (
            "Replication (registry-wide: what replicates where, and beyond the tier):",
            record.replication,
        ),
    ):
        if found:
            lines += ["", title, "", *(f"- {_cell(line)}" for line in found)]
    lines += ["", *_settings_section(record), f"Fingerprint `{record.fingerprint}`", ""]
    lines += _conformance_lines(record)
    if not record.changes:
        return lines
    if record.plan_text:
        text = record.plan_text.strip("\n")
        if len(text) > PLAN_TEXT_LIMIT:
            text = text[:PLAN_TEXT_LIMIT] + "\n... (cut: the whole plan is in the job's log)"
        summary, note = f"{heading} <code>{record.label}</code>", []
    else:
        text = "\n".join(f"{c.action:<8} {c.address}" for c in record.changes)
        summary = f"Resource changes in <code>{record.label}</code>"
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


def _conformance_lines(record: EnvRecord) -> list[str]:
    """Per adopted repository: what differs from its tier and how the plan deals with it."""
    lines: list[str] = []
    for entry in record.entries:
        report = entry.get("conformance")
        if not isinstance(report, dict):
            continue
        verdict = "refused" if report.get("verdict") == "refused" else "adoptable"
        lines += [
            f"<details><summary>Conformance of <code>{entry['name']}</code> to the"
            f" {entry['risk']} tier: {verdict}</summary>",
            "",
            "| Setting | Now | Tier | Fix |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {_cell(d['setting'])} | {_cell(d['current'])} | {_cell(d['wanted'])} | {d['fix']} |"
            for d in report.get("differences", [])
        ] or ["| — | as the tier wants it | | |"]
        lines += [f"- refused: {_cell(r)}" for r in report.get("refusals", [])]
        lines += ["", "</details>", ""]
    return lines


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
        envs = len({r.env for r in records})
        # Records of single states (CI's matrix jobs): each has its own fingerprint below.
        states = sum(r.state is not None for r in records)
        where = f"{envs} environment(s)" + (f", {states} state(s)" if states else "")
        registry = len({r.env for r in records if r.registry})
        also = f" (registry-wide settings edited in {registry})" if registry else ""
        lines += [
            f"{total} repository change(s) in {where}{also}; fingerprint `{combined(records)}`.",
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
        lines += [
            "This change adds, changes or removes no repository, and moves no registry-wide"
            " setting.",
            "",
        ]
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
