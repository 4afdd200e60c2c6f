"""ecrctl catalog sync: the Backstage catalog written from Terraform state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from orchestrator.cli import render
from orchestrator.cli.options import EnvOpt, Output, OutputOpt, context, flag
from orchestrator.cli.render import escape

if TYPE_CHECKING:
    from orchestrator.models import SyncResult

app = typer.Typer(
    help="The Backstage catalog (catalog/), written from Terraform state.", no_args_is_help=True
)

RegionOpt = Annotated[
    str | None,
    typer.Option(
        help="AWS region; else AWS_REGION, AWS_DEFAULT_REGION, the profile's region, then the"
        " environment's aws_region. Must be the environment's region.",
        show_default=False,
    ),
]


@app.command()
def sync(
    env: EnvOpt,
    region: RegionOpt = None,
    check: Annotated[
        bool,
        flag(
            "--check",
            "Change nothing; exit 1 when the catalog is out of date or an owner is unresolved.",
        ),
    ] = False,
    output: OutputOpt = Output.text,
) -> None:
    """Write the registry of ENV and its repositories as Backstage entities, from Terraform state.

    Reads the Terraform state only (straight from the S3 backend): no ECR API call, no
    provider load. Writes the registry
    file (catalog/resources/ecr-registry.yaml for the primary environment, ECRCTL_PRIMARY_ENV,
    default prod; catalog/resources/ENV/ecr-registry-REGION.yaml otherwise), creates the System,
    Domain, Component and Location files once, and fills aws.repository_url in
    catalog/ecr-catalog.yaml. A sync with nothing new changes only platform/last-sync.
    Every owner must be a Group in catalog/groups/ or ECRCTL_BACKSTAGE_GROUPS: an unresolved
    owner is reported (and fails --check).

    Examples: ecrctl catalog sync --env dev
              ecrctl catalog sync --env prod --region eu-west-2 --check
    """
    from orchestrator.ops import sync as core

    with render.Progress() as progress:
        result = core.sync(context(env, progress), region, check)
    if output is Output.json:
        render.emit_json(result.to_dict())
    else:
        summary(result)
    if check and (not result.up_to_date or result.unresolved_owners):
        raise typer.Exit(1)


def summary(result: SyncResult) -> None:
    """Text for people: what the sync found and did (or, with --check, would do)."""
    for warning in result.warnings:
        render.note(f"warning: {warning}")
    for owner in result.unresolved_owners:
        render.note(f"unresolved owner: {owner}: no such Group in the catalog")
    if result.unresolved_owners:
        render.note(
            "add each Group entity to catalog/groups/ (or to what ECRCTL_BACKSTAGE_GROUPS lists),"
            " or correct the owner; see docs/BACKSTAGE.md"
        )
    where = f"{result.env} ({result.region}, region from {result.region_source})"
    render.out().print(
        escape(f"{result.repo_count} repositories in {where}; {result.registry_file}")
    )
    changed = [f for f in result.files if f.action != "unchanged"]
    if result.check:
        if changed:
            for f in changed:
                render.out().print(escape(f"out of date: {f.path} (would {f.action})"))
            render.note(f"run: ecrctl catalog sync --env {result.env}")
        else:
            render.out().print("catalog is up to date")
        return
    for f in changed:
        render.out().print(escape(f"{f.action}d {f.path}"))
    if not changed:
        render.out().print(f"catalog unchanged but for platform/last-sync ({result.last_sync})")
