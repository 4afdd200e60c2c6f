"""ci apply: re-plan the merged change and apply it only where it is exactly what was reviewed.

The reviewed records are the ecr-plan run's artifact for the pull request's head commit (docs/CI.md):
the same entries and the same fingerprint, or nothing is applied in any environment. A human who
reviewed the new plan may pass its fingerprint explicitly instead.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from orchestrator.adapters.git import Git
from orchestrator.ci.github import pull_request
from orchestrator.ci.markdown import render_apply
from orchestrator.ci.plan import _in_pair, _in_scope, change_set, pair, plan_env
from orchestrator.ci.records import (
    CiApply,
    EnvRecord,
    Mismatch,
    apply_dir,
    fingerprint_lines,
    load_records,
    plan_dir,
)
from orchestrator.context import Session
from orchestrator.errors import UserError
from orchestrator.files.workspace import Workspace
from orchestrator.ops import apply as apply_op


def _compare(
    record: EnvRecord | None,
    now: EnvRecord,
    accepted: str | None,
    pr: dict[str, Any] | None,
) -> Mismatch | None:
    env = now.label
    if accepted is not None:
        if accepted != now.fingerprint:
            return Mismatch(env, f"the plan's fingerprint is {now.fingerprint}, not {accepted}")
        return None
    if record is None:
        what = "environment" if now.state is None else "state"
        return Mismatch(env, f"no reviewed plan record for this {what}")
    if record.label != env:
        return Mismatch(env, f"the reviewed record is for {record.label!r}")
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
        old = set(fingerprint_lines({now.env: record.changes}, {now.env: record.held}))
        new = set(fingerprint_lines({now.env: now.changes}, {now.env: now.held}))
        return Mismatch(
            env,
            f"the plan changed since it was reviewed ({record.fingerprint[:19]} reviewed,"
            f" {now.fingerprint[:19]} now): the state or the registry moved in between",
            tuple(sorted(new - old)),
            tuple(sorted(old - new)),
        )
    return None


def apply(
    session: Session,
    base_ref: str,
    head_ref: str,
    env: str | None = None,
    reviewed_dir: Path | None = None,
    accepted: str | None = None,
    state: str | None = None,
) -> CiApply:
    """Re-plan the merged change; apply it only where it is exactly what was reviewed.

    Every environment in scope is planned and compared before anything is applied: one
    mismatch and nothing is applied anywhere. `state` (with `env`) re-plans and applies that
    state alone against the reviewed record of that state (a CI matrix job).
    """
    ws = session.workspace
    cs = change_set(ws, base_ref, head_ref)
    if env is not None:
        ws.env_dir(env)
    state = pair(session, env, state)
    pr = pull_request(session.environ)
    envs = [e for e in _in_scope(cs, env) if state is None or _in_pair(cs, e, state)]
    if accepted is not None and len(envs) > 1:
        raise UserError(
            "--fingerprint accepts the plan of one environment",
            f"pass --env (one of {', '.join(envs)}) with it",
        )
    reviewed_dir = (reviewed_dir or plan_dir(ws)).resolve()
    reviewed: dict[str, EnvRecord] = {}
    if accepted is None and envs:
        reviewed = {r.label: r for r in load_records(reviewed_dir)}
    out_dir = apply_dir(ws).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    records, mismatches = [], []
    for name in envs:
        out = out_dir / (f"{name}.tfplan" if state is None else f"{name}.{state}.tfplan")
        now = plan_env(session.at(name), cs, out, pr, state=state)
        records.append(now)
        mismatch = _compare(reviewed.get(now.label), now, accepted, pr)
        if mismatch is None and now.guard:
            mismatch = Mismatch(
                now.label, "the plan guard refuses the plan: " + "; ".join(map(str, now.guard))
            )
        if mismatch is not None:
            mismatches.append(mismatch)
    if mismatches:
        result = CiApply(cs, tuple(records), tuple(mismatches))
        return _with_summary(result, pr)
    applied, notes = [], []
    for record in records:
        names = [str(e["name"]) for e in record.entries]
        done = apply_op.apply(
            session.at(record.env), names, Path(record.plan_file), lambda _plan: True
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
