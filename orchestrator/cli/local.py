"""ecrctl local up|down|status: the embedded AWS emulator for the `local` environment."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestrator.adapters import emulator
from orchestrator.cli import render
from orchestrator.cli.options import Output, OutputOpt
from orchestrator.files.workspace import find_workspace

app = typer.Typer(
    help="Run the local AWS emulator (moto's server on 127.0.0.1) for --env local.",
    no_args_is_help=True,
)


@app.command()
def up(
    port: Annotated[
        int, typer.Option(min=1024, max=65535, help="Port on 127.0.0.1.")
    ] = emulator.DEFAULT_PORT,
    output: OutputOpt = Output.text,
) -> None:
    """Start the emulator (if not running) and create the local state bucket.

    Example: ecrctl local up --port 5055
    """
    ws = find_workspace()
    running = emulator.start(ws, port)
    if output is Output.json:
        render.emit_json(running.to_dict())
        return
    render.out().print(f"local emulator running at {running.endpoint} (pid {running.pid})")
    render.note("it keeps everything in memory; stop it with: ecrctl local down")


@app.command()
def down(output: OutputOpt = Output.text) -> None:
    """Stop the emulator; everything it held (repositories, state) is forgotten.

    Example: ecrctl local down
    """
    stopped = emulator.stop(find_workspace())
    if output is Output.json:
        render.emit_json({"stopped": stopped.to_dict() if stopped else None})
    else:
        render.out().print(
            f"stopped the local emulator (pid {stopped.pid})"
            if stopped
            else "the local emulator was not running"
        )


@app.command()
def status(output: OutputOpt = Output.text) -> None:
    """Say whether the emulator runs, and where. Exits 1 when it does not.

    Example: ecrctl local status
    """
    running = emulator.status(find_workspace())
    if output is Output.json:
        render.emit_json({"running": running is not None, **(running.to_dict() if running else {})})
    else:
        render.out().print(
            f"running at {running.endpoint} (pid {running.pid})"
            if running
            else "not running (start it with: ecrctl local up)"
        )
    if running is None:
        raise typer.Exit(1)
