"""ci plan: ONE targeted plan per environment for every repository a change adds, changes or removes,
and for the registry-wide resources when the change moves them (with no repository, if none changed).

The change set comes from two revisions (ci/changes.py); each environment's plan passes through the plan
guard and is written as a record (ci/records.py). The pull-request comment is rendered from the records
(ci/markdown.py), so records planned in separate jobs (one per AWS account) render as one comment.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orchestrator.ci import changes
from orchestrator.ci.changes import ChangeSet, EntryChange
from orchestrator.ci.github import pull_request
from orchestrator.ci.markdown import render_plan
from orchestrator.ci.records import REFUSED, CiPlan, EnvRecord, plan_dir, record_file
from orchestrator.context import Environment, Session
from orchestrator.errors import UserError
from orchestrator.files.workspace import Workspace, atomic_write
from orchestrator.models import RegistryRequest, ResourceChange, Review, Violation, action_counts
from orchestrator.ops import plan as plan_op
from orchestrator.rules import guard


def change_set(ws: Workspace, base_ref: str, head_ref: str = "HEAD") -> ChangeSet:
    """The change between two revisions, refused unless it is a valid registry change."""
    found = changes.compare(ws, base_ref, head_ref)
    changes.validate_head(ws)
    return found


def _in_scope(cs: ChangeSet, env: str | None) -> list[str]:
    if env is not None:
        return [env] if env in cs.environments() else []
    return cs.environments()


def pair(session: Session, env: str | None, state: str | None) -> str | None:
    """The state `state` of `env` as the environment names it (main, registry, shard-NN), or
    None when no state is asked for; refused without `env` or for a state `env` does not have.
    """
    if state is None:
        return None
    if env is None:
        raise UserError("--state needs --env", "e.g. --env prod --state shard-03")
    return session.at(env).state_named(state).name


def _in_pair(cs: ChangeSet, env: str, state: str) -> bool:
    """Whether the change plans `state` of `env` (one of `ci changes`' states)."""
    return any(s.env == env and s.state == state for s in cs.states)


def plan_env(
    ctx: Environment,
    cs: ChangeSet,
    out: Path,
    pr: dict[str, Any] | None,
    full_plan: bool = False,
    state: str | None = None,
) -> EnvRecord:
    """One environment's targeted plan of what the change set asks there, as a record; with
    `state`, that state's part alone (its repositories' entries; the registry state has none)."""
    env = ctx.env
    entries = cs.planned(env)
    names = [e.name for e in entries]
    # Registry-wide settings that move plan the registry-wide targets too (alone, without names).
    moved = cs.registry_move(env)
    if state is not None:
        entries = [e for e in entries if ctx.state_of(e.name).name == state]
        # The registry state holds no repository: its plan targets the registry-wide
        # resources, planned for every entry of the change (what they are derived from).
        names = [e.name for e in entries] or names
    result, objections = plan_op.plan(ctx, names, out, only=state, registry=moved is not None)
    holds_registry = state is None or ctx.state_named(state).holds_registry
    reports = _conformance(ctx, [e.request for e in entries if e.kind == "adopt"])
    text = ""
    if full_plan and result.changes:  # `terraform show` loads the provider a second time
        text = plan_op.plan_text(ctx, result)
    scan = plan_op.scan_report(ctx, result)
    replicated = plan_op.replication_report(ctx, result)
    return EnvRecord(
        env=env,
        base=cs.base,
        head=cs.head,
        pull_request=pr,
        entries=tuple(
            _entry_dict(e, result.changes, objections, reports.get(e.name), result.reviews)
            for e in entries
        ),
        changes=result.changes,
        guard=tuple(objections),
        plan_text=text,
        plan_file=str(result.plan_file),
        scanning=tuple(scan.lines()) if scan else (),
        replication=tuple(replicated.lines()) if replicated else (),
        state=state,
        # The settings go with the plan of the state that holds the registry-wide resources.
        registry=tuple(moved.lines()) if moved and holds_registry else (),
    )


def _entry_dict(
    entry: EntryChange,
    found: Iterable[ResourceChange],
    objections: list[Violation],
    conformance: dict[str, Any] | None = None,
    reviews: Iterable[Review] = (),
) -> dict[str, Any]:
    mine = [c for c in found if c.instance == entry.name]
    settings = next((r.to_dict() for r in reviews if r.name == entry.name), None)
    extra: dict[str, Any] = {}
    if conformance is not None:  # an adoption: what differs from the tier, for the review
        extra = {"imports": sum(c.importing for c in mine), "conformance": conformance}
    return {
        **entry.to_dict(),
        "actions": {a: n for a, n in action_counts(mine).items() if n},
        "guard": [v.to_dict() for v in objections if v.change.instance == entry.name],
        **extra,
        **({"settings": settings} if settings else {}),
    }


def _conformance(ctx: Environment, requests: list[RegistryRequest]) -> dict[str, dict[str, Any]]:
    """The conformance report of each adopted repository (read from the registry)."""
    if not requests:
        return {}
    from orchestrator.lifecycle import adopt

    tiers = ctx.tiers
    return {r.name: r.to_dict() for r in adopt.assess(ctx, requests, tiers)}


def plan(
    session: Session,
    base_ref: str,
    head_ref: str = "HEAD",
    env: str | None = None,
    out_dir: Path | None = None,
    full_plan: bool = False,
    state: str | None = None,
) -> CiPlan:
    """One targeted plan per environment the change touches (or `env` only); records, summary.

    `full_plan` adds terraform's own rendering of each plan (one more provider load each).
    `state` (with `env`) plans that state alone, if the change plans it: a CI matrix job.
    """
    ws = session.workspace
    cs = change_set(ws, base_ref, head_ref)
    if env is not None:
        ws.env_dir(env)
    state = pair(session, env, state)
    pr = pull_request(session.environ)
    out_dir = (out_dir or plan_dir(ws)).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*out_dir.glob("plan-*.json"), out_dir / REFUSED]:
        stale.unlink(missing_ok=True)  # an earlier run's records must never pass for this one's
    records = []
    for name in _in_scope(cs, env):
        if state is not None and not _in_pair(cs, name, state):
            continue
        out = out_dir / (f"{name}.tfplan" if state is None else f"{name}.{state}.tfplan")
        record = plan_env(session.at(name), cs, out, pr, full_plan, state)
        atomic_write(
            record_file(out_dir, name, state), json.dumps(record.to_dict(), indent=2) + "\n"
        )
        records.append(record)
    summary = render_plan(cs, records, pr, env)
    atomic_write(out_dir / "summary.md", summary)
    result = CiPlan(cs, tuple(records), summary, out_dir)
    if result.objections:  # recorded and summarised for the comment; the check fails
        raise guard.refusal(
            result.objections,
            hint="change the request so that the plan stays inside the named repositories",
            result=result,
        )
    return result
