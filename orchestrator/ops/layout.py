"""Whether the states of an environment are laid out as its tfvars says (`state_shards`).

A hand edit of `state_shards` (or a checkout from before a migration) would plan each state
with the wrong share of the repositories: a repository its state no longer keeps is planned for
deletion, one it now keeps is planned for creation although it exists. Before any plan or
refresh, ecrctl reads (S3 GetObject, no provider load) the states it is about to plan, the
one-state key when sharded (or the registry key when not), and the first shard beyond S, and
refuses on the first sign that they hold another layout. An unfinished `ecrctl shards migrate`
is refused the same way.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from pathlib import Path

from orchestrator.context import Environment, State
from orchestrator.errors import UserError
from orchestrator.files.workspace import Workspace
from orchestrator.models import Action, ResourceChange
from orchestrator.rules import guard, shards


def migration_file(ws: Workspace, env: str) -> Path:
    """The plan of `ecrctl shards migrate` while one runs or was cut short (deleted when done)."""
    return ws.state_dir / "migrations" / f"{env}.json"


def _managed(held: dict[str, object]) -> bool:
    resources = held.get("resources")
    return isinstance(resources, list) and any(
        isinstance(r, dict) and r.get("mode") == "managed" and r.get("instances") for r in resources
    )


def check(
    ctx: Environment, planned: Iterable[State], changes: Iterable[ResourceChange] | None = None
) -> None:
    """UserError (one line, naming the fix) when the states disagree with `state_shards`.

    An environment of one state is checked for free: its plan (`changes`, after it was made)
    can destroy nothing of another layout, and it creates the registry-wide resources only when
    its state lacks them, which is when the registry key is read. Before its plan (`changes`
    None) only an unfinished migration is looked for.
    """
    env, count = ctx.env, ctx.shards
    if migration_file(ctx.workspace, env).exists():
        raise UserError(
            f"a state migration of {env} is unfinished ({ctx.workspace.relative(migration_file(ctx.workspace, env))})",
            f"finish or roll it back by running it again: ecrctl shards migrate --env {env} --to S",
        )
    fix = (
        f"put back the state_shards the states hold, or change it with: ecrctl shards migrate"
        f" --env {env} --to {count}"
    )

    def refuse(detail: str) -> UserError:
        return UserError(
            f"envs/{env}/terraform.tfvars sets state_shards = {count}, but {detail}: planning"
            " it would destroy or duplicate repositories",
            fix,
        )

    if count == 1 and not any(
        c.address == guard.SCANNING and c.action == Action.CREATE for c in changes or ()
    ):
        return
    # The other layout's registry state: the one-state key when sharded, the registry's when not.
    other = shards.states(ctx.backend_key, 2 if count == 1 else 1)[0]
    if _managed(ctx.held(other)):
        raise refuse(f"the state at {other.key} still holds resources")
    if count > 1:
        beyond = posixpath.join(
            posixpath.dirname(ctx.backend_key), "shards", f"{count:02d}", "terraform.tfstate"
        )
        if count < shards.MAX_SHARDS and _managed(
            ctx.held(State(shards.shard_name(count), beyond, count))
        ):
            raise refuse(f"the state at {beyond} (a shard beyond {count}) holds resources")
    requested = ctx.tfvars.entries
    for state in planned:
        found = shards.misplaced(state, ctx.held(state), requested)
        if found:
            raise refuse(
                f"the state {state.name} holds {', '.join(found[:3])}, which belong elsewhere"
            )
