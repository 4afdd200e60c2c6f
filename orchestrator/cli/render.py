"""Turn core results into text for people or JSON for scripts. Data to stdout, the rest to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status
    from rich.table import Table

    from orchestrator.models import PlanResult, Violation
    from orchestrator.ops.listing import Listing
    from orchestrator.rules.replication import Replication
    from orchestrator.rules.scanning import OverScan

_CONSOLES: dict[bool, Console] = {}


def _console(stderr: bool) -> Console:
    # Made on first use: importing rich costs more than a whole `ecrctl create` may (goal 4 in
    # docs/BENCHMARKS.md), and plain lines (`say`, `note`) do not need it.
    if stderr not in _CONSOLES:
        from rich.console import Console

        console = Console(stderr=stderr, soft_wrap=True, highlight=False)
        if not console.is_terminal:
            console.width = 160  # logs and pipes: don't truncate addresses to 80 columns
        _CONSOLES[stderr] = console
    return _CONSOLES[stderr]


def out() -> Console:
    """The rich console on stdout, for tables and markup."""
    return _console(stderr=False)


def err() -> Console:
    """The rich console on stderr."""
    return _console(stderr=True)


def escape(text: str) -> str:
    """`text` with rich markup escaped, for a line printed through `out()` or `err()`."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def say(line: str) -> None:
    """One plain line of data on stdout: no markup, no rich."""
    print(line, flush=True)


ACTION_STYLE = {"create": "green", "update": "yellow", "delete": "red", "replace": "magenta"}


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def note(message: str) -> None:
    """One plain line for people on stderr: no markup, no rich."""
    print(message, file=sys.stderr, flush=True)


def must_ask(approved: bool, what: str, hint: str) -> bool:
    """Whether to ask before `what`: not when already approved (--auto-approve, --yes, a dry
    run, a saved plan reviewed when it was made); refused up front when there is no terminal
    to ask on, so a job never hangs on a question."""
    if approved:
        return False
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        from orchestrator.errors import UserError

        raise UserError(f"refusing to {what} without confirmation: no terminal to ask on", hint)
    return True


class Progress:
    """Progress lines: a spinner on a terminal, plain `ecrctl: ...` lines on stderr otherwise.

    Use it as a context manager and call it with each line. `paused()` stops the spinner while a
    question is asked: left running, it would redraw over the prompt.
    """

    def __init__(self) -> None:
        self.status: Status | None = None

    def __enter__(self) -> Progress:
        if err().is_terminal:
            self.status = err().status("starting ...")
            self.status.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.status is not None:
            self.status.stop()

    def __call__(self, line: str) -> None:
        if self.status is not None:
            self.status.update(escape(line))
        else:
            print(f"ecrctl: {line}", file=sys.stderr, flush=True)

    @contextmanager
    def paused(self) -> Iterator[None]:
        if self.status is not None:
            self.status.stop()
        try:
            yield
        finally:
            if self.status is not None:
                self.status.start()


def plan_table(plan: PlanResult) -> Table:
    from rich.table import Table

    table = Table(
        title=f"plan for {plan.env}: {', '.join(plan.repositories)}", title_justify="left"
    )
    table.add_column("action")
    table.add_column("address")
    for change in plan.changes:
        style = ACTION_STYLE.get(change.action, "")
        action = f"[{style}]{change.action}[/]" if style else change.action
        table.add_row(action + (" (import)" if change.importing else ""), escape(change.address))
    return table


def listing_table(listing: Listing) -> Table:
    """`ecrctl list`: one row per catalogued repository of the environment."""
    from rich.table import Table

    table = Table(title=f"repositories in {listing.env}", title_justify="left")
    for column in ("name", "risk", "owner", "id", "status", "url"):
        table.add_column(column)
    for e in listing.entries:
        table.add_row(
            e.request.name,
            e.request.risk,
            e.request.owner,
            e.request.registry_id,
            e.status,
            e.repository_url or "-",
        )
    return table


def scan_text(scan: OverScan | None) -> None:
    """Which repositories the registry scans more than their tier asks, and why."""
    if scan is None:
        return
    lines = scan.lines()
    out().print(
        f"scanning: {len(scan.filters)} CONTINUOUS_SCAN filter(s) for {scan.continuous}"
        " repositories that ask for it; "
        + (f"{len(lines)} more get it:" if lines else "no other repository gets it")
    )
    for line in lines:
        out().print(f"  {escape(line)}")


def replication_text(report: Replication | None) -> None:
    """What replicates where, and which repositories replicate beyond what their tier asks."""
    if report is None:
        return
    for index, line in enumerate(report.lines()):
        out().print(("  " if index else "") + escape(line))


def settings_table(plan: PlanResult) -> Table:
    """What a reviewer approves: per repository, the settings that will hold after the apply."""
    from rich.table import Table

    table = Table(title="settings after the apply (now -> after)", title_justify="left")
    table.add_column("repository")
    table.add_column("setting")
    table.add_column("value")
    for review in plan.reviews:
        for index, line in enumerate(review.lines()):
            label, _, value = line.partition(": ")
            table.add_row(review.name if index == 0 else "", escape(label), escape(value))
    return table


def plan_text(
    plan: PlanResult,
    objections: list[Violation],
    scan: OverScan | None = None,
    replication: Replication | None = None,
) -> None:
    if plan.changes:
        out().print(plan_table(plan))
        if plan.reviews:
            out().print(settings_table(plan))
    else:
        out().print(f"No changes for {', '.join(plan.repositories)} in {plan.env}.")
    counts = plan.counts()
    out().print(
        ", ".join(f"{n} to {a}" for a, n in counts.items()) + f"; plan saved to {plan.plan_file}"
    )
    scan_text(scan)
    replication_text(replication)
    for objection in objections:
        out().print(f"[red]guard:[/] {escape(str(objection))}")
