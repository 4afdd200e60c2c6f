"""ecrctl ci (changes, plan, apply, report), drift and unlock: parse, call the core once, render."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli import render
from orchestrator.cli.options import (
    EnvOpt,
    LockTimeoutOpt,
    Output,
    OutputOpt,
    StateOpt,
    context,
    lock_timeout,
    optional_env,
    session,
)
from orchestrator.cli.render import escape
from orchestrator.context import Session
from orchestrator.errors import EcrctlError, PlanRefused, UserError
from orchestrator.files.workspace import find_workspace

EXIT_DRIFT = 4  # drift found: distinct from 1 (invalid input) and 3 (terraform or AWS failed)

app = typer.Typer(
    help="Plan a registry change on a pull request; apply exactly that on merge.",
    no_args_is_help=True,
)

BaseOpt = Annotated[
    str,
    typer.Option(
        "--base",
        help="The revision the change is compared with (its merge base with --head is used).",
        show_default=False,
    ),
]
HeadOpt = Annotated[
    str, typer.Option("--head", help="The revision holding the change; it must be checked out.")
]
CiEnvOpt = Annotated[str | None, optional_env("Only this environment (one job per AWS account)")]
CiStateOpt = Annotated[
    str | None,
    typer.Option(
        "--state",
        help="With --env, only this state of it (main, registry, shard-NN or a shard's number):"
        " one CI matrix job per (environment, state) that ci changes lists; its own record"
        " (plan-ENV.STATE.json) and fingerprint.",
        show_default=False,
    ),
]
SummaryOpt = Annotated[
    Path | None,
    typer.Option(
        "--summary-file",
        help="Write the Markdown summary here too ($GITHUB_STEP_SUMMARY gets it when set).",
        show_default=False,
        dir_okay=False,
    ),
]


def _publish(summary: str, summary_file: Path | None) -> None:
    from orchestrator.ci import github

    for path in github.publish(summary, summary_file).files:
        render.note(f"summary written to {path}")


def _refused(exc: EcrctlError, summary_file: Path | None, out_dir: Path | None = None) -> None:
    """A refusal, as the PR comment shows it: to --summary-file, the step summary, out_dir."""
    from orchestrator.ci import markdown, records

    summary = markdown.render_failure(exc.message, exc.hint)
    _publish(summary, summary_file)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / records.REFUSED).write_text(summary, encoding="utf-8")


@app.command()
def changes(
    base: BaseOpt,
    head: HeadOpt = "HEAD",
    summary_file: SummaryOpt = None,
    output: OutputOpt = Output.text,
) -> None:
    """List what a change adds, changes or removes, per environment. Runs no terraform.

    Also lists each environment whose registry-wide resources the change moves (its scan or
    replication settings, replication_sources), even when it changes no repository there.
    Refuses a change that touches files ecrctl does not manage, or that fails ecrctl validate.
    `--output json` gives `environments`, the list a CI matrix runs one job per entry of.

    Example: ecrctl ci changes --base origin/development --output json
    """
    from orchestrator.ci import plan as ci_plan

    ws = find_workspace()
    try:
        found = ci_plan.change_set(ws, base, head)
    except EcrctlError as exc:
        _refused(exc, summary_file)
        raise
    if output is Output.json:
        render.emit_json(found.to_dict())
        return
    if not found.entries and not found.registry:
        render.out().print("this change adds, changes or removes no repository")
    for entry in found.entries:
        detail = f" ({entry.detail})" if entry.detail else ""
        render.out().print(escape(f"{entry.env}: {entry.kind} {entry.name}{detail}"))
    for move in found.registry:
        edited = "; ".join(move.lines()) or "through its entries"
        render.out().print(escape(f"{move.env}: registry-wide settings move ({edited})"))


@app.command()
def plan(
    base: BaseOpt,
    head: HeadOpt = "HEAD",
    env: CiEnvOpt = None,
    summary_file: SummaryOpt = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(help="Where plans and records go (default .ecrctl/ci/plan).", file_okay=False),
    ] = None,
    lock_timeout_: LockTimeoutOpt = None,
    full_plan: Annotated[
        bool,
        typer.Option(
            "--full-plan",
            help="Add terraform's own rendering of each plan, every attribute, to the summary"
            " (one more provider load per environment).",
        ),
    ] = False,
    output: OutputOpt = Output.text,
    state: CiStateOpt = None,
) -> None:
    """Plan a pull request: one targeted plan per environment, the guard, a Markdown summary.

    Compares the catalog and envs/*/terraform.tfvars between the merge base of --base and
    --head, and --head (which must be checked out); plans every repository added, changed or
    removed, one terraform plan per environment, with the registry-wide resources when the
    change moves the environment's registry-wide settings (those alone when it changes no
    repository there); saves each plan and a record of it (entries,
    addresses and actions, their sha256 fingerprint, the guard's verdict) for ci apply.
    Exits 1 when the change touches other files, fails validation, or the guard refuses it.
    `--env ENV --state STATE` plans one of the (environment, state) pairs `ci changes` lists
    (a CI matrix job); `ci report` joins the records of every pair into one comment.

    Example: ecrctl ci plan --base origin/development --summary-file plan.md

    Example: ecrctl ci plan --base HEAD^1 --env prod --state shard-03 --out-dir ecr-plan
    """
    from orchestrator.ci import plan as ci_plan
    from orchestrator.ci import records
    from orchestrator.models import counted

    ws = find_workspace()
    refused: PlanRefused | None = None
    try:
        with lock_timeout(lock_timeout_), render.Progress() as progress:
            result = ci_plan.plan(
                Session(ws, progress), base, head, env, out_dir, full_plan=full_plan, state=state
            )
    except PlanRefused as exc:  # the plans stand, recorded with the guard's verdicts
        if not isinstance(exc.result, records.CiPlan):
            raise
        result, refused = exc.result, exc
    except EcrctlError as exc:
        _refused(exc, summary_file, out_dir or records.plan_dir(ws))
        raise
    _publish(result.summary, summary_file)
    if output is Output.json:
        render.emit_json(result.to_dict())
    else:
        for record in result.records:
            render.out().print(
                escape(
                    f"{record.label}:"
                    f" {', '.join([str(e['name']) for e in record.entries] or ['registry-wide'])}:"
                    f" {counted(record.changes)}; {record.fingerprint}"
                )
            )
        if not result.records:
            render.out().print("nothing to plan")
        render.note(f"plan records in {ws.relative(result.out_dir)}")
    if refused:
        raise refused


@app.command()
def apply(
    base: BaseOpt,
    head: HeadOpt = "HEAD",
    env: CiEnvOpt = None,
    reviewed: Annotated[
        Path | None,
        typer.Option(
            help="Directory of the reviewed plan records (the ecr-plan artifact); default"
            " .ecrctl/ci/plan, where ci plan leaves them.",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    fingerprint: Annotated[
        str | None,
        typer.Option(
            "--fingerprint",
            help="Apply the plan of --env only if its fingerprint is this one (a human reviewed"
            " the new plan); replaces the reviewed record.",
            show_default=False,
        ),
    ] = None,
    summary_file: SummaryOpt = None,
    lock_timeout_: LockTimeoutOpt = None,
    output: OutputOpt = Output.text,
    state: CiStateOpt = None,
) -> None:
    """Apply a merged change exactly as it was reviewed, or refuse and apply nothing.

    Plans the same targets again (one plan per environment) and compares each with the
    reviewed record: the same repositories, the same fingerprint (addresses and actions).
    Any difference refuses the apply in every environment (exit 1) and writes the new plan to
    the summary for review. Otherwise applies the saved plans, creates and deletes alike; the
    catalog changes the apply leaves go to a follow-up pull request. `--env ENV --state
    STATE` re-plans and applies that state alone, against the reviewed record of that state
    (a CI matrix job); apply a sharded environment's registry state after its shards.

    Example: ecrctl ci apply --base "$MERGE^1" --head "$MERGE" --env dev --reviewed reviewed/

    Example: ecrctl ci apply --base "$MERGE^1" --head "$MERGE" --env prod --state shard-03
    --reviewed reviewed/
    """
    from orchestrator.ci import apply as ci_apply

    if fingerprint is not None and env is None:
        raise UserError("--fingerprint needs --env", "a fingerprint covers one environment's plan")
    with lock_timeout(lock_timeout_), render.Progress() as progress:
        result = ci_apply.apply(
            session(progress), base, head, env, reviewed, fingerprint, state=state
        )
    _publish(result.summary, summary_file)
    if output is Output.json:
        render.emit_json(result.to_dict())
    else:
        for mismatch in result.mismatches:
            render.out().print(escape(f"{mismatch.env}: refused: {mismatch.reason}"))
            for line in mismatch.added:
                render.out().print(escape(f"  now:      {line}"))
            for line in mismatch.dropped:
                render.out().print(escape(f"  reviewed: {line}"))
        for record, done in zip(result.records, result.applied, strict=False):
            render.out().print(f"{record.label}: applied {len(done.applied)} change(s)")
        if not result.records:
            render.out().print("nothing to apply")
        for note in result.notes:
            render.note(f"warning: {note}")
        if result.catalog_changes:
            render.note(
                "catalog changes for the follow-up PR: " + ", ".join(result.catalog_changes)
            )
    if result.refused:
        raise UserError(
            "refused: the plan is not the one reviewed on the pull request; nothing was applied",
            "review the new plan in the summary; see docs/CI.md for applying it by hand",
        )


@app.command()
def report(
    records: Annotated[
        Path,
        typer.Argument(help="Directory of plan records (searched recursively).", file_okay=False),
    ],
    summary_file: SummaryOpt = None,
) -> None:
    """Render plan records from several jobs (one per environment) as one PR comment.

    Refusals (refused.md, written by ci changes / ci plan) found there come first; exits 1
    when there is one, or when the guard refused a plan.

    Example: ecrctl ci report artifacts/ --summary-file comment.md
    """
    from orchestrator.ci import markdown
    from orchestrator.ci import records as ci_records

    found = ci_records.load_records(records)
    refusals = markdown.load_refusals(records)
    pr = found[0].pull_request if found else None
    summary = markdown.render_report(found, refusals, pr)
    _publish(summary, summary_file)
    sys.stdout.write(summary)
    if refusals:
        raise UserError("ecrctl could not plan this change (see the summary)")
    if any(r.guard for r in found):
        raise UserError("the plan guard refused a plan (see the summary)")


def drift(
    env: EnvOpt,
    lock_timeout_: LockTimeoutOpt = None,
    output: OutputOpt = Output.text,
    state: StateOpt = None,
) -> None:
    """Compare the registry, the Terraform state, the tfvars and the catalog of ENV.

    A sharded environment refreshes every state side by side (one terraform per core), or the
    one `--shard N` names (its repositories only).

    Runs a refresh-only plan (changes made outside Terraform) and lists repositories in the
    registry that Terraform does not manage, managed ones that are missing, settings that differ
    from the risk tier, and requests not applied yet. Changes nothing. A setting changed outside
    Terraform (kinds terraform, settings) is put back by the targeted plan and apply of its
    repository, printed as `fix: ecrctl apply NAME --env ENV`. Exit code: 0 no drift,
    4 drift found, 1 invalid input, 3 terraform or AWS failed.

    Example: ecrctl drift --env prod --output json
    """
    from orchestrator.ci import github
    from orchestrator.ops import drift as drift_core

    with lock_timeout(lock_timeout_), render.Progress() as progress:
        result = drift_core.drift(context(env, progress), only=state)
    github.publish(drift_core.render_markdown(result), None)
    if output is Output.json:
        render.emit_json(result.to_dict())
    elif not result.drift:
        counts = ", ".join(f"{n} in the {k}" for k, n in result.counts.items())
        render.out().print(f"no drift in {env} ({counts})")
    else:
        for finding in result.findings:
            status = result.statuses.get(finding.repository or "", "active")
            repo = (finding.repository or "-") + (f" ({status})" if status != "active" else "")
            render.out().print(escape(f"{finding.kind:<16} {repo:<30} {finding.detail}"))
            if finding.remedy:
                render.out().print(escape(f"{'':<16} fix: {finding.remedy}"))
    if result.drift:
        render.note(f"drift found in {env}: {len(result.findings)} finding(s)")
        raise typer.Exit(EXIT_DRIFT)


def unlock(
    env: Annotated[str, typer.Argument(help="Environment whose state lock to release.")],
    lock_id: Annotated[str, typer.Argument(help="The lock ID the failed command named.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    state: StateOpt = None,
) -> None:
    """Release a state lock left by a terraform run that died (terraform force-unlock).

    A sharded environment has one lock per state: name it with --state (the failed command's
    message names it); without it, the registry's state (the only one when not sharded).

    Only for a run that is gone: releasing the lock of a live run lets two runs write the state.
    ecrctl never does this on its own; a failed command names the holder and the lock ID.

    Example: ecrctl unlock prod 7c0a8b4e-2f7e-4a47-9d51-0f4c4a3c2a10
    """
    from orchestrator.ops.unlock import unlock as unlock_core

    ctx = context(env)
    ask = render.must_ask(
        yes, "unlock", "make sure the run holding the lock is gone, then pass --yes"
    )
    where = env if state is None else f"{env}/{ctx.state_named(state).name}"
    question = f"Release lock {lock_id} of {where}? Only if the run that holds it is gone."
    if ask and not typer.confirm(question, err=True):
        raise UserError("unlock cancelled; the lock is still held")
    unlock_core(ctx, lock_id, state)
    render.out().print(f"released lock {lock_id} of {where}")
