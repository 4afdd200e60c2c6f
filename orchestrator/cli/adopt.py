"""ecrctl adopt: parse, call lifecycle.adopt once, render the conformance report."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from orchestrator.cli import render
from orchestrator.cli.options import (
    DescriptionOpt,
    DryRunOpt,
    EnvOpt,
    IdOpt,
    OptionalOwnerOpt,
    OptionalRiskOpt,
    Output,
    OutputOpt,
    PullPrincipalsOpt,
    PushPrincipalsOpt,
    context,
)
from orchestrator.cli.render import escape
from orchestrator.errors import UserError

if TYPE_CHECKING:
    from orchestrator.lifecycle.adopt import AdoptResult

FIX_STYLE = {"in place": "yellow", "created": "green", "refused": "red"}


def adopt(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help="Existing repositories to adopt (any valid ECR name: team/app, old_service).",
            show_default=False,
        ),
    ] = None,
    env: EnvOpt = "",
    owner: OptionalOwnerOpt = None,
    risk: OptionalRiskOpt = None,
    registry_id: IdOpt = None,
    description: DescriptionOpt = "",
    push_principal: PushPrincipalsOpt = None,
    pull_principal: PullPrincipalsOpt = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="YAML list of name, owner, risk, id, description, push/pull_principals.",
            show_default=False,
        ),
    ] = None,
    scaffold: Annotated[
        bool,
        typer.Option(
            "--scaffold",
            help="Print an adopt file of the repositories Terraform does not manage, owner and"
            " risk from their Owner / RiskTier tags; write nothing.",
        ),
    ] = False,
    skip_refused: Annotated[
        bool,
        typer.Option(
            "--skip-refused", help="Adopt the others when some are refused (default: none)."
        ),
    ] = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = Output.text,
) -> None:
    """Adopt repositories the registry already has: record them for import, never recreate them.

    Reads each repository from AWS, reports how it differs from the requested tier and whether
    the plan fixes that in place, then records the adoptable ones in the catalog and the tfvars
    with import markers (terraform/imports.tf). Runs no terraform: plan and apply follow as for
    any change. A repository whose encryption the tier cannot keep is refused, and then nothing
    is written unless --skip-refused. Runbook: docs/RB-0027-ecr-adopt.md.

    Examples: ecrctl adopt team/app --env dev --owner app-team-web --risk low
              ecrctl adopt --env dev --scaffold > adopt.yaml
              ecrctl adopt --env dev --from adopt.yaml --dry-run
    """
    from orchestrator.lifecycle import adopt as core

    if not env:
        raise UserError("missing option --env", "e.g. ecrctl adopt NAME --env dev ...")
    ctx = context(env)
    if scaffold:
        if names or from_file:
            raise UserError("--scaffold takes no names and no --from")
        with render.Progress() as progress:
            progress(f"reading the {env} registry and state")
            candidates = core.scaffold(replace(ctx, progress=progress))
        if output is Output.json:
            render.emit_json([c.__dict__ for c in candidates])
        else:
            render.out().print(escape(core.render_scaffold(env, candidates)), end="")
        return
    if from_file is not None:
        if names or owner or risk or registry_id or description or push_principal or pull_principal:
            raise UserError(
                "--from takes the repositories from the file: no names or per-repository options",
                "put owner, risk, id ... in the file",
            )
        items = core.load_file(from_file)
    else:
        if not names:
            raise UserError(
                "name the repositories to adopt, or pass --from FILE",
                f"e.g. ecrctl adopt team/app --env {env} --owner app-team-web --risk low",
            )
        if not owner or not risk:
            raise UserError(
                "--owner and --risk are required with names",
                "or list each repository with its own owner and risk in a file (--from)",
            )
        if registry_id and len(names) > 1:
            raise UserError("--id names one repository's catalog ID: adopt one NAME with it")
        items = [
            core.Item(
                name=n,
                owner=owner,
                risk=risk,
                registry_id=registry_id,
                description=description,
                push_principals=tuple(push_principal or ()),
                pull_principals=tuple(pull_principal or ()),
            )
            for n in names
        ]
    with render.Progress() as progress:
        progress(f"reading {len(items)} repositories from the {env} registry")
        ctx = replace(ctx, progress=progress)
        result = core.adopt(ctx, items, skip_refused=skip_refused, dry_run=dry_run)
    if output is Output.json:
        render.emit_json(result.to_dict())
    else:
        _text(result)
    if result.refused and not skip_refused:
        raise UserError(
            f"{len(result.refused)} of {len(result.reports)} repositories refused"
            f" ({', '.join(result.refused[:5])}{' ...' if len(result.refused) > 5 else ''});"
            " nothing was written",
            "see the options above; --skip-refused adopts the others",
        )


def _text(result: AdoptResult) -> None:
    out = render.out()
    for report in result.reports:
        verdict = "[red]refused[/]" if report.refused else "[green]adoptable[/]"
        out.print(f"{escape(report.name)} ({report.risk}): {verdict}")
        for d in report.differences:
            style = FIX_STYLE.get(d.fix, "")
            out.print(
                f"    {escape(d.setting)}: {escape(d.current)} -> {escape(d.wanted)}"
                f"  [{style}]{d.fix}[/]"
            )
        if not report.differences:
            out.print("    already as the tier wants it")
        for reason in report.refusals:
            out.print(f"    [red]why:[/] {escape(reason)}")
        for option in report.options:
            out.print(f"    option: {escape(option)}")
    for name in result.unchanged:
        out.print(f"{escape(name)}: already adopted; nothing to do")
    verb = "would record" if result.dry_run or not result.written else "recorded"
    if result.adopted and (result.written or result.dry_run):
        out.print(
            f"{verb} {len(result.adopted)} repositories for import in the catalog and"
            f" envs/{result.env}/terraform.tfvars"
        )
        if result.written:
            shown = " ".join(result.adopted[:5]) + (" ..." if len(result.adopted) > 5 else "")
            render.note(f"next: ecrctl plan {shown} --env {result.env}")
