"""unlock: release the state lock a dead run left behind (`terraform force-unlock`)."""

from __future__ import annotations

from orchestrator.context import Environment


def unlock(ctx: Environment, lock_id: str) -> None:
    """Release the lock `lock_id` of the environment's state; TerraformError if none is held."""
    terraform = ctx.terraform()
    terraform.init()
    terraform.force_unlock(lock_id)
