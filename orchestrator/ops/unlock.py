"""unlock: release the state lock a dead run left behind (`terraform force-unlock`)."""

from __future__ import annotations

from orchestrator.context import Environment


def unlock(ctx: Environment, lock_id: str, state: str | None = None) -> None:
    """Release the lock `lock_id` of one state of the environment (`state`: its name or shard
    number; by default the registry's, the only one when unsharded); TerraformError if none."""
    terraform = ctx.terraform(ctx.state_named(state) if state is not None else None)
    terraform.init()
    terraform.force_unlock(lock_id)
