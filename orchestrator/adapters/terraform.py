"""The only place that runs terraform (over 400 lines: the commands, the one subprocess wrapper,
the Ctrl-C hand-off and the readers of terraform's JSON stream belong together).

python-terraform builds each command line (an argument list, never a shell string); one
subprocess wrapper runs it with ecrctl's environment, streams `-json` messages to a progress
callback, and turns a failure into a TerraformError carrying the command, exit code and the
tail of what terraform said.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import python_terraform
from python_terraform import IsFlagged

from orchestrator.errors import Interrupted, TerraformError
from orchestrator.files.workspace import Workspace, atomic_write
from orchestrator.models import Action, Progress, ResourceChange, instance_of, quiet

# The "Lock Info:" block terraform prints when the state lock is held (the S3 backend's own
# error text before it carries RequestID:/HostID:, so each field is matched at a line start).
_LOCK_FIELD = re.compile(
    r"^[ \t]*(ID|Path|Operation|Who|Created):[ \t]*(\S.*?)[ \t]*$", re.MULTILINE
)


class _CommandBuilder(python_terraform.Terraform):  # type: ignore[misc]
    """python-terraform, used only to build argument lists (generate_cmd_string).

    Its constructor reads `terraform.tfstate` from its working directory (or the current one) as
    JSON, so a stray or damaged file there would make every ecrctl command fail. ecrctl's state
    lives in the backend and is read by `state_pull` only: this builder reads nothing.
    """

    def read_state_file(self, file_path: str | None = None) -> None:
        self.tfstate = None


@dataclass(frozen=True)
class Settings:
    """How ecrctl runs terraform. Every field has an environment variable (see README)."""

    binary: str = "terraform"
    provider_mirror: Path | None = None
    lock_timeout: str = "0s"

    @classmethod
    def from_environ(cls, environ: dict[str, str] | os._Environ[str] = os.environ) -> Settings:
        mirror = environ.get("ECRCTL_PROVIDER_MIRROR")
        return cls(
            binary=environ.get("ECRCTL_TERRAFORM", "terraform"),
            provider_mirror=Path(mirror).resolve() if mirror else None,
            lock_timeout=environ.get("ECRCTL_LOCK_TIMEOUT", "0s"),
        )


@dataclass
class RunResult:
    returncode: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""


class Terraform:
    """terraform for one environment: its own data dir, backend config and variables."""

    def __init__(
        self,
        workspace: Workspace,
        env: str,
        environ: dict[str, str],
        settings: Settings | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.workspace = workspace
        self.env = env
        self.settings = settings or Settings.from_environ()
        self.progress = progress or quiet
        self.data_dir = workspace.state_dir / "tf" / env
        self._builder = _CommandBuilder(terraform_bin_path=self.settings.binary)
        self.environ = {
            **environ,
            "TF_DATA_DIR": str(self.data_dir),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",  # no call home: loopback only in tests, quiet in CI
        }
        if self.settings.provider_mirror is not None:
            self.environ["TF_CLI_CONFIG_FILE"] = str(self._write_cli_config())
        self._reinitialised = False  # a failed plugin check re-inits once per Terraform

    # -- commands ---------------------------------------------------------------------------

    def init(self) -> None:
        """terraform init, skipped when nothing it depends on changed since the last one."""
        backend = self.workspace.backend_file(self.env)
        stamp = self.data_dir / "ecrctl-init.sha256"
        fingerprint = self._init_fingerprint(backend)
        if (
            stamp.exists()
            and stamp.read_text() == fingerprint
            and _data_dir_matches(self.data_dir, backend)
        ):
            return
        self.progress(f"terraform init ({self.env})")
        self._run(
            "init",
            input=False,
            no_color=IsFlagged,
            backend_config=str(backend),
            reconfigure=IsFlagged,
            lockfile="readonly",
            what="terraform init",
        )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(stamp, fingerprint)

    def plan(
        self, targets: list[str], out: Path, var_file: Path, destroy: bool = False
    ) -> list[ResourceChange]:
        """A saved plan of `targets`; returns every resource change it holds."""
        self.progress(f"terraform plan ({self.env}): {', '.join(targets)}")
        result = self._run(
            "plan",
            **self._plan_options(var_file),
            out=str(out),
            target=targets,
            destroy=IsFlagged if destroy else None,
            what="terraform plan",
        )
        return changes_from_messages(result.messages)

    def refresh_only(self, var_file: Path) -> list[ResourceChange]:
        """A refresh-only plan (nothing saved): what changed outside Terraform since the state."""
        self.progress(f"terraform plan -refresh-only ({self.env})")
        result = self._run(
            "plan",
            **self._plan_options(var_file),
            refresh_only=IsFlagged,
            what="terraform plan -refresh-only",
        )
        return drift_from_messages(result.messages)

    def _plan_options(self, var_file: Path) -> dict[str, Any]:
        """What every plan passes: no prompts, no colour, the JSON stream, the lock timeout."""
        return {
            "input": False,
            "no_color": IsFlagged,
            "json": IsFlagged,
            "lock_timeout": self.settings.lock_timeout,
            "var_file": str(var_file),
        }

    def show_plan_text(self, plan_file: Path) -> str:
        """A saved plan as terraform prints it for people (sensitive values stay masked)."""
        result = self._run(
            "show", no_color=IsFlagged, args=[str(plan_file)], what="terraform show", stream=False
        )
        return result.stdout

    def apply(self, plan_file: Path, planned: list[str] | None = None) -> list[str]:
        """Apply a saved plan; returns the addresses terraform reported complete.

        `planned` (the plan's addresses) lets an interruption say what was not applied.
        """
        self.progress(f"terraform apply ({self.env}): {plan_file.name}")
        applied: list[str] = []
        started: list[str] = []
        try:
            result = self._run(
                "apply",
                input=False,
                no_color=IsFlagged,
                json=IsFlagged,
                lock_timeout=self.settings.lock_timeout,
                args=[str(plan_file)],
                what="terraform apply",
                collect_applied=applied,
                collect_started=started,
            )
        except Interrupted as exc:
            raise Interrupted(
                interrupted_apply(planned or [], started, applied),
                "terraform finished what was in flight and released its lock; check anything in"
                " flight (terraform may not have recorded it), then run the same command again"
                " to plan and apply what is left",
            ) from exc
        return applied_addresses(result.messages)

    def show_plan(self, plan_file: Path) -> list[ResourceChange]:
        """Changes in a saved plan that ecrctl did not make itself (loads the provider)."""
        result = self._run(
            "show",
            no_color=IsFlagged,
            json=IsFlagged,
            args=[str(plan_file)],
            what="terraform show",
            stream=False,
        )
        try:
            plan = json.loads(result.stdout)
        except ValueError:
            raise TerraformError(
                f"{plan_file} is not a terraform plan", [], result.returncode, result.stdout[-500:]
            ) from None
        return changes_from_plan_json(plan)

    def state_pull(self) -> dict[str, Any]:
        """The raw state (no provider load). An environment never applied gives an empty state.

        An S3 backend that adapters/s3_state.py understands is read straight from S3 (the same
        state, a second faster); any other through `terraform state pull`.
        """
        from orchestrator.adapters import s3_state

        text = s3_state.read(self.workspace.backend_file(self.env), self.environ)
        if text is None:
            text = self._run("state pull", what="terraform state pull", stream=False).stdout
        if not text.strip():
            return {}
        try:
            state: dict[str, Any] = json.loads(text)
        except ValueError:
            raise TerraformError(
                f"the state of {self.env} is not readable JSON", [], 0, text[-500:]
            ) from None
        return state

    def force_unlock(self, lock_id: str) -> None:
        self._run(
            "force-unlock",
            force=IsFlagged,
            args=[lock_id],
            what="terraform force-unlock",
            stream=False,
        )

    # -- the one subprocess wrapper ----------------------------------------------------------

    def _run(
        self,
        command: str,
        *,
        what: str,
        args: list[str] | None = None,
        stream: bool = True,
        collect_applied: list[str] | None = None,
        collect_started: list[str] | None = None,
        **options: Any,
    ) -> RunResult:
        cmd = self._builder.generate_cmd_string(command, *(args or []), **options)
        result = RunResult(returncode=-1)
        out_lines: list[str] = []

        def take(line: str) -> None:
            out_lines.append(line)
            if stream and line.startswith("{"):
                message = _decode(line)
                if message is not None:
                    result.messages.append(message)
                    self._report(message, collect_applied, collect_started)

        with (
            tempfile.TemporaryFile(mode="w+", encoding="utf-8") as err_file,
            _PassInterrupts() as interrupts,
        ):
            try:
                proc = subprocess.Popen(
                    cmd,
                    cwd=self.workspace.terraform_dir,
                    env=self.environ,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=err_file,
                    text=True,
                    encoding="utf-8",
                    errors="replace",
                    # Its own process group: a Ctrl-C in the terminal reaches ecrctl only, which
                    # passes terraform exactly one (a second one makes terraform exit at once,
                    # without saving what it applied).
                    process_group=0,
                )
            except FileNotFoundError:
                raise TerraformError(
                    f"terraform binary {self.settings.binary!r} not found",
                    cmd,
                    127,
                    "",
                    "install terraform >= 1.10 or set ECRCTL_TERRAFORM to its path",
                ) from None
            interrupts.attach(proc)
            assert proc.stdout is not None
            for line in proc.stdout:
                take(line)
            result.returncode = proc.wait()
            if interrupts.received:
                raise Interrupted(f"interrupted during {what}")
            err_file.seek(0)
            result.stderr = err_file.read()
        result.stdout = "".join(out_lines)
        if result.returncode != 0:
            failure = _failure(what, cmd, result, self.env)
            if command == "init" or self._reinitialised or not _needs_init(failure):
                raise failure
            # The data dir no longer matches what init installed (a provider mirror moved or
            # emptied, providers/ removed): init again, once, then run the command again.
            self._reinitialised = True
            (self.data_dir / "ecrctl-init.sha256").unlink(missing_ok=True)
            self.init()
            return self._run(
                command,
                what=what,
                args=args,
                stream=stream,
                collect_applied=collect_applied,
                collect_started=collect_started,
                **options,
            )
        return result

    def _report(
        self, message: dict[str, Any], applied: list[str] | None, started: list[str] | None = None
    ) -> None:
        kind = message.get("type")
        if kind == "apply_complete" and applied is not None:
            applied.append(message.get("hook", {}).get("resource", {}).get("addr", ""))
        if kind == "apply_start" and started is not None:
            started.append(message.get("hook", {}).get("resource", {}).get("addr", ""))
        if kind in (
            "apply_start",
            "apply_complete",
            "apply_errored",
            "planned_change",
            "change_summary",
            "refresh_start",
        ):
            self.progress(str(message.get("@message", "")))

    def _init_fingerprint(self, backend: Path) -> str:
        digest = hashlib.sha256()
        tf_dir = self.workspace.terraform_dir
        sources = [backend, tf_dir / ".terraform.lock.hcl", *sorted(tf_dir.glob("*.tf"))]
        for path in sources:
            digest.update(str(path).encode())
            with contextlib.suppress(FileNotFoundError):
                digest.update(path.read_bytes())
        for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "TF_CLI_CONFIG_FILE"):
            digest.update(f"{key}={self.environ.get(key, '')}".encode())
        digest.update(_provider_sources(self.settings.provider_mirror, self.environ).encode())
        return digest.hexdigest()

    def _write_cli_config(self) -> Path:
        """A terraform CLI config that installs providers only from the offline mirror.

        An unpacked mirror is symlinked into the data dir by init, so no plugin cache is needed.
        """
        path = self.workspace.state_dir / "terraformrc"
        mirror = json.dumps(str(self.settings.provider_mirror))
        text = f"provider_installation {{\n  filesystem_mirror {{\n    path = {mirror}\n  }}\n}}\n"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            atomic_write(path, text)
        return path


def _provider_sources(mirror: Path | None, environ: dict[str, str]) -> str:
    """What init installs providers from: the CLI config's text and the mirror's listing.

    The listing (relative path, size, mtime of each entry) is cheap next to init itself: a
    mirror holds a handful of files. A moved or refilled mirror changes it, so init runs again
    instead of leaving a data dir whose provider links point at nothing.
    """
    parts = []
    config = environ.get("TF_CLI_CONFIG_FILE")
    if config:
        with contextlib.suppress(OSError):
            parts.append(Path(config).read_text(encoding="utf-8", errors="replace"))
    if mirror is not None:
        parts.append(f"mirror={mirror}")
        for dirpath, dirnames, filenames in os.walk(mirror):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                with contextlib.suppress(OSError):
                    info = path.stat()
                    parts.append(f"{path.relative_to(mirror)} {info.st_size} {info.st_mtime_ns}")
    return "\n".join(parts)


def _data_dir_matches(data_dir: Path, backend: Path) -> bool:
    """Whether the data dir's backend and modules are those of this checkout's environment.

    .ecrctl/ is git-ignored, not unreachable: a pull request can commit a data dir, and the
    init stamp beside it is computable from the checkout. So the stamp alone never decides:
    the backend terraform would use (its bucket, key ...) must be backend.hcl's, and each
    module must be loaded from where its source says. Anything else, or anything unreadable,
    is re-initialised (init -reconfigure rewrites both).
    """
    from orchestrator.files import hcl

    try:
        wanted = hcl.parse(backend.read_text(encoding="utf-8")).values
        held = json.loads((data_dir / "terraform.tfstate").read_text(encoding="utf-8"))
        config = held["backend"]["config"]
        # Every setting backend.hcl gives, and no other (an endpoint, a role, a prefix ...).
        if held["backend"]["type"] != "s3" or set(wanted) - set(config):
            return False
        if any(value != wanted.get(key) for key, value in config.items()):
            return False
        dirs: dict[str, str] = {}
        manifest = json.loads((data_dir / "modules" / "modules.json").read_text(encoding="utf-8"))
        for module in manifest["Modules"]:
            key, source = module["Key"], module["Source"]
            parent = dirs.get(key.rpartition(".")[0], ".") if key else ""
            if key and not source.startswith(("./", "../")):
                return False  # ecrctl's root uses local modules only
            expected = os.path.normpath(os.path.join(parent, source)) if key else "."
            if os.path.normpath(module["Dir"]) != expected:
                return False
            dirs[key] = expected
    except (OSError, ValueError, KeyError, TypeError, AttributeError, hcl.HclSyntaxError):
        return False
    return True


# What terraform says when the data dir no longer holds what init installed.
_STALE_INIT = (
    "required plugins are not installed",
    "there is no package for",
    "inconsistent dependency lock file",
    "backend initialization required",
)


def _needs_init(failure: TerraformError) -> bool:
    text = failure.message.lower()
    return any(marker in text for marker in _STALE_INIT)


def _decode(line: str) -> dict[str, Any] | None:
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


class _PassInterrupts:
    """While terraform runs, Ctrl-C is passed to terraform instead of raising KeyboardInterrupt.

    A KeyboardInterrupt raised while ecrctl reads terraform's output drops the lines being read
    (what terraform started and completed), and the report after an interrupt is made of those
    lines. So the handler only passes the signal on: the first asks terraform to stop as on one
    Ctrl-C (it finishes what is in flight, saves the state, releases the lock) and ecrctl reads
    everything it still reports; a second makes terraform exit at once. Terraform is killed if
    it has not exited 120 s after the first. Outside the main thread (which alone receives
    signals) nothing changes.
    """

    def __init__(self) -> None:
        self.received = 0
        self._proc: subprocess.Popen[str] | None = None
        self._timer: threading.Timer | None = None
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> _PassInterrupts:
        with contextlib.suppress(ValueError):  # ValueError: not the main thread
            self._previous = signal.signal(signal.SIGINT, self._on_interrupt)
            self._installed = True
        return self

    def attach(self, proc: subprocess.Popen[str]) -> None:
        """From now on pass interrupts to `proc`, and any that came while it was starting."""
        self._proc = proc
        for _ in range(self.received):
            self._pass()

    def _on_interrupt(self, _signum: int, _frame: Any) -> None:
        self.received += 1
        if self._proc is not None:
            self._pass()

    def _pass(self) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError):
            self._proc.send_signal(signal.SIGINT)
        if self._timer is None:
            self._timer = threading.Timer(120, self._proc.kill)
            self._timer.daemon = True
            self._timer.start()

    def __exit__(self, *_exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
        if self._timer is not None:
            self._timer.cancel()


def interrupted_apply(planned: list[str], started: list[str], applied: list[str]) -> str:
    """What an interrupted apply did: applied, in flight when it stopped, and not applied."""
    done = set(applied)
    in_flight = [a for a in dict.fromkeys(started) if a not in done]
    parts = [f"applied before stopping: {', '.join(applied) or 'nothing'}"]
    if in_flight:
        parts.append(
            "in flight when it stopped (may exist in AWS without being in the state): "
            + ", ".join(in_flight)
        )
    if planned:
        rest = [a for a in planned if a not in done and a not in in_flight]
        parts.append(f"not applied: {', '.join(rest) or 'nothing'}")
    return "interrupted during terraform apply; " + "; ".join(parts)


def _stream_changes(messages: list[dict[str, Any]], kind: str) -> list[ResourceChange]:
    """The resource changes in the `kind` messages of terraform's -json stream."""
    found = []
    for message in messages:
        if message.get("type") != kind:
            continue
        change = message.get("change", {})
        action = change.get("action", "")
        address = change.get("resource", {}).get("addr", "")
        if action in set(Action):
            reason = change.get("reason")
            importing = bool(change.get("importing"))  # an import block's {"id": ...}
            found.append(
                ResourceChange(address, Action(action), instance_of(address), reason, importing)
            )
    return found


def changes_from_messages(messages: list[dict[str, Any]]) -> list[ResourceChange]:
    """The `planned_change` messages of a plan: what applying it would do."""
    return _stream_changes(messages, "planned_change")


def drift_from_messages(messages: list[dict[str, Any]]) -> list[ResourceChange]:
    """The `resource_drift` messages of a plan: resources changed or deleted outside Terraform."""
    return _stream_changes(messages, "resource_drift")


def lock_holder(text: str) -> dict[str, str]:
    """The fields of the "Lock Info:" block in a failed lock's message (ID, Who, Operation ...)."""
    at = text.find("Lock Info:")
    if at < 0:
        return {}
    return {key: value for key, value in _LOCK_FIELD.findall(text[at:])}


def changes_from_plan_json(plan: dict[str, Any]) -> list[ResourceChange]:
    changes = []
    for rc in plan.get("resource_changes", []):
        actions = rc.get("change", {}).get("actions", [])
        if actions in (["no-op"], ["read"]):
            continue
        action = Action.REPLACE if set(actions) == {"create", "delete"} else Action(actions[0])
        tainted = rc.get("action_reason") == "replace_because_tainted"
        changes.append(
            ResourceChange(
                rc["address"],
                action,
                instance_of(rc["address"]),
                "tainted" if tainted else None,
                importing=bool(rc.get("change", {}).get("importing")),
            )
        )
    return changes


def applied_addresses(messages: list[dict[str, Any]]) -> list[str]:
    return [
        m.get("hook", {}).get("resource", {}).get("addr", "")
        for m in messages
        if m.get("type") == "apply_complete"
    ]


def _failure(what: str, cmd: list[str], result: RunResult, env: str = "ENV") -> TerraformError:
    diagnostics = [
        m["diagnostic"]
        for m in result.messages
        if m.get("type") == "diagnostic" and m.get("diagnostic", {}).get("severity") == "error"
    ]
    errors = [" ".join(filter(None, [d.get("summary"), d.get("detail")])) for d in diagnostics]
    # Lock Info is read from the raw text: its fields are one per line there.
    raw = "\n".join(str(d.get("detail") or "") for d in diagnostics) + "\n" + result.stderr
    # The first error is the cause (later ones are its consequences): keep it whole, cut the end.
    text = " | ".join(dict.fromkeys(errors)) or (result.stderr.strip() or result.stdout.strip())
    squashed = " ".join(text.split())
    tail = squashed if len(squashed) <= 600 else squashed[:600] + " ..."
    hint = None
    state_saved = "failed to persist state" not in text.lower()
    if not state_saved:
        # The backend went away mid-apply: the only record of what was applied is a local file.
        hint = (
            f"terraform could not save the state of {env} and wrote it to"
            " terraform/errored.tfstate: keep that file, and before anything else runs in"
            f" {env} push it once the backend answers (from terraform/, with"
            f" TF_DATA_DIR=.ecrctl/tf/{env}: terraform state push errored.tfstate); running"
            " apply first would fork the state"
        )
        if "releasing the state lock" in text.lower():
            hint += "; the state lock may still be held (the next run names it)"
    elif "acquiring the state lock" in text.lower():
        holder = lock_holder(raw) or lock_holder(text)
        lock_id = holder.get("ID", "LOCK_ID")
        held_by = ", ".join(
            part
            for part in (
                holder.get("Who"),
                holder.get("Operation", "").removeprefix("OperationType").lower() or None,
                f"since {holder['Created']}" if "Created" in holder else None,
            )
            if part
        )
        hint = (
            f"another terraform run holds the state lock of {env}"
            f"{' (held by ' + held_by + ', lock ID ' + lock_id + ')' if holder else ''}; wait for"
            " it (--lock-timeout or ECRCTL_LOCK_TIMEOUT waits), or only if that run died:"
            f" ecrctl unlock {env} {lock_id}"
        )
        if holder:
            tail = f"the state lock is held by {held_by} (lock ID {lock_id}); " + tail[-300:]
    elif "failed to query available provider packages" in text.lower():
        hint = (
            "terraform could not fetch the AWS provider: set ECRCTL_PROVIDER_MIRROR to an offline"
            " provider mirror (a directory holding registry.terraform.io/hashicorp/aws;"
            " scripts/find-provider-mirror looks for one), or let terraform reach its registry"
        )
    elif any(marker in text.lower() for marker in _STALE_INIT):
        hint = (
            f"terraform's providers for {env} (.ecrctl/tf/{env}) are not what the provider mirror"
            " holds, even after a fresh init: point ECRCTL_PROVIDER_MIRROR at a mirror holding"
            " hashicorp/aws as terraform/.terraform.lock.hcl pins it"
            " (scripts/find-provider-mirror finds one), then run again"
        )
    elif "stale" in text.lower() and "plan" in text.lower():
        hint = "the state changed since this plan was made; run ecrctl plan again and review it"
    return TerraformError(
        f"{what} failed (exit {result.returncode}): {tail}",
        cmd,
        result.returncode,
        tail,
        hint,
        state_saved,
    )
