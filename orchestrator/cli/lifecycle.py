"""decommission, restore: parse, call the core once, render."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from orchestrator.adapters.ecr import DEFAULT_ACTIVE_DAYS
from orchestrator.cli import render
from orchestrator.cli.options import (
    AutoApproveOpt,
    DryRunOpt,
    EnvOpt,
    Output,
    OutputOpt,
    ReasonOpt,
    context,
    optional_env,
    session,
)
from orchestrator.cli.render import escape

if TYPE_CHECKING:
    from rich.console import Console

    from orchestrator.lifecycle import decommission as core
    from orchestrator.lifecycle import restore as restore_core

STATUS_STYLE = {"done": "green", "would": "yellow", "skipped": "dim"}


def _reported(
    result: core.DecommissionResult | restore_core.RestoreResult,
    output: Output,
    dry_run: bool,
    head: str,
) -> bool:
    """Print the result's steps (or its JSON); True when nothing more is to be said."""
    if output is Output.json:
        render.emit_json(result.to_dict())
        return True
    render.out().print("dry run, nothing changed:" if dry_run else head)
    _steps(result, render.out())
    return False


def _steps(result: core.DecommissionResult | restore_core.RestoreResult, console: Console) -> None:
    for step in result.steps:
        style = STATUS_STYLE.get(step.status, "")
        console.print(f"  {step.step:<15} [{style}]{step.status:<8}[/] {escape(step.detail)}")
    if result.plan is not None and result.plan.changes:
        console.print(render.plan_table(result.plan))


def _ask(
    progress: render.Progress,
    preview: core.DecommissionResult | restore_core.RestoreResult,
    question: str,
) -> bool:
    """Show every step and the plan, then ask (with the spinner out of the way)."""
    with progress.paused():
        _steps(preview, render.err())
        return typer.confirm(question, err=True)


def decommission(
    name: Annotated[str, typer.Argument(help="Repository to decommission.", show_default=False)],
    env: EnvOpt,
    reason: ReasonOpt = "",
    backup_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where bundles go instead of backups/ (then {env}/{name}/{timestamp}).",
            show_default=False,
            file_okay=False,
        ),
    ] = None,
    skip_backup: Annotated[
        bool,
        typer.Option(
            "--skip-backup",
            help="No backup (refused for the high tier; with images also needs --force).",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Go ahead although images were pushed or pulled"
            " within the window; with --skip-backup, delete images unsaved.",
        ),
    ] = False,
    active_days: Annotated[
        int,
        typer.Option(
            min=0,
            envvar="ECRCTL_ACTIVE_DAYS",
            help="Active-use window in days: a push or pull this recent refuses.",
        ),
    ] = DEFAULT_ACTIVE_DAYS,
    auto_approve: AutoApproveOpt = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = Output.text,
) -> None:
    """Decommission a repository: active-use check, verified backup, catalog and tfvars, destroy.

    Refuses while an image was pushed or pulled within --active-days (unless --force). Backs up
    the catalog and tfvars entries, the Terraform state, the policies, tags and every image
    manifest to backups/ENV/NAME/TIMESTAMP/ and verifies it; removes the tfvars entry and marks
    the catalog entry decommissioned; empties the repository (only after the backup) and applies
    a targeted destroy plan. Run it again to finish one that stopped part-way.

    Examples: ecrctl decommission web-frontend --env dev --reason "replaced by web-next" --dry-run
              ecrctl decommission web-frontend --env dev --reason "replaced by web-next" --auto-approve
    """
    from orchestrator.lifecycle import decommission as core

    ask = render.must_ask(
        auto_approve or dry_run,
        "decommission",
        "look first with --dry-run, then pass --auto-approve",
    )
    options = core.Options(
        reason=reason,
        backup_root=backup_dir.resolve() if backup_dir else None,
        skip_backup=skip_backup,
        force=force,
        active_days=active_days,
        dry_run=dry_run,
    )

    with render.Progress() as progress:

        def confirm(preview: core.DecommissionResult) -> bool:
            return not ask or _ask(progress, preview, f"Decommission {name} in {env}?")

        result = core.decommission(context(env, progress), name, options, confirm)
    if _reported(result, output, dry_run, f"decommissioned {name} in {env}:"):
        return
    if result.backup and not dry_run:
        render.note(f"restore with: ecrctl restore {result.backup} --env {env}")


def restore(
    bundle: Annotated[
        Path, typer.Argument(help="A backup bundle directory.", show_default=False, file_okay=False)
    ],
    env: Annotated[
        str | None, optional_env("Environment to restore into (default: the bundle's)")
    ] = None,
    auto_approve: AutoApproveOpt = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = Output.text,
) -> None:
    """Bring a decommissioned repository back from a backup bundle.

    Verifies the bundle's checksums, puts the catalog entry (active again) and the tfvars entry
    back, plans and applies the repository with the same settings and policies, then puts the
    saved manifests back where the registry accepts them (it refuses a manifest whose layers it
    no longer holds: those are listed). Run it again to finish one that stopped part-way.

    Example: ecrctl restore backups/dev/web-frontend/20260301T101500Z --auto-approve
    """
    from orchestrator.lifecycle import restore as restore_core

    ask = render.must_ask(
        auto_approve or dry_run, "restore", "look first with --dry-run, then pass --auto-approve"
    )

    with render.Progress() as progress:

        def confirm(preview: restore_core.RestoreResult) -> bool:
            question = f"Restore {preview.name} in {preview.env} from {preview.bundle}?"
            return not ask or _ask(progress, preview, question)

        result = restore_core.restore(session(progress), bundle, env, confirm, dry_run=dry_run)
    head = f"restored {result.name} in {result.env}:"
    if _reported(result, output, dry_run, head) or dry_run:
        return
    restored = sum(1 for o in result.images if o.outcome in ("restored", "present"))
    render.out().print(f"{restored} of {len(result.images)} tag(s)/image(s) back in the registry")
    for refused in result.refused:
        render.out().print(
            f"[red]refused:[/] {refused.digest} {refused.tag or '(untagged)'}:"
            f" {escape(refused.reason)}"
        )
    if result.refused:
        render.note(
            "a manifest backup holds no layers: copy full images with crane or skopeo"
            " (see docs/RB-0026-ecr-decommission.md)"
        )
    for difference in result.differences:
        render.out().print(f"[yellow]differs from the backup:[/] {escape(difference)}")
