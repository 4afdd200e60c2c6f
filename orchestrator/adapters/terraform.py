"""The only place that runs terraform: the commands, the init stamp, the one subprocess wrapper
and the Ctrl-C hand-off (what terraform says is read by adapters/terraform_output.py).

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
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import python_terraform
from python_terraform import IsFlagged

from orchestrator.adapters import terraform_output as output
from orchestrator.errors import Interrupted, TerraformError
from orchestrator.files.workspace import Workspace, atomic_write
from orchestrator.models import Progress, ResourceChange, quiet
from orchestrator.rules.shards import MAIN


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


class Terraform:
    """terraform for one state of one environment: its own data dir, backend key and variables.

    `state` is the state's name (rules/shards.py) and `key` its backend key. The one state of an
    unsharded environment ("main", key None) runs exactly as before shards: backend.hcl's key,
    the data dir .ecrctl/tf/ENV, no extra variable. Any other state adds
    `-backend-config=key=KEY` on top of backend.hcl, `-var=state_name=NAME` to every plan, and
    has the data dir .ecrctl/tf/ENV.NAME (its own init stamp and backend lock).
    """

    def __init__(
        self,
        workspace: Workspace,
        env: str,
        environ: dict[str, str],
        settings: Settings | None = None,
        progress: Progress | None = None,
        state: str = MAIN,
        key: str | None = None,
    ) -> None:
        self.workspace = workspace
        self.env = env
        self.state = state
        self.key = key if state != MAIN else None
        self.settings = settings or Settings.from_environ()
        self.progress = progress or quiet
        self.label = env if state == MAIN else f"{env}/{state}"
        suffix = "" if state == MAIN else f".{state}"
        self.data_dir = workspace.state_dir / "tf" / f"{env}{suffix}"
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
            and _data_dir_matches(self.data_dir, backend, self.key)
        ):
            return
        self.progress(f"terraform init ({self.label})")
        self._run(
            "init",
            input=False,
            no_color=IsFlagged,
            backend_config=[str(backend)] + ([f"key={self.key}"] if self.key else []),
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
        self.progress(f"terraform plan ({self.label}): {', '.join(targets)}")
        result = self._run(
            "plan",
            **self._plan_options(var_file),
            out=str(out),
            target=targets,
            destroy=IsFlagged if destroy else None,
            what="terraform plan",
        )
        return output.changes_from_messages(result.messages)

    def refresh_only(self, var_file: Path) -> list[ResourceChange]:
        """A refresh-only plan (nothing saved): what changed outside Terraform since the state."""
        self.progress(f"terraform plan -refresh-only ({self.label})")
        result = self._run(
            "plan",
            **self._plan_options(var_file),
            refresh_only=IsFlagged,
            what="terraform plan -refresh-only",
        )
        return output.drift_from_messages(result.messages)

    def _plan_options(self, var_file: Path) -> dict[str, Any]:
        """What every plan passes: no prompts, no colour, the JSON stream, the lock timeout."""
        return {
            "input": False,
            "no_color": IsFlagged,
            "json": IsFlagged,
            "lock_timeout": self.settings.lock_timeout,
            "var_file": str(var_file),
            "var": [f"state_name={self.state}"] if self.state != MAIN else None,
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
        self.progress(f"terraform apply ({self.label}): {plan_file.name}")
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
                output.interrupted_apply(planned or [], started, applied),
                "terraform finished what was in flight and released its lock; check anything in"
                " flight (terraform may not have recorded it), then run the same command again"
                " to plan and apply what is left",
            ) from exc
        return output.applied_addresses(result.messages)

    def show_plan(self, plan_file: Path) -> list[ResourceChange]:
        """Changes in a saved plan that ecrctl did not make itself (loads the provider)."""
        return output.changes_from_plan_json(self.show_plan_json(plan_file))

    def show_plan_json(self, plan_file: Path) -> dict[str, Any]:
        """A saved plan as `terraform show -json` gives it (loads the provider)."""
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
            plan = None
        if not isinstance(plan, dict):
            raise TerraformError(
                f"{plan_file} is not a terraform plan", [], result.returncode, result.stdout[-500:]
            )
        return plan

    def state_pull(self) -> dict[str, Any]:
        """The raw state (no provider load). An environment never applied gives an empty state.

        An S3 backend that adapters/s3_state.py understands is read straight from S3 (the same
        state, a second faster); any other through `terraform state pull`.
        """
        from orchestrator.adapters import s3_state

        text = s3_state.read(self.workspace.backend_file(self.env), self.environ, self.key)
        if text is None:
            self.init()  # skipped when this state's data dir is initialised already
            text = self._run("state pull", what="terraform state pull", stream=False).stdout
        if not text.strip():
            return {}
        try:
            state: dict[str, Any] = json.loads(text)
        except ValueError:
            raise TerraformError(
                f"the state of {self.label} is not readable JSON", [], 0, text[-500:]
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
    ) -> output.RunResult:
        cmd = self._builder.generate_cmd_string(command, *(args or []), **options)
        result = output.RunResult(returncode=-1)
        out_lines: list[str] = []

        def take(line: str) -> None:
            out_lines.append(line)
            if stream and line.startswith("{"):
                message = output.decode(line)
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
            failure = output.failure(
                what, cmd, result, self.env, self.state if self.state != MAIN else None
            )
            if command == "init" or self._reinitialised or not output.needs_init(failure):
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
        if self.key:
            digest.update(f"backend key={self.key}".encode())
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


def _data_dir_matches(data_dir: Path, backend: Path, key: str | None = None) -> bool:
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
        if key is not None:
            wanted = {**wanted, "key": key}  # the state's own key, given on init's command line
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
