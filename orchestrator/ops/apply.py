"""apply: a saved plan (or a plan made now), after the guard and a confirmation, then the catalog sync."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.context import Environment, State
from orchestrator.errors import EcrctlError, PlanRefused, TerraformError, UserError
from orchestrator.models import (
    Action,
    ApplyResult,
    PlanResult,
    Rule,
    Status,
    Violation,
)
from orchestrator.ops.plan import (
    check_fresh,
    listed_parts,
    load_saved_plan,
    plan,
    side_by_side,
)
from orchestrator.rules import guard

if TYPE_CHECKING:
    from orchestrator.adapters.terraform import Terraform

Confirm = Callable[[PlanResult], bool]


def apply(
    ctx: Environment,
    names: list[str],
    plan_file: Path | None,
    confirm: Confirm,
    sync: bool = True,
) -> ApplyResult:
    """Apply a saved plan (or plan now), after the guard and a confirmation have passed it.

    Then, unless `sync` is off, write the Backstage catalog from the new state (even when there
    was nothing to apply, so that the catalog never lags the registry).
    """
    if plan_file is not None:
        # A saved plan is judged again, on what it holds (its changes, targets and variables):
        # the files beside it are not to be trusted, and what is shown is what is applied.
        result = load_saved_plan(ctx, plan_file.resolve(), names)
        objections = guard.judge(result)
    else:
        result, objections = plan(ctx, names)
    if objections:
        raise guard.refusal_of(result.changes, objections, set(result.repositories))
    _refuse_live_deletes(ctx, result)
    terraform = ctx.terraform()
    if not result.changes:
        return _synced(ApplyResult(result, ()), ctx, terraform, sync)
    # A plan set (sharded environment): each part is applied by its state's terraform, the
    # shards side by side and then the registry state; every part fresh before any is applied.
    parts = listed_parts(ctx, result.plan_file)
    if parts:
        check_fresh(ctx, parts)
    if not confirm(result):
        raise UserError("apply cancelled; nothing was changed")
    if parts:  # a part that changes nothing costs a provider load and applies nothing
        changed = {
            ctx.state_of(c.instance).name if c.instance else ctx.registry_state.name
            for c in result.changes
        }
        parts = [p for p in parts if p[0].name in changed]
    else:
        parts = [(ctx.registry_state, result.plan_file)]
    addresses = [c.address for c in result.changes]

    def apply_part(part: tuple[State, Path]) -> list[str]:
        part_terraform = ctx.terraform(part[0])
        part_terraform.init()
        return part_terraform.apply(part[1], addresses)

    registry = [p for p in parts if p[0].holds_registry and p[0].name != "main"]
    try:
        applied = [
            a
            for done in side_by_side(apply_part, [p for p in parts if p not in registry])
            for a in done
        ]
        applied += [a for p in registry for a in apply_part(p)]
    except TerraformError as exc:
        # A partial apply still changed the registry: record what exists, then report the failure.
        # Unless the backend never got the state: it has nothing new, and it may be down (retries).
        if exc.state_saved:
            _synced(ApplyResult(result, ()), ctx, terraform, sync)
        raise
    return _synced(ApplyResult(result, tuple(applied)), ctx, terraform, sync)


def _refuse_live_deletes(ctx: Environment, plan: PlanResult) -> None:
    """A repository leaves Terraform through a decommission, which backs it up first.

    The guard lets a plan delete a requested repository whose tfvars entry is gone; a hand edit
    removes one as well. Refuse while the catalog still lists the repository as live.
    """
    deleting = {
        c.instance
        for c in plan.changes
        if c.action == Action.DELETE
        and c.instance
        and c.address.endswith("." + guard.REPOSITORY_RESOURCE)
    }
    if not deleting:
        return
    env, entries = ctx.env, ctx.catalog.entries
    live = sorted(
        name
        for name in deleting
        if name in entries
        and entries[name].request.env == env
        and entries[name].status != Status.DECOMMISSIONED
    )
    if live:
        found = [
            Violation(c, Rule.CATALOG_STILL_LIVE, f"the catalog lists {c.instance} as live")
            for c in plan.changes
            if c.instance in live and c.action == Action.DELETE
        ]
        raise PlanRefused(
            f"plan refused: it deletes {', '.join(live)}, which the catalog lists as"
            f" {entries[live[0]].status} (its tfvars entry is gone, but it was not decommissioned):"
            f" {', '.join(v.change.address for v in found)}",
            found,
            f"restore the tfvars entry, or retire it with: ecrctl decommission {live[0]} --env {env}"
            " (which backs it up first)",
        )


def _synced(result: ApplyResult, ctx: Environment, terraform: Terraform, sync: bool) -> ApplyResult:
    """`result` with the catalog sync that follows an apply; its failure leaves the apply be."""
    from orchestrator.ops import sync as catalog_sync

    if not sync:
        return result
    # The region the apply just ran in, not the shell's: a stray AWS_REGION must not fail it.
    env, region = ctx.env, ctx.region
    try:
        done = catalog_sync.sync(
            ctx,
            region,
            terraform=terraform,
            region_source=f"envs/{env}/terraform.tfvars, as applied",
        )
    except EcrctlError as exc:
        return replace(result, sync_error=exc)
    return replace(result, sync=done)


def repository_urls(ctx: Environment, names: Iterable[str]) -> dict[str, str]:
    """Each repository's URL as the catalog sync after an apply recorded it (from the state)."""
    entries = ctx.catalog.entries
    return {
        n: entries[n].repository_url
        for n in sorted(names)
        if n in entries and entries[n].repository_url
    }
