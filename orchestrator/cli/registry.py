"""create, plan, apply, list, validate: parse, call the core once, render."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from orchestrator.cli import catalog as catalog_cli
from orchestrator.cli import render
from orchestrator.cli.options import (
    AutoApproveOpt,
    DescriptionOpt,
    DryRunOpt,
    EnvOpt,
    IdOpt,
    LockTimeoutOpt,
    OptionalEnvOpt,
    Output,
    OutputOpt,
    OwnerOpt,
    PlanFileOpt,
    PullPrincipalsOpt,
    PushPrincipalsOpt,
    ReplicateOpt,
    RiskOpt,
    context,
    flag,
    lock_timeout,
)
from orchestrator.cli.render import escape
from orchestrator.errors import CatalogSyncFailed, PlanRefused, UserError
from orchestrator.files.workspace import find_workspace

if TYPE_CHECKING:
    from orchestrator.models import PlanResult


def create(
    name: Annotated[str, typer.Argument(help="Repository name: {product}-{optional-component}.")],
    env: EnvOpt,
    owner: OwnerOpt,
    risk: RiskOpt,
    registry_id: IdOpt = None,
    description: DescriptionOpt = "",
    push_principal: PushPrincipalsOpt = None,
    pull_principal: PullPrincipalsOpt = None,
    replicate: ReplicateOpt = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = Output.text,
) -> None:
    """Request a repository: validate it, add it to the catalog and to envs/ENV/terraform.tfvars.

    Runs no terraform. The same request again changes nothing; the same name with other
    attributes is refused. Next step: ecrctl plan NAME --env ENV.

    Example: ecrctl create payments-gateway --env dev --owner app-team-payments --risk high

    Example: ecrctl create payments-api --env prod --owner app-team-payments --risk medium
    --replicate
    """
    from orchestrator.ops import create as create_op
    from orchestrator.rules import policy

    ctx = context(env)
    request = policy.build_request(
        name=name,
        env=env,
        owner=owner,
        risk=risk,
        registry_id=registry_id,
        description=description,
        push_principals=push_principal or [],
        pull_principals=pull_principal or [],
        replicate=replicate,
    )
    result = create_op.create(ctx, request, dry_run=dry_run)
    if output is Output.json:
        render.emit_json(result.to_dict())
        return
    verb = "would add" if dry_run else "added"
    if not result.changed:
        render.say(f"{name} is already requested in {env}; nothing changed.")
        return
    files = [
        str(ctx.workspace.relative(p))
        for p, changed in (
            (ctx.workspace.catalog_file, result.catalog_changed),
            (ctx.tfvars_file, result.tfvars_changed),
        )
        if changed
    ]
    render.say(f"{verb} {name} ({risk} risk, {request.registry_id}, {owner}) to {', '.join(files)}")
    if not dry_run:
        render.note(f"next: ecrctl plan {name} --env {env}")


def plan(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help="Repository names, e.g. payments-gateway (none with --registry).",
            show_default=False,
        ),
    ] = None,
    env: EnvOpt = "",
    registry: Annotated[
        bool,
        flag(
            "--registry",
            "Also plan the registry-wide resources (scanning and replication configuration,"
            " registry policy); with no names, those alone.",
        ),
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="Where to save the plan.", show_default=False)
    ] = None,
    unmanaged: Annotated[
        bool,
        typer.Option(
            "--unmanaged",
            help="Also list repositories ecrctl does not manage that a CONTINUOUS_SCAN or"
            " replication filter matches (one ECR DescribeRepositories call).",
        ),
    ] = False,
    output: OutputOpt = Output.text,
) -> None:
    """Plan only the named repositories (one -target each) and save the plan.

    Exits 1 when the plan guard refuses the plan (a change outside the named repositories,
    or anything but creates for a new repository).

    When the plan changes the registry's scanning configuration, it also says which
    repositories its CONTINUOUS_SCAN filters scan more than their tier asks, and why; when it
    changes the replication configuration, what replicates where and which repositories
    replicate beyond what their tier asks.

    States and locks: an environment of one state plans it under its one lock. A sharded one
    (state_shards > 1 in its tfvars) plans only the states it touches, each under its own lock:
    the shard of each named repository, and the registry state when the registry-wide settings
    move (or with --registry);
    side by side, one saved plan per state, the --out file naming the set.

    Registry-wide settings (--registry): a change of the environment's replication_destinations,
    replication_sources or scan settings that changes no repository is planned with no name:
    the registry-wide resources of terraform/registry.tf only (no repository can appear in it:
    the guard refuses any), in the registry state alone on a sharded environment.

    Example: ecrctl plan payments-gateway --env dev --out payments.tfplan

    Example: ecrctl plan --env prod --registry --out registry.tfplan
    """
    from orchestrator.models import PlanResult
    from orchestrator.ops import plan as plan_op

    if not env:
        raise UserError("missing option --env", "e.g. ecrctl plan NAME --env dev")
    refused: PlanRefused | None = None
    with render.Progress() as progress:
        ctx = context(env, progress)
        try:
            result = plan_op.checked_plan(ctx, names or [], out, registry=registry)
        except PlanRefused as exc:  # shown like any plan, then the command fails
            if not isinstance(exc.result, PlanResult):
                raise
            result, refused = exc.result, exc
        scan = plan_op.scan_report(ctx, result, unmanaged)
        replicated = plan_op.replication_report(ctx, result, unmanaged)
    objections = refused.violations if refused else []
    if output is Output.json:
        extra: dict[str, object] = {"scanning": scan.to_dict()} if scan else {}
        if replicated:
            extra["replication"] = replicated.to_dict()
        render.emit_json({**result.to_dict(), "guard": [v.to_dict() for v in objections], **extra})
    else:
        render.plan_text(result, objections, scan, replicated)
    if refused:
        raise refused


def apply(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Repository names (optional with --plan).", show_default=False),
    ] = None,
    env: EnvOpt = "",
    plan: PlanFileOpt = None,
    auto_approve: AutoApproveOpt = False,
    no_sync: Annotated[
        bool, flag("--no-sync", "Skip the Backstage catalog sync that follows the apply.")
    ] = False,
    lock_timeout_: LockTimeoutOpt = None,
    output: OutputOpt = Output.text,
) -> None:
    """Apply a saved plan, or plan the named repositories, show the plan and ask.

    Never applies anything it did not show: a saved plan must carry the summary ecrctl wrote
    beside it (and is applied as reviewed), and the plan guard checks it again. Planning here
    asks for confirmation; without a terminal, --auto-approve is required. Afterwards it runs
    `ecrctl catalog sync --env ENV` (unless --no-sync); if only the sync fails, the apply stands
    and the command exits with the sync's error.

    States and locks: a plan set (sharded environment) is applied one state at a time under that
    state's lock, the shards side by side and the registry state last; it is refused before any
    apply if one of its states changed since it was planned.

    Examples: ecrctl apply --env dev --plan payments.tfplan
              ecrctl apply payments-gateway --env dev --auto-approve
              ecrctl apply --env prod --plan registry.tfplan   (ecrctl plan --registry)
    """
    from orchestrator.ops import apply as apply_op
    from orchestrator.ops import plan as plan_op

    if not env:
        raise UserError("missing option --env", "e.g. ecrctl apply NAME --env dev")
    if not names and plan is None:
        raise UserError("name a repository or pass --plan FILE", "e.g. ecrctl apply NAME --env dev")
    # A saved plan was reviewed when it was made (ecrctl plan): applying it asks nothing more.
    approved = not render.must_ask(
        auto_approve or plan is not None,
        "apply",
        "review the plan (ecrctl plan), then pass --auto-approve",
    )
    ctx = context(env)
    progress = render.Progress()

    def confirm(result: PlanResult) -> bool:
        if approved:
            if output is Output.text:
                render.plan_text(
                    result,
                    [],
                    plan_op.scan_report(ctx, result),
                    plan_op.replication_report(ctx, result),
                )
            return True
        with progress.paused():
            render.err().print(render.plan_table(result))
            if result.reviews:
                render.err().print(render.settings_table(result))
            return typer.confirm(f"Apply these {len(result.changes)} change(s) to {env}?", err=True)

    with lock_timeout(lock_timeout_), progress:
        ctx = replace(ctx, progress=progress)
        result = apply_op.apply(ctx, names or [], plan, confirm, sync=not no_sync)
    if output is Output.json:
        render.emit_json(result.to_dict())
    else:
        if not result.plan.changes:
            what = ", ".join(result.plan.repositories) or "the registry-wide resources"
            render.out().print(f"No changes for {what} in {env}.")
        else:
            render.out().print(f"applied {len(result.applied)} change(s) to {env}")
        if result.sync is not None:
            catalog_cli.summary(result.sync)
            for name, url in apply_op.repository_urls(ctx, result.plan.repositories).items():
                render.out().print(f"{name}: {url}")
    if result.sync_error is not None:
        raise CatalogSyncFailed(result.sync_error, env)


def list_(env: EnvOpt, output: OutputOpt = Output.text) -> None:
    """List the repositories catalogued for an environment (reads files only).

    Example: ecrctl list --env dev --output json
    """
    from orchestrator.ops import listing as listing_op

    listing = listing_op.list_repositories(context(env))
    if output is Output.json:
        render.emit_json(listing.to_dict())
        return
    if not listing.entries:
        render.out().print(f"No repositories in {env}.")
        return
    render.out().print(render.listing_table(listing))


def validate(env: OptionalEnvOpt = None, output: OutputOpt = Output.text) -> None:
    """Check the catalog and every environment's tfvars: schema, naming, tiers, agreement.

    Lists every problem (file:line: what) and exits 1 if there is any.

    Example: ecrctl validate --env dev
    """
    from orchestrator.ops import validate as validate_op

    ws = find_workspace()
    problems = validate_op.validate(ws, env)
    if output is Output.json:
        render.emit_json({"ok": not problems, "problems": [p.__dict__ for p in problems]})
    elif not problems:
        render.out().print("catalog and tfvars are valid and agree.")
    else:
        for problem in problems:
            render.out().print(escape(str(problem)))
    if problems:
        raise UserError(
            f"{len(problems)} problem(s) found", "fix them, then run ecrctl validate again"
        )
