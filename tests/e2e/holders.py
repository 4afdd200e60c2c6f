"""A real lock holder for the emulator's S3 state lock: `terraform apply` waiting for its "yes",
as a person's apply at terraform's prompt holds the lock of the state it applies."""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from orchestrator.context import Session, State
from orchestrator.files.workspace import Workspace
from orchestrator.rules.shards import MAIN


class Holder:
    """A real `terraform apply` that holds the state lock while it waits for its "yes"."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        buffer = ""
        while chunk := self.proc.stdout.read(1):
            buffer += chunk
            if chunk == "\n" or buffer.endswith("Enter a value: "):
                self.lines.put(buffer)
                buffer = ""

    def wait_for_prompt(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            seen.append(line)
            if "Enter a value:" in line:
                return
        raise AssertionError("terraform never asked for approval:\n" + "".join(seen)[-3000:])

    def answer(self, text: str) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.proc.wait(timeout=120)


@contextmanager
def lock_holder(ws: Workspace, *targets: str, state: State | None = None) -> Iterator[Holder]:
    """`terraform apply -target=...` of `local` (of `state`, by default the registry's), held
    at its prompt: the state's lock is taken until the block ends or the holder answers."""
    terraform = Session(ws).at("local").terraform(state)
    terraform.init()
    environ = {
        k: v for k, v in terraform.environ.items() if k not in ("TF_INPUT", "TF_IN_AUTOMATION")
    }
    state_var = [f"-var=state_name={terraform.state}"] if terraform.state != MAIN else []
    proc = subprocess.Popen(
        [
            "terraform",
            "apply",
            "-no-color",
            f"-var-file={ws.tfvars_file('local')}",
            *state_var,
            *(f"-target={t}" for t in targets),
        ],
        cwd=ws.terraform_dir,
        env=environ,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    holder = Holder(proc)
    try:
        holder.wait_for_prompt()
        yield holder
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
