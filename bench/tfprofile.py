"""Where terraform's own time goes: CPU seconds of a run, and a phase profile from TF_LOG=trace.

`cpu_run` measures a command's wall time and the CPU seconds (user + system) of it and every
process it waited for (terraform reaps its provider plugins, so their CPU counts too).

`traced_run` runs it once more with `TF_LOG=trace` and reads the log (one pass, any size):

- phases, between the markers terraform writes: start (CLI, backend, state read) up to the
  first provider start; provider schema (the first provider process: start, GetProviderSchema,
  decoding the AWS provider's schema) up to the validate walk; the validate walk; the plan walk;
  the finish (plan file, unlock);
- the graph vertices each walk visits, split into the module instances a `-target` names, the
  other module instances (what `-target` does not prune: terraform expands every instance of a
  module and evaluates its variables and locals, then plans only the targets), and the rest;
- provider starts and the provider RPCs that scale with the state (ReadResource,
  UpgradeResourceState, PlanResourceChange);
- the state snapshot size (from the backend's GetObject response) and the longest pauses
  between two log lines, with the line before each: a pause is terraform computing (or waiting)
  without logging, e.g. checksumming the provider package or decoding the schema.

Trace logging itself costs time (a log line per vertex and RPC): the phase profile tells where
the time goes, the untraced runs tell how much.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import resource
import subprocess
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z ")
_VERTEX = re.compile(r'vertex "(?P<name>(?:[^"\\]|\\.)*)": starting visit')
_INSTANCE = re.compile(r'^module\.(?P<module>[A-Za-z0-9_-]+)\[\\"(?P<key>(?:[^"\\]|\\.)*)\\"\]')
_RPC = re.compile(r"GRPCProvider(?:\.v\d)?: (?P<rpc>[A-Za-z]+)$")
_STATE_SIZE = re.compile(
    r"aws\.s3\.key=\S+\.tfstate rpc\.method=GetObject.*?Redacted: [^(]*\((?P<bytes>[\d,]+) bytes"
)
_SCALING_RPCS = ("ReadResource", "UpgradeResourceState", "PlanResourceChange")
_PAUSE_S = 0.2


class TerraformFailed(RuntimeError):
    pass


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_run(
    cmd: Sequence[str], env: dict[str, str], cwd: Path, what: str
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(wall seconds, CPU seconds of the command and its reaped children, the result)."""
    cpu_before, start = _children_cpu(), time.perf_counter()
    done = subprocess.run(
        list(cmd), cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu_before
    if done.returncode != 0:
        tail = " ".join((done.stderr.strip() or done.stdout.strip()).split())[-1500:]
        raise TerraformFailed(f"{what} failed (exit {done.returncode}): {tail}")
    return wall, cpu, done


def traced_run(
    cmd: Sequence[str],
    env: dict[str, str],
    cwd: Path,
    log: Path,
    what: str,
    targeted_instances: Iterable[str] = (),
    keep_log: bool = False,
) -> dict[str, Any]:
    """One run with TF_LOG=trace: its wall and CPU seconds and the profile of its log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    wall, cpu, _done = cpu_run(
        cmd, {**env, "TF_LOG": "trace", "TF_LOG_PATH": str(log)}, cwd, f"{what} (traced)"
    )
    try:
        with log.open(errors="replace") as lines:
            profile = summarize(lines, set(targeted_instances))
    finally:
        if not keep_log:
            log.unlink(missing_ok=True)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), **profile}


def _stamp(line: str) -> float | None:
    match = _STAMP.match(line)
    if match is None:
        return None
    return dt.datetime.fromisoformat(match.group(1)).timestamp()


def _what(line: str) -> str:
    """A log line without its time stamp, paths and IDs: what a pause came after."""
    text = _STAMP.sub("", line).strip()
    text = re.sub(r"/\S+/", ".../", text)
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27,}", "<id>", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "<time>", text)
    return text[:140]


def summarize(lines: Iterable[str], targeted_instances: set[str]) -> dict[str, Any]:
    """The phase profile of a terraform TF_LOG=trace log (see the module docstring)."""
    first = last = previous_time = None
    previous_line = ""
    marks: dict[str, float] = {}
    walk = "before"
    vertices: dict[str, Counter[str]] = {}
    instances: dict[str, set[str]] = {}
    rpcs: Counter[str] = Counter()
    provider_starts = 0
    state_bytes: int | None = None
    pauses: list[tuple[float, str]] = []
    last_visit: float | None = None
    for raw in lines:
        line = raw.rstrip("\n")
        now = _stamp(line)
        if now is None:  # a continuation of a multi-line message
            continue
        if first is None:
            first = now
        if previous_time is not None and now - previous_time >= _PAUSE_S:
            pauses.append((now - previous_time, _what(previous_line)))
        previous_time, previous_line, last = now, line, now
        if "provider: starting plugin:" in line and "terraform-provider-" in line:
            provider_starts += 1
            marks.setdefault("first_provider_start", now)
        elif "Starting graph walk: " in line:
            walk = line.rsplit("Starting graph walk: ", 1)[1].strip()
            marks.setdefault(walk, now)
        elif "starting visit" in line:
            match = _VERTEX.search(line)
            if match is not None:
                last_visit = now
                name = match.group("name")
                instance = _INSTANCE.match(name)
                if instance is None:
                    kind = "other"
                else:
                    key = instance.group("key")
                    kind = "targeted instances" if key in targeted_instances else "other instances"
                    instances.setdefault(walk, set()).add(key)
                vertices.setdefault(walk, Counter())[kind] += 1
        elif "GRPCProvider" in line:
            match = _RPC.search(line.split(" [TRACE] ", 1)[-1].strip())
            if match is not None:
                rpcs[match.group("rpc")] += 1
        elif state_bytes is None and "rpc.method=GetObject" in line and "Redacted" in line:
            size = _STATE_SIZE.search(line)
            if size is not None:
                state_bytes = int(size.group("bytes").replace(",", ""))
    if first is None or last is None:
        return {"error": "the trace log is empty"}
    return {
        "log_wall_s": round(last - first, 3),
        "phases_s": _phases(first, last, marks, last_visit),
        "vertices_visited": {w: dict(c) for w, c in vertices.items()},
        "module_instances_expanded": {w: len(keys) for w, keys in instances.items()},
        "provider_starts": provider_starts,
        "provider_rpcs": {rpc: rpcs[rpc] for rpc in _SCALING_RPCS},
        "state_bytes": state_bytes,
        "longest_pauses": [
            {"s": round(s, 3), "after": what}
            for s, what in sorted(pauses, key=lambda p: p[0], reverse=True)[:6]
        ],
        "pauses_total_s": round(sum(s for s, _ in pauses), 3),
    }


def _phases(
    first: float, last: float, marks: dict[str, float], last_visit: float | None
) -> dict[str, float]:
    """Seconds between the markers, in the order terraform reaches them."""
    points = [("start", first)]
    for label, key in (
        ("provider schema", "first_provider_start"),
        ("validate walk", "walkValidate"),
        ("plan walk", "walkPlan"),
    ):
        if key in marks:
            points.append((label, marks[key]))
    if "walkPlan" in marks and last_visit is not None and last_visit > marks["walkPlan"]:
        points.append(("finish", last_visit))
    points.append(("end", last))
    return {
        label: round(max(0.0, later - at), 3)
        for (label, at), (_next, later) in itertools.pairwise(points)
    }
