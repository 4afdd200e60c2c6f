"""ecrctl shards migrate: change an environment's state shard count, nothing recreated."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestrator.cli import render
from orchestrator.cli.options import EnvOpt, OptionalEnvOpt, Output, OutputOpt, context, session
from orchestrator.errors import UserError

app = typer.Typer(
    help="The states of an environment: one, or a registry state and S shards.",
    no_args_is_help=True,
)


@app.command()
def migrate(
    env: EnvOpt,
    to: Annotated[
        int, typer.Option("--to", help="The new shard count S (1: one state).", show_default=False)
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    output: OutputOpt = Output.text,
) -> None:
    """Move every resource of ENV into the states of S shards (or back to one), and set
    state_shards in envs/ENV/terraform.tfvars.

    Rewrites the states in the S3 backend only (no terraform, no AWS change but S3): each
    repository's module instance into its shard (sha256 of its name mod S), the registry-wide
    resources into the registry state (ecr/ENV/registry/...; with S = 1, backend.hcl's key).
    Holds the lock of every state it reads or writes for the whole run; refuses to start while
    a saved plan of ENV could still be applied. The previous states are kept under
    .ecrctl/migrations/ENV-TIME/. Killed at any point, the same command finishes the migration;
    --to the former count rolls it back. Commit the tfvars change it makes. Runbook:
    docs/RB-0029-ecr-state-shards.md.

    Example: ecrctl shards migrate --env prod --to 16
    """
    from orchestrator.lifecycle import shards as shards_core

    context(env)  # refuses an unknown environment or count before asking
    shards_core.check_count(to)
    ask = render.must_ask(yes, "migrate the states", "read the runbook, then pass --yes")
    question = f"Move the states of {env} to {to} shard(s)? Nothing in ECR changes."
    if ask and not typer.confirm(question, err=True):
        raise UserError("migration cancelled; nothing was changed")
    with render.Progress() as progress:
        result = shards_core.migrate(context(env, progress), to)
    if output is Output.json:
        render.emit_json(result.to_dict())
        return
    now = result.before if result.rolled_back else result.after
    what = "rolled back to" if result.rolled_back else "moved to"
    counts = ", ".join(f"{name} {n}" for name, n in result.states.items())
    render.out().print(
        render.escape(
            f"{env}: states {what} {now} shard(s) (repositories: {counts or 'none'}); previous"
            f" states kept in {result.backup}; commit envs/{env}/terraform.tfvars"
        )
    )


@app.command("list")
def list_(
    env: OptionalEnvOpt = None,
    output: OutputOpt = Output.text,
) -> None:
    """List the states of every environment (or of --env): `main` for one state, `registry`
    and `shard-NN` for a sharded one, each with its backend key. No terraform, no AWS.

    `--output json` gives `states`, the (environment, state) pairs a CI matrix runs one job
    per (ecr-drift.yml runs `ecrctl drift --env ENV --state STATE` for each).

    Example: ecrctl shards list --output json
    """
    from orchestrator.lifecycle import shards as shards_core

    found = shards_core.listing(session(), env)
    if output is Output.json:
        render.emit_json({"states": found})
        return
    for row in found:
        render.out().print(render.escape(f"{row['env']:<12} {row['state']:<10} {row['key']}"))
