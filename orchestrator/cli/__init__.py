"""The ecrctl command line: one thin layer over the core (ops/, lifecycle/, ci/).

A run builds only the command it was asked for: Typer inspects every registered function's
signature on each run, and each command module pulls in its own core. `ecrctl create` would
otherwise pay for terraform, boto3, rich and the YAML machinery it never uses
(docs/BENCHMARKS.md, goal 4). With no command, or an unknown one, every command is registered,
so `ecrctl --help` and Typer's "no such command" see them all. For the same reason each command
imports the core it calls inside its function.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from orchestrator.errors import EXIT_BUG, EXIT_INTERRUPTED, EcrctlError

HELP = (
    "Governed lifecycle of AWS ECR repositories through Terraform.\n\n"
    "Quick start: ecrctl local up; ecrctl create payments-gateway --env local"
    " --owner app-team-payments --risk low; ecrctl apply payments-gateway --env local"
)

# Every command, in the order of `ecrctl --help`: name -> (module in orchestrator.cli, attribute).
# An attribute named `app` is a group of subcommands.
COMMANDS: dict[str, tuple[str, str]] = {
    "create": ("registry", "create"),
    "plan": ("registry", "plan"),
    "apply": ("registry", "apply"),
    "list": ("registry", "list_"),
    "validate": ("registry", "validate"),
    "update": ("day2", "update"),
    "deprecate": ("day2", "deprecate"),
    "reactivate": ("day2", "reactivate"),
    "decommission": ("lifecycle", "decommission"),
    "restore": ("lifecycle", "restore"),
    "adopt": ("adopt", "adopt"),
    "local": ("local", "app"),
    "catalog": ("catalog", "app"),
    "ci": ("ci", "app"),
    "drift": ("ci", "drift"),
    "unlock": ("ci", "unlock"),
    "shards": ("shards", "app"),
}


def build_app(names: list[str] | None = None) -> typer.Typer:
    """The Typer application with the commands `names` (default: all of them)."""
    app = typer.Typer(
        name="ecrctl",
        help=HELP,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    # A group callback keeps `ecrctl NAME ...` a subcommand call when one command is registered
    # (Typer runs a lone command directly otherwise).
    app.callback()(lambda: None)
    for name in names if names is not None else list(COMMANDS):
        module, attribute = COMMANDS[name]
        target = getattr(importlib.import_module(f"orchestrator.cli.{module}"), attribute)
        if attribute == "app":
            app.add_typer(target, name=name)
        else:
            app.command(name)(target)
    return app


def _commands_for(argv: list[str]) -> list[str] | None:
    """Only the command `argv` names, when it names one; None (all) otherwise."""
    return [argv[0]] if argv and argv[0] in COMMANDS else None


def _fail(message: str, hint: str | None, code: int) -> int:
    print(f"ecrctl: error: {message}", file=sys.stderr)
    if hint:
        print(f"  hint: {hint}", file=sys.stderr)
    return code


def run(argv: list[str] | None = None) -> int:
    """Run ecrctl and return its exit code; every failure becomes one line and a hint."""
    args = sys.argv[1:] if argv is None else argv
    try:
        build_app(_commands_for(args))(args=args, prog_name="ecrctl", standalone_mode=True)
    except SystemExit as exc:  # Typer's own exits: success, --help, usage errors (2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except EcrctlError as exc:
        return _fail(exc.message, exc.hint, exc.exit_code)
    except KeyboardInterrupt:
        return _fail(
            "interrupted", "terraform, if running, was asked to stop cleanly", EXIT_INTERRUPTED
        )
    except Exception as exc:
        if os.environ.get("ECRCTL_DEBUG"):
            import traceback  # only here: a bug's report

            traceback.print_exc()
        return _fail(
            f"unexpected {type(exc).__name__}: {exc}",
            "this is a bug in ecrctl; rerun with ECRCTL_DEBUG=1 and report the traceback",
            EXIT_BUG,
        )
    return 0


def main() -> None:
    sys.exit(run())
