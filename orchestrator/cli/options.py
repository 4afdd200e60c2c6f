"""Options shared by several commands, declared once."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


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
OptionalEnvOpt = Annotated[
    str | None,
    typer.Option(
        "--env",
        "-e",
        help="Only this environment (default: every environment).",
        show_default=False,
    ),
]
OutputOpt = Annotated[
    Output, typer.Option("--output", "-o", help="text for people, json for scripts (on stdout).")
]
NamesArg = Annotated[
    list[str], typer.Argument(help="Repository names, e.g. payments-gateway.", show_default=False)
]
PlanFileOpt = Annotated[Path | None, typer.Option(help="Saved plan file.", show_default=False)]
AutoApproveOpt = Annotated[
    bool, typer.Option("--auto-approve", help="Apply without asking (CI, after review).")
]
