"""Options shared by several commands, declared once."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator.context import Environment, Progress, Session, quiet
from orchestrator.files.workspace import find_workspace
from orchestrator.models import RISKS
from orchestrator.rules.policy import PULL_SERVICES


class Output(StrEnum):
    text = "text"
    json = "json"


EnvOpt = Annotated[
    str,
    typer.Option(
        "--env",
        "-e",
        help="Environment: a directory under envs/ (local, dev, staging, prod).",
        show_default=False,
    ),
]


def optional_env(default: str) -> Any:
    """--env where it may be left out; `default` says what the command does then."""
    return typer.Option("--env", "-e", help=f"{default}.", show_default=False)


OptionalEnvOpt = Annotated[
    str | None, optional_env("Only this environment (default: every environment)")
]
OutputOpt = Annotated[
    Output, typer.Option("--output", "-o", help="text for people, json for scripts (on stdout).")
]
StateOpt = Annotated[
    str | None,
    typer.Option(
        "--state",
        "--shard",
        help=(
            "One state of a sharded environment (state_shards > 1 in its tfvars): a shard's"
            " number (3 or shard-03) or registry. Each state has its own lock and data dir;"
            " default: every state (main, when the environment is not sharded)."
        ),
        show_default=False,
    ),
]
NamesArg = Annotated[
    list[str], typer.Argument(help="Repository names, e.g. payments-gateway.", show_default=False)
]


_OWNER_HELP = "Owning app team, app-team-{name}."
_RISK_HELP = f"Risk tier: {', '.join(RISKS[:-1])} or {RISKS[-1]}."
OwnerOpt = Annotated[str, typer.Option(help=_OWNER_HELP, show_default=False)]
OptionalOwnerOpt = Annotated[str | None, typer.Option(help=_OWNER_HELP, show_default=False)]
RiskOpt = Annotated[str, typer.Option(help=_RISK_HELP, show_default=False)]
OptionalRiskOpt = Annotated[str | None, typer.Option(help=_RISK_HELP, show_default=False)]
_DESCRIPTION_HELP = "What the images are (becomes a tag)."
DescriptionOpt = Annotated[str, typer.Option(help=_DESCRIPTION_HELP)]
OptionalDescriptionOpt = Annotated[
    str | None, typer.Option(help=_DESCRIPTION_HELP, show_default=False)
]
IdOpt = Annotated[
    str | None,
    typer.Option(
        "--id",
        help="Catalog ID REGISTRY_{PRODUCT}; derived from the name if omitted.",
        show_default=False,
    ),
]
ReasonOpt = Annotated[str, typer.Option(help="Why; kept in the catalog entry's history.")]
RequiredReasonOpt = Annotated[
    str, typer.Option(help="Why (required); kept in the catalog.", show_default=False)
]


def flag(name: str, help: str) -> Any:
    """A boolean --NAME option, off by default."""
    return typer.Option(name, help=help)


def principals_option(flag: str, help: str) -> Any:
    """A repeatable principal option (rules/policy.py check_principals says what each takes)."""
    return typer.Option(flag, help=f"{help} (repeatable).", show_default=False)


# What a pull principal may be (rules/policy.py PULL_PRINCIPAL); push takes IAM ARNs only.
PULL_FORMS = (
    f"IAM role/user ARN, AWS Organization ID (o-...) or service ({', '.join(PULL_SERVICES)})"
)

PushPrincipalsOpt = Annotated[
    list[str] | None, principals_option("--push-principal", "IAM role/user ARN allowed to push")
]
PullPrincipalsOpt = Annotated[
    list[str] | None,
    principals_option("--pull-principal", f"{PULL_FORMS} allowed to pull"),
]
_REPLICATE_HELP = (
    "Replicate the images to the environment's replication_destinations (tiers that allow it:"
    " risk-tiers.json `replication`; the high tier always replicates)."
)
ReplicateOpt = Annotated[bool, typer.Option("--replicate", help=_REPLICATE_HELP)]
OptionalReplicateOpt = Annotated[
    bool | None,
    typer.Option(
        "--replicate/--no-replicate",
        help=_REPLICATE_HELP + " --no-replicate withdraws the ask.",
        show_default=False,
    ),
]
DryRunOpt = Annotated[
    bool,
    typer.Option(
        "--dry-run", help="Validate and show what would change (and the plan); write nothing."
    ),
]
PlanFileOpt = Annotated[Path | None, typer.Option(help="Saved plan file.", show_default=False)]
AutoApproveOpt = Annotated[
    bool, typer.Option("--auto-approve", help="Apply without asking (CI, after review).")
]


# A Go duration as terraform's -lock-timeout takes it: 0s, 90s, 5m, 1h30m.
_DURATION = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h))+$")


def _duration(value: str | None) -> str | None:
    if value is not None and not _DURATION.match(value):
        raise typer.BadParameter(f"{value!r} is not a duration such as 0s, 90s, 5m or 1h")
    return value


LockTimeoutOpt = Annotated[
    str | None,
    typer.Option(
        "--lock-timeout",
        help="How long to wait for the state lock another run holds (0s, 90s, 5m);"
        " then fail naming the holder. Default: ECRCTL_LOCK_TIMEOUT, else 0s.",
        callback=_duration,
        show_default=False,
    ),
]


@contextlib.contextmanager
def lock_timeout(value: str | None) -> Iterator[None]:
    """Run the block with terraform's lock timeout set (ECRCTL_LOCK_TIMEOUT, read per run)."""
    if value is None:
        yield
        return
    before = os.environ.get("ECRCTL_LOCK_TIMEOUT")
    os.environ["ECRCTL_LOCK_TIMEOUT"] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("ECRCTL_LOCK_TIMEOUT", None)
        else:
            os.environ["ECRCTL_LOCK_TIMEOUT"] = before


def session(progress: Progress = quiet) -> Session:
    """The session of one command: the workspace ecrctl finds from here, and its progress."""
    return Session(find_workspace(), progress)


def context(env: str, progress: Progress = quiet) -> Environment:
    """The session of one command bound to --env (refused unless envs/ENV exists)."""
    return session(progress).at(env)
