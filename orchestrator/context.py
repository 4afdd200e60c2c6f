"""One value for what every step of a request needs besides the request itself.

`Session` is where ecrctl works (the workspace), how it reports progress, the process environment
it starts from and its clock; `Context` is a session bound to one environment. The CLI makes
one per command; tests make one with a fixed clock or a fake environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from orchestrator.files.workspace import Workspace

Progress = Callable[[str], None]


def quiet(_line: str) -> None:
    """A progress callback that says nothing (the default outside the CLI)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Session:
    workspace: Workspace
    progress: Progress = quiet
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    clock: Callable[[], datetime] = utc_now

    def now(self) -> datetime:
        """The clock's time in UTC, to the second (as the catalog records it)."""
        return self.clock().astimezone(UTC).replace(microsecond=0)

    def at(self, env: str) -> Context:
        """This session bound to `env`, refusing a name that is not a directory under envs/."""
        self.workspace.env_dir(env)
        return Context(self.workspace, self.progress, self.environ, self.clock, env=env)


@dataclass(frozen=True)
class Context(Session):
    env: str = field(kw_only=True)
