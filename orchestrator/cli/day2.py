"""update, deprecate, reactivate: day-2 changes of a request. Parse, call the core once, render."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from orchestrator.cli import render
from orchestrator.cli.options import (
    PULL_FORMS,
    DryRunOpt,
    EnvOpt,
    OptionalDescriptionOpt,
    OptionalOwnerOpt,
    OptionalReplicateOpt,
    OptionalRiskOpt,
    Output,
    OutputOpt,
    ReasonOpt,
    RequiredReasonOpt,
    context,
    principals_option,
)
from orchestrator.cli.render import escape

if TYPE_CHECKING:
    from orchestrator.ops.update import ChangeResult

NameArg = Annotated[str, typer.Argument(help="Repository name, e.g. payments-gateway.")]


def update(
    name: NameArg,
    env: EnvOpt,
    owner: OptionalOwnerOpt = None,
    description: OptionalDescriptionOpt = None,
    risk: OptionalRiskOpt = None,
    add_push_principal: Annotated[
        list[str] | None,
        principals_option("--add-push-principal", "Grant push (and pull) to this IAM ARN"),
    ] = None,
    remove_push_principal: Annotated[
        list[str] | None,
        principals_option("--remove-push-principal", "Revoke this IAM ARN's push access"),
    ] = None,
    add_pull_principal: Annotated[
        list[str] | None,
        principals_option("--add-pull-principal", f"Grant pull to this {PULL_FORMS}"),
    ] = None,
    remove_pull_principal: Annotated[
        list[str] | None,
        principals_option(
            "--remove-pull-principal",
            "Revoke this IAM ARN's, organization's or service's pull access",
        ),
    ] = None,
    replicate: OptionalReplicateOpt = None,
    reason: ReasonOpt = "",
    dry_run: DryRunOpt = False,
    output: OutputOpt = Output.text,
) -> None:
    """Change a live repository's request: owner, description, tier, principals, replication.

    Edits the catalog and envs/ENV/terraform.tfvars together (or neither), with the same rules
    as create, and records the change in the catalog entry's history. Runs no terraform. The
    same update again changes nothing. A tier change that would change the encryption
    (low/medium <-> high) is refused. Next step: ecrctl plan NAME --env ENV.

    Example: ecrctl update payments-gateway --env dev --owner app-team-checkout
    --add-pull-principal arn:aws:iam::123456789012:role/deployer --reason "team reorganisation"

    Pull may also go to a whole AWS Organization or to Lambda / CodeBuild
    acting for this account; push only ever to IAM ARNs. Example:
    ecrctl update payments-gateway --env dev --add-pull-principal o-a1b2c3d4e5
    --add-pull-principal lambda.amazonaws.com

    Example: ecrctl update payments-api --env prod --replicate --reason "DR for checkout"
    """
    from orchestrator.ops import update as core

    change = core.Update(
        owner=owner,
        description=description,
        risk=risk,
        add_push=tuple(add_push_principal or ()),
        remove_push=tuple(remove_push_principal or ()),
        add_pull=tuple(add_pull_principal or ()),
        remove_pull=tuple(remove_pull_principal or ()),
        replicate=replicate,
    )
    result = core.update(context(env), name, change, reason=reason, dry_run=dry_run)
    _show(result, output)


def deprecate(
    name: NameArg,
    env: EnvOpt,
    reason: RequiredReasonOpt,
    dry_run: DryRunOpt = False,
    output: OutputOpt = Output.text,
) -> None:
    """Mark a repository deprecated: after the apply it is pull-only.

    The push principals leave the repository policy but stay recorded in the request, so that
    ecrctl reactivate can put them back. The catalog status becomes `deprecated` with the reason
    and the date. Runs no terraform; next step: ecrctl plan NAME --env ENV.

    Example: ecrctl deprecate payments-gateway --env dev --reason "replaced by payments-api"
    """
    from orchestrator.ops import update as core

    _show(core.deprecate(context(env), name, reason, dry_run=dry_run), output)


def reactivate(
    name: NameArg,
    env: EnvOpt,
    reason: ReasonOpt = "",
    dry_run: DryRunOpt = False,
    output: OutputOpt = Output.text,
) -> None:
    """Undo a deprecation: the recorded push principals get push access back after the apply.

    Example: ecrctl reactivate payments-gateway --env dev --reason "migration postponed"
    """
    from orchestrator.ops import update as core

    _show(core.reactivate(context(env), name, reason, dry_run=dry_run), output)


def _show(result: ChangeResult, output: Output) -> None:
    request = result.after.request
    if output is Output.json:
        render.emit_json(result.to_dict())
        return
    if not result.changed:
        render.out().print(
            f"{request.name} in {request.env} already is as asked ({result.after.status});"
            " nothing changed."
        )
        return
    verb = "would" if result.dry_run else "did"
    render.out().print(f"{request.name} ({request.env}): {verb} {result.action}")
    for line in result.differences:
        render.out().print(f"  {escape(line)}")
    if result.settings is not None:
        render.out().print("settings after the apply:")
        for line in result.settings.lines():
            render.out().print(f"  {escape(line)}")
    if not result.dry_run:
        render.note(f"next: ecrctl plan {request.name} --env {request.env}")
