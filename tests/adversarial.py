"""Helpers for the adversarial suite: real ecrctl processes, a private emulator, terraform as a reader.

Every wait here is bounded (a deadline or a count); none of them is asserted on.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.adapters.emulator import CREDENTIALS
from tests.helpers import REPO, free_port, wait_for

ECRCTL = str(Path(sys.executable).with_name("ecrctl"))
# Values that must never show up in any output, file or state ecrctl writes.
SECRET_ACCESS_KEY = "adversarialSecretKey0123456789abcdefSECRET"
SESSION_TOKEN = "adversarialSessionToken9876543210TOKEN"
SECRETS = (SECRET_ACCESS_KEY, SESSION_TOKEN)


def ecrctl_env(root: Path, endpoint: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of an ecrctl subprocess: this repository tree, loopback AWS only.

    Credentials are set to marker values so that the secrets tests can look for them anywhere.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "ECRCTL_", "TF_")) or k in ("ECRCTL_PROVIDER_MIRROR",)
    }
    if "ECRCTL_PROVIDER_MIRROR" not in env and os.environ.get("TF_CLI_CONFIG_FILE"):
        env["TF_CLI_CONFIG_FILE"] = os.environ["TF_CLI_CONFIG_FILE"]
    env.update(
        ECRCTL_ROOT=str(root),
        # Never real AWS: a loopback endpoint even for commands that should not reach AWS at all.
        AWS_ENDPOINT_URL=endpoint or "http://127.0.0.1:9",
        AWS_ACCESS_KEY_ID="AKIAADVERSARIALTEST",
        AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        AWS_SESSION_TOKEN=SESSION_TOKEN,
        PYTHONUNBUFFERED="1",
        NO_COLOR="1",
    )
    if endpoint:
        env["ECRCTL_LOCAL_ENDPOINT"] = endpoint
    env.update(extra)
    return env


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def error_lines(self) -> list[str]:
        return self.stderr.rstrip("\n").splitlines()


def ecrctl(env: dict[str, str], *args: str, timeout: float = 300) -> Run:
    proc = subprocess.run(
        [ECRCTL, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def spawn(env: dict[str, str], *args: str, new_session: bool = False) -> subprocess.Popen[str]:
    """An ecrctl process left running, its stdout and stderr piped, its stdin closed."""
    return subprocess.Popen(
        [ECRCTL, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=new_session,
    )


@dataclass
class Background:
    """An ecrctl process whose stderr is read line by line as it runs."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    stdout: list[str] = field(default_factory=list)
    _readers: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def start(cls, env: dict[str, str], *args: str, new_session: bool = False) -> Background:
        proc = spawn(env, *args, new_session=new_session)
        bg = cls(proc)
        assert proc.stdout is not None and proc.stderr is not None
        for stream, sink in ((proc.stderr, bg.lines), (proc.stdout, bg.stdout)):
            reader = threading.Thread(target=bg._read, args=(stream, sink), daemon=True)
            reader.start()
            bg._readers.append(reader)
        return bg

    @staticmethod
    def _read(stream: Any, sink: list[str]) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))

    def wait_line(self, predicate: Callable[[str], bool], timeout: float) -> str | None:
        def seen() -> str | None:
            return next((line for line in list(self.lines) if predicate(line)), None)

        return wait_for(lambda: seen() or (self.proc.poll() is not None and seen()), timeout)

    def finish(self, timeout: float = 300) -> Run:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_tree()
            self.proc.wait()
            raise
        for reader in self._readers:
            reader.join(timeout=30)
        return Run(
            self.proc.returncode,
            "".join(line + "\n" for line in self.stdout),
            "".join(line + "\n" for line in self.lines),
        )

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def kill_tree(self) -> list[int]:
        """SIGKILL ecrctl and every process under it (terraform runs in a group of its own)."""
        pids = [self.proc.pid, *descendants(self.proc.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def listens(pid: int, port: int) -> bool:
    """Whether process `pid` itself listens on TCP `port` (read from /proc)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return True
    return False


class Moto:
    """A private moto server on 127.0.0.1 that a test may stop (the session one stays up).

    A free port can be taken by another process (another test run, a benchmark) before moto
    binds it; that process would then answer in moto's place. So the server counts as up only
    once this moto process listens on the port itself, and a moto that could not bind is
    started again on another port.
    """

    def __init__(self, auth: bool = False) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        if auth:
            # moto then checks every request's credentials as AWS does, and knows none.
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
        for _attempt in range(3):
            self.port = free_port()
            self.endpoint = f"http://127.0.0.1:{self.port}"
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                env={**env, "AWS_ENDPOINT_URL": self.endpoint},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

            def up() -> bool:
                if self.proc.poll() is not None:
                    return True  # it exited: the port was taken
                if not listens(self.proc.pid, self.port):
                    return False
                try:
                    urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=1).close()
                    return True
                except OSError:
                    return False

            if wait_for(up, 30, 0.1) and self.proc.poll() is None:
                return
            self.stop()
        raise RuntimeError("private moto server did not start")

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def private_moto(auth: bool = False) -> Iterator[Moto]:
    moto = Moto(auth)
    try:
        yield moto
    finally:
        moto.stop()


def boto(endpoint: str, service: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


class TerraformReader:
    """Terraform itself reading a tfvars file, with no provider and no backend (cheap).

    The scratch configuration declares the root module's real variables (terraform/variables.tf,
    so the real types and validations apply) plus `texts`, a list of strings, and outputs them.
    """

    def __init__(self, scratch: Path) -> None:
        self.dir = scratch
        scratch.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "terraform" / "variables.tf", scratch / "variables.tf")
        (scratch / "modules" / "ecr").mkdir(parents=True, exist_ok=True)
        shutil.copy(
            REPO / "terraform" / "modules" / "ecr" / "risk-tiers.json",
            scratch / "modules" / "ecr" / "risk-tiers.json",
        )
        (scratch / "read.tf").write_text(
            'variable "texts" {\n  type    = list(string)\n  default = []\n}\n\n'
            'output "ecr_repositories" {\n  value = var.ecr_repositories\n}\n\n'
            'output "texts" {\n  value = var.texts\n}\n'
        )
        (scratch / "empty.tfrc").write_text("")
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(scratch),
            "TF_CLI_CONFIG_FILE": str(scratch / "empty.tfrc"),
            "TF_DATA_DIR": str(scratch / ".terraform"),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
            # No provider is loaded; the loopback guard wants an endpoint all the same.
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        }

    def read(self, var_file: Path) -> dict[str, Any]:
        """The outputs' values as Terraform decoded them from `var_file`."""
        with contextlib.suppress(FileNotFoundError):
            (self.dir / "terraform.tfstate").unlink()
        proc = subprocess.run(
            # Defaults first for a file that sets only `texts`; the file's own values win.
            [
                "terraform",
                "apply",
                "-auto-approve",
                "-input=false",
                "-json",
                "-no-color",
                "-var=aws_region=us-east-1",
                "-var=environment=local",
                f"-var-file={var_file}",
            ],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        values: dict[str, Any] | None = None
        errors = []
        # Split on "\n" only: terraform writes U+2028 and U+0085 raw inside JSON strings.
        for line in proc.stdout.split("\n"):
            if not line.startswith("{"):
                continue
            message = json.loads(line)
            if message.get("type") == "diagnostic" and message["diagnostic"]["severity"] == "error":
                errors.append(message["diagnostic"])
            outputs = message.get("outputs") if message.get("type") == "outputs" else None
            if outputs and all("value" in o for o in outputs.values()):
                values = {name: o["value"] for name, o in outputs.items()}
        if proc.returncode != 0 or values is None:
            raise AssertionError(f"terraform could not read {var_file}: {errors or proc.stderr}")
        return values


def managed_files(root: Path) -> dict[str, bytes]:
    """Every file under catalog/ and envs/ (temporary files included), with its bytes."""
    found = {}
    for top in ("catalog", "envs"):
        for path in sorted((root / top).rglob("*")):
            if path.is_file():
                found[str(path.relative_to(root))] = path.read_bytes()
    return found


def assert_no_secrets(*texts: str | bytes, where: str = "") -> None:
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        for secret in SECRETS:
            assert secret.encode() not in data, f"a credential leaked into {where or 'output'}"


def tree_files(root: Path, skip_dirs: tuple[str, ...] = ("providers",)) -> Iterator[Path]:
    """Regular files under root, not following symlinks (provider binaries are symlinked)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip_dirs]
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                yield path
