"""The ecrctl command line: one thin layer over the core (ops/, lifecycle/, ci/).

Each command imports the core it calls inside its function: Typer builds every command on every
run, so a module-level import would make `ecrctl create` pay for terraform, boto3 and the YAML
machinery it never uses.
"""

from __future__ import annotations

import os
import sys
import traceback

import typer

from orchestrator.cli import adopt, catalog, ci, day2, lifecycle, local, registry
from orchestrator.errors import EXIT_BUG, EXIT_INTERRUPTED, EcrctlError

app = typer.Typer(
    name="ecrctl",
    help="Governed lifecycle of AWS ECR repositories through Terraform.\n\n"
    "Quick start: ecrctl local up; ecrctl create payments-gateway --env local"
    " --owner app-team-payments --risk low; ecrctl apply payments-gateway --env local",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command()(registry.create)
app.command()(registry.plan)
app.command()(registry.apply)
app.command("list")(registry.list_)
app.command()(registry.validate)
app.command()(day2.update)
app.command()(day2.deprecate)
app.command()(day2.reactivate)
app.command()(lifecycle.decommission)
app.command()(lifecycle.restore)
app.command()(adopt.adopt)
app.add_typer(local.app, name="local")
app.add_typer(catalog.app, name="catalog")
app.add_typer(ci.app, name="ci")
app.command()(ci.drift)
app.command()(ci.unlock)


def _fail(message: str, hint: str | None, code: int) -> int:
    print(f"ecrctl: error: {message}", file=sys.stderr)
    if hint:
        print(f"  hint: {hint}", file=sys.stderr)
    return code


def run(argv: list[str] | None = None) -> int:
    """Run ecrctl and return its exit code; every failure becomes one line and a hint."""
    try:
        app(args=argv, prog_name="ecrctl", standalone_mode=True)
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
            traceback.print_exc()
        return _fail(
            f"unexpected {type(exc).__name__}: {exc}",
            "this is a bug in ecrctl; rerun with ECRCTL_DEBUG=1 and report the traceback",
            EXIT_BUG,
        )
    return 0


def main() -> None:
    sys.exit(run())
