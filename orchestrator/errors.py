"""One error family. Every failure a user can see is an EcrctlError with a stable exit code."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.models import Violation

EXIT_OK = 0
EXIT_INVALID = 1  # invalid input, or a plan the guard refused
EXIT_USAGE = 2  # command-line usage error (Click's own convention)
EXIT_BACKEND = 3  # terraform or AWS failed
EXIT_BUG = 70  # ecrctl's own bug (EX_SOFTWARE): an unexpected exception, a failed read-back
EXIT_INTERRUPTED = 130


class EcrctlError(Exception):
    """A failure explained in one line, with an optional hint on how to fix it."""

    exit_code = EXIT_INVALID

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UserError(EcrctlError):
    """The request, a file or an option is wrong; nothing was changed."""


class FileError(UserError):
    """A managed file is wrong at a line: the path and the line are fields, not only text."""

    def __init__(self, path: object, line: int, reason: str, hint: str | None = None) -> None:
        super().__init__(f"{path}:{line}: {reason}", hint)
        self.path = str(path)
        self.line = line
        self.reason = reason


class PlanRefused(EcrctlError):
    """The plan guard refused a plan; nothing was applied. Carries the guard's verdicts and what
    the command made (the plan, a CI plan) for the CLI to show before it fails."""

    def __init__(
        self,
        message: str,
        violations: list[Violation],
        hint: str | None = None,
        result: object = None,
    ) -> None:
        super().__init__(message, hint)
        self.violations = violations
        self.result = result

    @property
    def addresses(self) -> list[str]:
        return [v.change.address for v in self.violations]


class TerraformError(EcrctlError):
    """terraform exited non-zero. Carries the command, its exit code and the tail of its output."""

    exit_code = EXIT_BACKEND

    def __init__(
        self,
        message: str,
        command: list[str],
        returncode: int,
        tail: str,
        hint: str | None = None,
        state_saved: bool = True,
    ) -> None:
        super().__init__(message, hint)
        self.command = command
        self.returncode = returncode
        self.tail = tail
        # False when terraform could not write the state to the backend (errored.tfstate).
        self.state_saved = state_saved


class AwsError(EcrctlError):
    """An AWS API call failed (credentials, endpoint, throttling ...)."""

    exit_code = EXIT_BACKEND


class CatalogSyncFailed(EcrctlError):
    """terraform apply succeeded, the catalog sync after it did not: the catalog lags."""

    def __init__(self, cause: EcrctlError, env: str) -> None:
        super().__init__(
            f"applied, but the catalog sync failed: {cause.message}",
            cause.hint or f"the apply stands; once fixed, run: ecrctl catalog sync --env {env}",
        )
        self.exit_code = cause.exit_code
        self.cause = cause


class Incomplete(EcrctlError):
    """A decommission or restore stopped after it had changed something; rerunning finishes it."""

    def __init__(self, cause: EcrctlError, done: list[str], rerun: str) -> None:
        super().__init__(
            f"{cause.message}; stopped part-way, so far: {'; '.join(done)}",
            f"{cause.hint + '; ' if cause.hint else ''}fix the cause, then run again to finish:"
            f" {rerun}",
        )
        self.exit_code = cause.exit_code
        self.cause = cause
        self.done = done


class InternalError(EcrctlError):
    """ecrctl caught itself about to do something wrong (a write that would not read back)."""

    exit_code = EXIT_BUG

    def __init__(self, message: str) -> None:
        super().__init__(
            f"internal error: {message}",
            "this is a bug in ecrctl, not in your input; please report it with the command you ran",
        )


class Interrupted(EcrctlError):
    """The user pressed Ctrl-C; terraform was asked to stop cleanly and release its lock."""

    exit_code = EXIT_INTERRUPTED
