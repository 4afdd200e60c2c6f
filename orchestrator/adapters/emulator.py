"""The local AWS emulator (moto's server) behind the `local` environment.

It listens on 127.0.0.1 only. Its state lives in memory: `ecrctl local down` forgets every
repository and the Terraform state with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import AwsError, UserError
from orchestrator.files import hcl
from orchestrator.files.workspace import Workspace, atomic_write

LOCAL_ENV = "local"
DEFAULT_PORT = 5055
HOST = "127.0.0.1"
ENDPOINT_VARIABLE = "ECRCTL_LOCAL_ENDPOINT"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


@dataclass(frozen=True)
class Emulator:
    pid: int | None
    port: int
    endpoint: str
    log: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"pid": self.pid, "port": self.port, "endpoint": self.endpoint, "log": self.log}


def _record(ws: Workspace) -> Path:
    return ws.state_dir / "local" / "emulator.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _healthy(endpoint: str) -> bool:
    # Deferred: urllib.request pulls in http.client, email and ssl (some 40 ms), and every
    # ecrctl command imports this module, while only `ecrctl local` asks for health.
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _recorded(ws: Workspace) -> Emulator | None:
    """What .ecrctl/local/emulator.json says, whether or not that process still runs."""
    path = _record(ws)
    try:
        data = json.loads(path.read_text())
        return Emulator(int(data["pid"]), int(data["port"]), str(data["endpoint"]), data["log"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _command_line(pid: int) -> list[str] | None:
    """The arguments process `pid` runs with (/proc, else ps), None when they cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [arg.decode(errors="replace") for arg in raw.split(b"\0")[:-1]]
    except FileNotFoundError:
        if Path("/proc/self/cmdline").exists():
            return None  # Linux, and no such process
    except OSError:
        return None
    try:  # no /proc (macOS): our arguments hold no spaces, so ps' joined line splits back
        shown = subprocess.run(
            ["ps", "-ww", "-o", "args=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return shown.stdout.split() if shown.returncode == 0 else None


def _launch_arguments(port: int) -> list[str]:
    return ["-m", "moto.server", "-H", HOST, "-p", str(port)]


def is_ours(emulator: Emulator) -> bool:
    """Whether the recorded pid runs the emulator `start` launched: moto on the recorded port.

    A pid in the record may have been reused (after a reboot) or written by someone else; only
    a process with that command line, serving the recorded endpoint, is the one to stop.
    """
    if emulator.pid is None or emulator.endpoint != f"http://{HOST}:{emulator.port}":
        return False
    arguments = _command_line(emulator.pid)
    tail = _launch_arguments(emulator.port)
    return arguments is not None and arguments[-len(tail) :] == tail


def status(ws: Workspace) -> Emulator | None:
    """The emulator ecrctl started for this repository, if it is still running."""
    emulator = _recorded(ws)
    if emulator is None or emulator.pid is None or not _alive(emulator.pid):
        return None
    return emulator if is_ours(emulator) else None


def start(ws: Workspace, port: int = DEFAULT_PORT, timeout: float = 30.0) -> Emulator:
    """Start moto's server on 127.0.0.1:port (idempotent) and bootstrap the state bucket."""
    running = status(ws)
    if running is not None:
        if running.port != port:
            raise UserError(
                f"the local emulator already runs on port {running.port}",
                "stop it first with: ecrctl local down",
            )
        bootstrap(ws, running.endpoint)
        return running
    endpoint = f"http://{HOST}:{port}"
    if _healthy(endpoint):
        raise UserError(f"port {port} already serves something else", "choose another: --port P")
    log = ws.state_dir / "local" / "moto.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, *_launch_arguments(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives ecrctl; stopped by `ecrctl local down`
        )
    deadline = time.monotonic() + timeout
    while not _healthy(endpoint):
        if proc.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise AwsError(
                f"the local emulator did not start on {endpoint}",
                f"see {ws.relative(log)}; is moto[server] installed (pip install 'ecrctl[local]')?",
            )
        time.sleep(0.1)
    emulator = Emulator(proc.pid, port, endpoint, ws.relative(log))
    atomic_write(_record(ws), json.dumps(emulator.to_dict()))
    bootstrap(ws, endpoint)
    return emulator


def stop(ws: Workspace) -> Emulator | None:
    """Stop the emulator `start` launched; refuse to signal any other process the record names."""
    recorded = _recorded(ws)
    alive = recorded is not None and recorded.pid is not None and _alive(recorded.pid)
    if recorded is not None and alive and not is_ours(recorded):
        raise UserError(
            f"pid {recorded.pid} in {ws.relative(_record(ws))} is not the local emulator"
            f" ecrctl started (moto on port {recorded.port}); nothing was stopped",
            f"if no emulator of ecrctl's runs (e.g. after a reboot), remove"
            f" {ws.relative(_record(ws))}",
        )
    emulator = status(ws)
    if emulator is not None and emulator.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(emulator.pid, signal.SIGTERM)
        for _ in range(50):
            if not _alive(emulator.pid):
                break
            time.sleep(0.1)
    with contextlib.suppress(FileNotFoundError):
        _record(ws).unlink()
    return emulator


def endpoint(ws: Workspace) -> str:
    """Where the local environment's AWS lives: ECRCTL_LOCAL_ENDPOINT, or the running emulator."""
    configured = os.environ.get(ENDPOINT_VARIABLE)
    if configured:
        return configured
    emulator = status(ws)
    if emulator is None:
        raise UserError("the local emulator is not running", "start it with: ecrctl local up")
    return emulator.endpoint


def backend_settings(ws: Workspace, env: str) -> dict[str, object]:
    path = ws.backend_file(env)
    try:
        return hcl.parse(path.read_text(encoding="utf-8")).values
    except (OSError, hcl.HclSyntaxError) as exc:
        raise UserError(f"{path}: unreadable backend settings ({exc})") from None


def bootstrap(ws: Workspace, url: str) -> None:
    """Create what the local environment's S3 backend needs: its state bucket."""
    from orchestrator.adapters import aws

    settings = backend_settings(ws, LOCAL_ENV)
    bucket, region = str(settings.get("bucket", "")), str(settings.get("region", "us-east-1"))
    s3 = aws.client("s3", {**CREDENTIALS, "AWS_ENDPOINT_URL": url}, region)
    try:
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            if region == "us-east-1":
                s3.create_bucket(Bucket=bucket)
            else:
                s3.create_bucket(
                    Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
                )
    except Exception as exc:
        raise aws.error("CreateBucket", f"{bucket!r} at {url}", exc, service="S3") from None
