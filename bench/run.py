"""`make bench`: what each ecrctl lifecycle step costs as the registry grows.

For each size N, a fresh repository tree holds N repositories, bulk-created through the library
and applied once to moto's server on 127.0.0.1 with the real terraform and AWS provider: the
realistic fleet (`--fleet mixed`, the default) is 50/30/20 low/medium/high with a KMS key per
high-tier repository; `--fleet low` is all low-tier. One more repository (`bench-probe`, high-tier
in the mixed fleet) is requested but not applied, as a create request under review is. Then,
median of --repeats runs each:

  1. a targeted plan of one repository vs a full plan (ratio);
  2. `ecrctl plan NAME` vs the bare `terraform plan -target=...` it runs (overhead ratio);
  3. terraform runs that load the AWS provider in one create -> plan -> apply -> catalog sync;
  4. `ecrctl create` wall time, interpreter start included;
  5. `ecrctl catalog sync` vs listing the repositories through the ECR API with boto3;
  6. `ecrctl ci plan` for 10 changed repositories vs 10 single-target plans;
  7. `ecrctl drift` (a refresh-only plan of everything, the state, the registry, the catalog).

  8. `ecrctl plan` of 10 requested repositories in 10 different shards vs one single-target plan.

`terraform validate` (it only loads the provider) is measured beside them as terraform's floor.
The targeted and the full plan also report their CPU seconds, and run once more with
TF_LOG=trace for a profile of terraform's side (bench/tfprofile.py).

Layouts (issue 22): every size is measured on one state (`one`) and then on S = ceil(N / 64)
state shards (`sharded`, at least 2), the same fleet: after the one-state figures the tree is
put back to the fleet as set up, `ecrctl shards migrate --to S` moves the states (timed, with
the proof that nothing in AWS changed and that every state's plan is empty), and every figure
is measured again.

Usage: python bench/run.py [--sizes 10,100,1000,2000] [--repeats 3] [--layouts one,sharded]
       [--fleet mixed|low] [--smoke]
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import datetime as dt
import json
import math
import os
import platform
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import fleet, report, tfprofile
from orchestrator.adapters import emulator
from orchestrator.context import Session
from orchestrator.files import entry_cache, tfvars
from orchestrator.files.workspace import Workspace, atomic_write
from orchestrator.ops import create as create_op
from orchestrator.rules import shards as shards_rule

REPO = fleet.REPO
ENV = fleet.ENV
CI_CHANGED = 10
# The layouts a size is measured on, in this order (the sharded one is migrated from the first).
LAYOUTS = ("one", "sharded")
SHARD_SIZE = 64  # repositories per shard: S = ceil(N / SHARD_SIZE), at least 2
# Subcommands that start the AWS provider (schemas, validation, refresh, apply). Not: init
# (installs it), output, state pull/list/rm/mv, force-unlock, fmt, version, workspace.
PROVIDER_LOADING = {
    "plan",
    "apply",
    "destroy",
    "refresh",
    "import",
    "validate",
    "console",
    "show",
    "graph",
    "test",
    "state show",
    "providers schema",
}
_NESTED = {"state", "providers", "workspace"}


class BenchError(RuntimeError):
    pass


# -- timing --------------------------------------------------------------------------------------


def series(values: Sequence[float]) -> dict[str, Any]:
    return {"median": statistics.median(values), "runs": [round(v, 4) for v in values]}


def over(result: dict[str, Any], figure: str, base: str) -> float:
    """The median of one series of `result` over the median of another."""
    return float(result[figure]["median"]) / float(result[base]["median"])


def run(
    cmd: Sequence[str], env: dict[str, str], cwd: Path, what: str
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run a command to completion, output captured (as ecrctl captures terraform's); its time."""
    start = time.perf_counter()
    done = subprocess.run(
        list(cmd), cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        tail = " ".join((done.stderr.strip() or done.stdout.strip()).split())[-1500:]
        raise BenchError(f"{what} failed (exit {done.returncode}): {tail}\n  command: {cmd}")
    return elapsed, done


def subcommand(argv: Sequence[str]) -> str:
    words = [a for a in argv if not a.startswith("-")]
    if not words:
        return ""
    if words[0] in _NESTED and len(words) > 1:
        return f"{words[0]} {words[1]}"
    return words[0]


# -- one size ------------------------------------------------------------------------------------


@dataclass
class Bench:
    endpoint: str
    mirror: Path
    workdir: Path
    repeats: int
    parallelism: int
    profile: bool
    real_terraform: str
    fleet: str = "mixed"
    trace: bool = True
    keep_traces: bool = False
    ecrctl: list[str] = field(default_factory=list)
    availability: dict[str, str | None] = field(default_factory=dict)
    # Of the ten single-target plans of figure 6, how many are run (the smoke run's two stand
    # for ten: it checks the figure is made, and saves CI a minute).
    single_plans: int = CI_CHANGED
    shard_size: int = SHARD_SIZE
    layout: str = "one"  # the layout being measured
    # Repositories the figures applied (the flow's): kept when the tree is put back.
    applied: list[str] = field(default_factory=list)

    def ecrctl_env(self, ws: Workspace, **extra: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        }
        env.update(
            ECRCTL_ROOT=str(ws.root),
            ECRCTL_PROVIDER_MIRROR=str(self.mirror),
            ECRCTL_TERRAFORM=self.real_terraform,
            **{emulator.ENDPOINT_VARIABLE: self.endpoint},
            # The entry cache with the benchmark's other files, not in the user's ~/.cache.
            **{entry_cache.CACHE_DIR_VARIABLE: str(self.workdir / "cache")},
            CHECKPOINT_DISABLE="1",
        )
        env.update(extra)
        return env

    def ecrctl_run(
        self, ws: Workspace, args: Sequence[str], what: str, **extra: str
    ) -> tuple[float, subprocess.CompletedProcess[str]]:
        return run([*self.ecrctl, *args], self.ecrctl_env(ws, **extra), ws.root, what)

    @property
    def probe_risk(self) -> str:
        """The tier of every repository the benchmark requests on top of the fleet."""
        return fleet.probe_risk(self.fleet)


def _available(bench: Bench, ws: Workspace, args: Sequence[str]) -> str | None:
    """None when `ecrctl ARGS --help` works, else why the command is not available."""
    done = subprocess.run(
        [*bench.ecrctl, *args, "--help"],
        env=bench.ecrctl_env(ws),
        cwd=ws.root,
        capture_output=True,
        text=True,
    )
    if done.returncode == 0:
        return None
    said = " ".join((done.stderr.strip() or done.stdout.strip()).split())[:300]
    return f"`ecrctl {' '.join(args)}` does not exist in this checkout ({said})"


def setup_size(bench: Bench, n: int) -> tuple[Workspace, dict[str, Any]]:
    fleet.reset_emulator(bench.endpoint)
    ws = fleet.build_tree(bench.workdir / f"n{n}")
    emulator.bootstrap(ws, bench.endpoint)
    requests = fleet.fleet_requests(n, bench.fleet)
    start = time.perf_counter()
    fleet.bulk_create(ws, requests)
    bulk_s = time.perf_counter() - start
    start = time.perf_counter()
    fleet.terraform(ws).init()
    init_s = time.perf_counter() - start
    start = time.perf_counter()
    attempts = fleet.apply_all(ws, bench.parallelism)
    apply_s = time.perf_counter() - start
    resources = fleet.state_resource_count(ws)
    if resources < 2 * n:
        raise BenchError(f"setup applied {resources} resources for {n} repositories")
    _say(f"N={n}: setup bulk write {bulk_s:.2f}s, init {init_s:.1f}s, apply {apply_s:.1f}s")
    tiers: dict[str, int] = {}
    for r in requests:
        tiers[r.risk] = tiers.get(r.risk, 0) + 1
    return ws, {
        "repositories_applied": n,
        "fleet": bench.fleet,
        "tiers": tiers,
        "probe_risk": bench.probe_risk,
        "resources_in_state": resources,
        "bulk_write_s": round(bulk_s, 4),
        "init_s": round(init_s, 3),
        "apply_s": round(apply_s, 3),
        "apply_parallelism": bench.parallelism,
        "apply_attempts": attempts,
    }


def shard_count(n: int, shard_size: int = SHARD_SIZE) -> int:
    """S for N repositories in shards of about `shard_size`: ceil(N / size), at least 2 (one
    shard would be the one-state layout again)."""
    return max(2, math.ceil(n / shard_size))


def plans_of_state(runs: Sequence[Sequence[str]], state: str) -> list[list[str]]:
    """The terraform plans among `runs` (argv lists) made in `state` (main: no state_name)."""
    plans = [list(argv) for argv in runs if subcommand(argv) == "plan"]
    if state == shards_rule.MAIN:
        return [argv for argv in plans if not any("state_name=" in a for a in argv)]
    return [argv for argv in plans if any(a.endswith(f"state_name={state}") for a in argv)]


def captured_plan_argv(bench: Bench, ws: Workspace, state: str) -> tuple[list[str], list[str]]:
    """The exact terraform plan `ecrctl plan PROBE` runs in the probe's state (recorded by the
    shim), and the states that ecrctl plan planned (a sharded environment plans the registry
    state beside the shard when the scanning settings move)."""
    shim = fleet.make_shim(bench.workdir / "shim", bench.real_terraform)
    bench.ecrctl_run(
        ws, ["plan", fleet.PROBE, "--env", ENV], "ecrctl plan (recording)", **shim.environ()
    )
    runs = [r["argv"] for r in shim.runs()]
    mine = plans_of_state(runs, state)
    if len(mine) != 1:
        raise BenchError(f"ecrctl plan ran {runs}: expected exactly one terraform plan in {state}")
    planned = [
        next((a.split("state_name=", 1)[1] for a in argv if "state_name=" in a), shards_rule.MAIN)
        for argv in runs
        if subcommand(argv) == "plan"
    ]
    return mine[0], planned


def measure_plans(bench: Bench, ws: Workspace) -> dict[str, Any]:
    """Figures 1 and 2, and terraform's floor, interleaved so that drift hits each alike.

    On a sharded layout the bare plans are the probe's shard's: its targeted plan, and its
    full plan (every repository of that shard); the floor is validated in the shard's data dir.
    """
    env = Session(ws).at(ENV)
    state = env.state_of(fleet.PROBE)
    tf = env.terraform(state)
    argv, planned = captured_plan_argv(bench, ws, state.name)
    plans_dir = bench.workdir / "plans"
    plans_dir.mkdir(exist_ok=True)
    targeted = [tf.settings.binary] + [
        f"-out={plans_dir / 'targeted.tfplan'}" if a.startswith("-out=") else a for a in argv
    ]
    full = [tf.settings.binary] + [
        f"-out={plans_dir / 'full.tfplan'}" if a.startswith("-out=") else a
        for a in argv
        if not a.startswith("-target=")
    ]
    validate = [tf.settings.binary, "validate", "-no-color", "-json"]
    cwd = ws.terraform_dir
    run(validate, tf.environ, cwd, "terraform validate (warm-up)")
    floor, bare, whole, wrapped = [], [], [], []
    bare_cpu, whole_cpu, floor_cpu, wrapped_cpu = [], [], [], []
    ecrctl_plan = [*bench.ecrctl, "plan", fleet.PROBE, "--env", ENV]
    for _ in range(bench.repeats):
        wall, cpu, _done = _cpu_run(validate, tf.environ, cwd, "terraform validate")
        floor.append(wall)
        floor_cpu.append(cpu)
        wall, cpu, _done = _cpu_run(ecrctl_plan, bench.ecrctl_env(ws), ws.root, "ecrctl plan")
        wrapped.append(wall)
        wrapped_cpu.append(cpu)
        wall, cpu, _done = _cpu_run(targeted, tf.environ, cwd, "terraform plan -target")
        bare.append(wall)
        bare_cpu.append(cpu)
        wall, cpu, _done = _cpu_run(full, tf.environ, cwd, "terraform plan (full)")
        whole.append(wall)
        whole_cpu.append(cpu)
    result: dict[str, Any] = {
        "terraform_validate_s": series(floor),
        "targeted_plan_s": series(bare),
        "full_plan_s": series(whole),
        "ecrctl_plan_s": series(wrapped),
        "terraform_validate_cpu_s": series(floor_cpu),
        "targeted_plan_cpu_s": series(bare_cpu),
        "full_plan_cpu_s": series(whole_cpu),
        "ecrctl_plan_cpu_s": series(wrapped_cpu),
        "bare_plan_command": [a for a in targeted[1:]],
        "probe_state": state.name,
        "states_planned_by_ecrctl": planned,
    }
    if bench.trace:
        traces = bench.workdir / "traces"
        result["trace"] = {
            "targeted": _traced(
                bench, targeted, tf.environ, cwd, traces / "targeted.log", {fleet.PROBE}
            ),
            "full": _traced(bench, full, tf.environ, cwd, traces / "full.log", set()),
        }
    result["targeted_over_full"] = bare_ratio = over(result, "targeted_plan_s", "full_plan_s")
    result["ecrctl_over_bare"] = over(result, "ecrctl_plan_s", "targeted_plan_s")
    # CPU seconds hardly depend on what else the machine runs; wall seconds do.
    result["ecrctl_over_bare_cpu"] = over(result, "ecrctl_plan_cpu_s", "targeted_plan_cpu_s")
    _say(
        f"  plans: targeted {result['targeted_plan_s']['median']:.2f}s, full"
        f" {result['full_plan_s']['median']:.2f}s (ratio {bare_ratio:.3f}); ecrctl plan"
        f" {result['ecrctl_plan_s']['median']:.2f}s (x{result['ecrctl_over_bare']:.3f});"
        f" validate {result['terraform_validate_s']['median']:.2f}s"
    )
    return result


def _cpu_run(
    cmd: Sequence[str], env: dict[str, str], cwd: Path, what: str
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    try:
        return tfprofile.cpu_run(cmd, env, cwd, what)
    except tfprofile.TerraformFailed as exc:
        raise BenchError(f"{exc}\n  command: {list(cmd)}") from None


def _traced(
    bench: Bench,
    cmd: Sequence[str],
    env: dict[str, str],
    cwd: Path,
    log: Path,
    targeted: set[str],
) -> dict[str, Any]:
    try:
        return tfprofile.traced_run(
            cmd, env, cwd, log, "terraform plan", targeted, keep_log=bench.keep_traces
        )
    except tfprofile.TerraformFailed as exc:
        raise BenchError(str(exc)) from None


def measure_create(bench: Bench, ws: Workspace) -> dict[str, Any]:
    """Figure 4: `ecrctl create` as a user runs it; the files are restored after each run."""
    tfvars_path = ws.tfvars_file(ENV)
    saved = {path: path.read_text() for path in (ws.catalog_file, tfvars_path)}
    python = [sys.executable, "-c", "pass"]
    imports = [sys.executable, "-c", "import orchestrator.cli"]
    # Issue 22's floor for create: the interpreter plus the CLI library, no ecrctl code.
    typer_import = [sys.executable, "-c", "import typer"]
    env = bench.ecrctl_env(ws)
    times, interpreter, imported, typer_times, cpus = [], [], [], [], []
    try:
        for index in range(bench.repeats):
            interpreter.append(run(python, env, ws.root, "python -c pass")[0])
            imported.append(run(imports, env, ws.root, "import orchestrator.cli")[0])
            typer_times.append(run(typer_import, env, ws.root, "import typer")[0])
            name = f"bench-new-{index:02d}"
            args = [
                "create",
                name,
                "--env",
                ENV,
                "--owner",
                fleet.OWNER,
                "--risk",
                bench.probe_risk,
            ]
            wall, cpu, _done = _cpu_run([*bench.ecrctl, *args], env, ws.root, "ecrctl create")
            times.append(wall)
            cpus.append(cpu)
            if name not in tfvars.load(tfvars_path, ENV).entries:
                raise BenchError(f"ecrctl create did not add {name}")
            for path, text in saved.items():
                atomic_write(path, text)
    finally:
        for path, text in saved.items():
            atomic_write(path, text)
    result = {
        "ecrctl_create_s": series(times),
        "ecrctl_create_cpu_s": series(cpus),
        "python_start_s": series(interpreter),
        "python_import_ecrctl_s": series(imported),
        "python_import_typer_s": series(typer_times),
    }
    _say(
        f"  create: {result['ecrctl_create_s']['median']:.3f}s (python start"
        f" {result['python_start_s']['median']:.3f}s, import typer"
        f" {result['python_import_typer_s']['median']:.3f}s, import ecrctl"
        f" {result['python_import_ecrctl_s']['median']:.3f}s)"
    )
    return result


def measure_sync(bench: Bench, ws: Workspace) -> dict[str, Any]:
    """Figure 5: `ecrctl catalog sync` beside the old boto3 listing."""
    region = tfvars.load(ws.tfvars_file(ENV), ENV).region or "us-east-1"
    baseline_cmd = [
        sys.executable,
        str(REPO / "bench" / "baseline_sync.py"),
        "--endpoint",
        bench.endpoint,
        "--region",
        region,
        "--out",
        str(bench.workdir / "baseline-sync.yaml"),
    ]
    missing = bench.availability["catalog sync"]
    baseline, synced = [], []
    for _ in range(bench.repeats):
        baseline.append(run(baseline_cmd, bench.ecrctl_env(ws), ws.root, "boto3 baseline")[0])
        if missing is None:
            synced.append(
                bench.ecrctl_run(ws, ["catalog", "sync", "--env", ENV], "ecrctl catalog sync")[0]
            )
    # The count the baseline writes (its YAML lists each repository as "- name: ...").
    written = (bench.workdir / "baseline-sync.yaml").read_text()
    listed = len(re.findall(r"^- name: ", written, re.MULTILINE))
    result: dict[str, Any] = {
        "available": missing is None,
        "boto3_baseline_s": series(baseline),
        "baseline_repositories_listed": listed,
    }
    if missing is None:
        result["ecrctl_catalog_sync_s"] = series(synced)
        result["sync_over_baseline"] = over(result, "ecrctl_catalog_sync_s", "boto3_baseline_s")
        _say(
            f"  catalog sync: {result['ecrctl_catalog_sync_s']['median']:.2f}s"
            f" (boto3 baseline {result['boto3_baseline_s']['median']:.2f}s)"
        )
    else:
        result["ecrctl_catalog_sync_s"] = None
        result["not_available"] = missing
        _say(f"  catalog sync: not available; boto3 baseline {baseline[0]:.2f}s")
    return result


def measure_flow(bench: Bench, ws: Workspace) -> dict[str, Any]:
    """Figure 3: terraform runs that load the AWS provider in create -> plan -> apply -> sync."""
    shim = fleet.make_shim(bench.workdir / "shim", bench.real_terraform)
    # Applied, so each layout has its own (the tree is put back with it between layouts).
    name = "bench-flow" if bench.layout == "one" else f"bench-flow-{bench.layout}"
    plan_file = bench.workdir / "plans" / "flow.tfplan"
    steps: list[tuple[str, list[str]]] = [
        (
            "create",
            ["create", name, "--env", ENV, "--owner", fleet.OWNER, "--risk", bench.probe_risk],
        ),
        ("plan", ["plan", name, "--env", ENV, "--out", str(plan_file)]),
        ("apply", ["apply", "--env", ENV, "--plan", str(plan_file), "--auto-approve"]),
    ]
    if bench.availability["catalog sync"] is None:
        steps.append(("catalog sync", ["catalog", "sync", "--env", ENV]))
    by_step: dict[str, Any] = {}
    seen = 0
    for step, args in steps:
        elapsed = bench.ecrctl_run(ws, args, f"ecrctl {step}", **shim.environ())[0]
        runs = shim.runs()[seen:]
        seen += len(runs)
        described = []
        for record in runs:
            command = subcommand(record["argv"])
            starts = _provider_starts(Path(str(record.get("tf_log", ""))))
            described.append(
                {
                    "subcommand": command,
                    "loads_provider": command in PROVIDER_LOADING,
                    "provider_plugin_starts_observed": starts,
                }
            )
        by_step[step] = {"wall_s": round(elapsed, 3), "terraform_runs": described}
        if step == "apply":
            bench.applied.append(name)
    runs = [r for step in by_step.values() for r in step["terraform_runs"]]
    classified = sum(1 for r in runs if r["loads_provider"])
    observed = sum(1 for r in runs if r["provider_plugin_starts_observed"] > 0)
    result = {
        "steps": by_step,
        "terraform_runs": len(runs),
        "provider_loading_runs": classified,
        "provider_loading_runs_observed": observed,
        "catalog_sync_included": "catalog sync" in by_step,
    }
    if classified != observed:
        result["warning"] = (
            "the subcommand classification and terraform's debug log disagree: check PROVIDER_LOADING"
        )
    _say(
        f"  flow: {len(runs)} terraform runs, {classified} load the provider"
        f" ({observed} observed) — {', '.join(r['subcommand'] for r in runs)}"
    )
    return result


def _provider_starts(log: Path) -> int:
    if not log.is_file():
        return 0
    return sum(
        1
        for line in log.read_text(errors="replace").splitlines()
        if "starting plugin" in line and "terraform-provider-aws" in line
    )


def _git(ws: Workspace, *args: str) -> str:
    if not (ws.root / ".git").is_dir():
        raise BenchError(f"{ws.root} is not the benchmark's own git repository")
    done = subprocess.run(
        ["git", "-C", str(ws.root), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def measure_ci(bench: Bench, ws: Workspace) -> dict[str, Any]:
    """Figure 6: one `ecrctl ci plan` for 10 added repositories vs 10 `ecrctl plan NAME`."""
    names = [f"bench-ci-{i:02d}" for i in range(CI_CHANGED)]
    subprocess.run(["git", "init", "-q", "-b", "main", str(ws.root)], check=True)
    (ws.root / ".gitignore").write_text(".ecrctl/\n.terraform/\n*.tfplan\n")
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    _git(ws, "add", "-A")
    _git(ws, *identity, "commit", "-q", "-m", "base")
    base = _git(ws, "rev-parse", "HEAD")
    for index, name in enumerate(names):
        risk = fleet.tier_of(index) if bench.fleet == "mixed" else fleet.RISK
        create_op.create(Session(ws), fleet.request(name, risk))
    _git(ws, "add", "-A")
    _git(ws, *identity, "commit", "-q", "-m", f"request {CI_CHANGED} repositories")
    head = _git(ws, "rev-parse", "HEAD")
    missing = bench.availability["ci plan"]
    singles: list[float] = []
    ten: list[float] = []
    combined: list[float] = []
    summary = bench.workdir / "ci-summary.md"
    for repetition in range(bench.repeats):
        if missing is None:
            combined.append(
                bench.ecrctl_run(
                    ws,
                    ["ci", "plan", "--base", base, "--head", head, "--summary-file", str(summary)],
                    "ecrctl ci plan",
                )[0]
            )
        if repetition == 0:
            # Once: ten plans are already ten samples of a single-target plan, and at N=1000
            # each takes a minute.
            these = [
                bench.ecrctl_run(ws, ["plan", name, "--env", ENV], f"ecrctl plan {name}")[0]
                for name in names[: bench.single_plans]
            ]
            singles += these
            ten.append(sum(these) * CI_CHANGED / len(these))
    result: dict[str, Any] = {
        "available": missing is None,
        "changed_repositories": CI_CHANGED,
        "single_plans_run": len(singles),
        "single_target_plan_s": series(singles),
        "ten_single_target_plans_s": series(ten),
    }
    if missing is None:
        # One more run through the shim: which terraform runs ci plan makes.
        shim = fleet.make_shim(bench.workdir / "shim", bench.real_terraform)
        bench.ecrctl_run(
            ws,
            ["ci", "plan", "--base", base, "--head", head, "--summary-file", str(summary)],
            "ecrctl ci plan (recording)",
            **shim.environ(),
        )
        result["ci_plan_terraform_runs"] = [subcommand(r["argv"]) for r in shim.runs()]
        result["ci_plan_s"] = series(combined)
        result["ci_over_single"] = over(result, "ci_plan_s", "single_target_plan_s")
        result["ci_over_ten_singles"] = over(result, "ci_plan_s", "ten_single_target_plans_s")
        _say(
            f"  ci plan: {result['ci_plan_s']['median']:.2f}s vs one single plan"
            f" {result['single_target_plan_s']['median']:.2f}s, ten"
            f" {result['ten_single_target_plans_s']['median']:.2f}s"
        )
    else:
        result["ci_plan_s"] = None
        result["not_available"] = missing
        _say(
            f"  ci plan: not available; ten single plans"
            f" {result['ten_single_target_plans_s']['median']:.2f}s"
        )
    return result


def spread_names(shards: int, count: int = CI_CHANGED) -> list[str]:
    """`count` new repository names in `count` different shards (in min(count, S) when S is
    smaller, spread evenly): the first candidates `bench-spread-NNN` that fill each shard once."""
    per_shard = math.ceil(count / min(count, shards))
    names: list[str] = []
    filled: dict[int, int] = {}
    index = 0
    while len(names) < count:
        name = f"bench-spread-{index:03d}"
        shard = shards_rule.shard_of(name, shards)
        if filled.get(shard, 0) < per_shard and (shard in filled or len(filled) < count):
            filled[shard] = filled.get(shard, 0) + 1
            names.append(name)
        index += 1
    return names


def measure_spread(bench: Bench, ws: Workspace) -> dict[str, Any]:
    """Figure 8: `ecrctl plan` of 10 requested repositories in 10 different shards (the tiers
    follow the mix) vs one single-target `ecrctl plan NAME` of one of them (a low-, a medium- and
    a high-tier one in turn). On one state it is one plan of ten targets. Files restored after."""
    env = Session(ws).at(ENV)
    names = spread_names(env.shards)
    tfvars_path = ws.tfvars_file(ENV)
    saved = {path: path.read_text() for path in (ws.catalog_file, tfvars_path)}
    risks = [fleet.tier_of(i) if bench.fleet == "mixed" else fleet.RISK for i in range(len(names))]
    singles_of = [names[(0, 5, 8)[i % 3]] for i in range(bench.repeats)]
    spread, single = [], []
    shim = fleet.make_shim(bench.workdir / "shim", bench.real_terraform)
    recording = {k: v for k, v in shim.environ().items() if k != "BENCH_SHIM_TF_LOG_DIR"}
    try:
        session = Session(ws)
        for name, risk in zip(names, risks, strict=True):
            create_op.create(session, fleet.request(name, risk))
        for index in range(bench.repeats):
            seen = len(shim.runs())
            spread.append(
                bench.ecrctl_run(
                    ws, ["plan", *names, "--env", ENV], "ecrctl plan (ten)", **recording
                )[0]
            )
            spread_runs = [r["argv"] for r in shim.runs()[seen:]]
            single.append(
                bench.ecrctl_run(
                    ws, ["plan", singles_of[index], "--env", ENV], "ecrctl plan (one)"
                )[0]
            )
    finally:
        for path, text in saved.items():
            atomic_write(path, text)
    states = {env.state_of(name).name for name in names}
    result: dict[str, Any] = {
        "shards": env.shards,
        "repositories": len(names),
        "shards_touched": len(states),
        "risks": dict(zip(names, risks, strict=True)),
        "terraform_plans": sum(1 for argv in spread_runs if subcommand(argv) == "plan"),
        "spread_plan_s": series(spread),
        "single_target_plan_s": series(single),
        "single_planned": singles_of,
    }
    result["spread_over_single"] = over(result, "spread_plan_s", "single_target_plan_s")
    _say(
        f"  plan of {len(names)} in {len(states)} state(s): {result['spread_plan_s']['median']:.2f}s"
        f" ({result['terraform_plans']} terraform plans) vs one"
        f" {result['single_target_plan_s']['median']:.2f}s (x{result['spread_over_single']:.2f})"
    )
    return result


def measure_drift(bench: Bench, ws: Workspace) -> dict[str, Any]:
    """Figure 7: `ecrctl drift --env local --output json`; exit 4 (drift found) is a result.

    Each run goes through the shim without its debug log (`BENCH_SHIM_TF_LOG_DIR` unset): it
    records terraform's command lines for the cost of one python start per terraform run,
    instead of one more drift run.
    """
    args = ["drift", "--env", ENV, "--output", "json"]
    shim = fleet.make_shim(bench.workdir / "shim", bench.real_terraform)
    recording = {k: v for k, v in shim.environ().items() if k != "BENCH_SHIM_TF_LOG_DIR"}
    env = bench.ecrctl_env(ws, **recording)
    times: list[float] = []
    report_: dict[str, Any] = {}
    runs_per_drift: list[list[str]] = []
    for _ in range(bench.repeats):
        seen = len(shim.runs())
        start = time.perf_counter()
        done = subprocess.run(
            [*bench.ecrctl, *args],
            cwd=ws.root,
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        times.append(time.perf_counter() - start)
        if done.returncode not in (0, 4):
            tail = " ".join((done.stderr.strip() or done.stdout.strip()).split())[-1500:]
            raise BenchError(f"ecrctl drift failed (exit {done.returncode}): {tail}")
        report_ = json.loads(done.stdout)
        report_["exit_code"] = done.returncode
        runs_per_drift.append([subcommand(r["argv"]) for r in shim.runs()[seen:]])
    kinds: dict[str, int] = {}
    for finding in report_.get("findings", []):
        kinds[finding["kind"]] = kinds.get(finding["kind"], 0) + 1
    tf_runs = runs_per_drift[-1]
    result: dict[str, Any] = {
        "ecrctl_drift_s": series(times),
        "exit_code": report_.get("exit_code"),
        "findings": kinds,
        "terraform_runs": tf_runs,
    }
    _say(
        f"  drift: {result['ecrctl_drift_s']['median']:.2f}s, exit {result['exit_code']},"
        f" findings {kinds or 'none'}, terraform runs {', '.join(tf_runs)}"
    )
    return result


def profile_commands(bench: Bench, ws: Workspace) -> dict[str, Any]:
    """cProfile of `ecrctl create` and `ecrctl plan`: where ecrctl's own time goes."""
    out: dict[str, Any] = {}
    tfvars_path = ws.tfvars_file(ENV)
    saved = {path: path.read_text() for path in (ws.catalog_file, tfvars_path)}
    commands = {
        "create": [
            "create",
            "bench-profiled",
            "--env",
            ENV,
            "--owner",
            fleet.OWNER,
            "--risk",
            bench.probe_risk,
        ],
        "plan": ["plan", fleet.PROBE, "--env", ENV],
    }
    try:
        for label, args in commands.items():
            stats_file = bench.workdir / f"profile-{label}.prof"
            cmd = [sys.executable, "-m", "cProfile", "-o", str(stats_file), bench.ecrctl[-1], *args]
            run(cmd, bench.ecrctl_env(ws), ws.root, f"cProfile ecrctl {label}")
            out[label] = _profile_summary(stats_file)
    finally:
        for path, text in saved.items():
            atomic_write(path, text)
    return out


def _profile_summary(stats_file: Path, top: int = 12) -> dict[str, Any]:
    stats = pstats.Stats(str(stats_file))
    total = max((v[3] for v in stats.stats.values()), default=0.0)  # type: ignore[attr-defined]
    rows = []
    for (filename, line, func), (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((cumtime, tottime, f"{_short(filename)}:{line}({func})"))
    rows.sort(reverse=True)
    own = [r for r in rows if "orchestrator/" in r[2]]
    return {
        "total_s": round(total, 4),
        "top_cumulative": [
            {"cum_s": round(c, 4), "own_s": round(t, 4), "function": f} for c, t, f in rows[:top]
        ],
        "top_ecrctl_cumulative": [
            {"cum_s": round(c, 4), "own_s": round(t, 4), "function": f} for c, t, f in own[:top]
        ],
    }


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/", "lib/python"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# Every figure of one size, in the order they are measured.
FIGURES: dict[str, Callable[[Bench, Workspace], dict[str, Any]]] = {
    "plans": measure_plans,
    "create": measure_create,
    "catalog_sync": measure_sync,
    "profile": profile_commands,
    "flow": measure_flow,
    "ci_plan": measure_ci,
    "spread_plan": measure_spread,
    "drift": measure_drift,
}


def aws_snapshot(endpoint: str) -> dict[str, Any]:
    """What the emulator holds that a migration must not touch: every repository (ARN, creation
    time, tag mutability, encryption), every KMS key and alias."""
    import boto3

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    ecr, kms = client("ecr"), client("kms")
    repositories = {
        r["repositoryName"]: [
            r["repositoryArn"],
            str(r["createdAt"]),
            r["imageTagMutability"],
            json.dumps(r.get("encryptionConfiguration"), sort_keys=True),
        ]
        for page in ecr.get_paginator("describe_repositories").paginate()
        for r in page["repositories"]
    }
    keys = sorted(
        k["KeyId"] for page in kms.get_paginator("list_keys").paginate() for k in page["Keys"]
    )
    aliases = sorted(
        a["AliasName"]
        for page in kms.get_paginator("list_aliases").paginate()
        for a in page["Aliases"]
    )
    return {"repositories": repositories, "kms_keys": keys, "kms_aliases": aliases}


def _plan_is_empty(ws: Workspace, state: shards_rule.State) -> tuple[str, bool, float, list[str]]:
    """A full plan of `state` (init first): whether terraform has nothing to change."""
    tf = Session(ws).at(ENV).terraform(state)
    tf.init()
    cmd = [
        tf.settings.binary,
        "plan",
        "-input=false",
        "-no-color",
        "-lock=false",
        "-detailed-exitcode",
        f"-var-file={ws.tfvars_file(ENV)}",
    ]
    if state.name != shards_rule.MAIN:
        cmd.append(f"-var=state_name={state.name}")
    start = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=ws.terraform_dir, env=tf.environ, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 2):
        raise BenchError(
            f"plan of {state.name} failed (exit {done.returncode}): {done.stderr[-1500:]}"
        )
    changes = [line.strip() for line in done.stdout.splitlines() if line.startswith("  # ")]
    return state.name, done.returncode == 0, elapsed, changes


def measure_migration(bench: Bench, ws: Workspace, shards: int) -> dict[str, Any]:
    """`ecrctl shards migrate --to S` from one state, timed; then the proof: the emulator holds
    the same repositories, keys and aliases, and a full plan of every state is empty (the plans
    run side by side, one per core, as `ecrctl drift` runs them)."""
    before = aws_snapshot(bench.endpoint)
    wall, done = bench.ecrctl_run(
        ws,
        ["shards", "migrate", "--env", ENV, "--to", str(shards), "--yes", "--output", "json"],
        "ecrctl shards migrate",
    )
    after = aws_snapshot(bench.endpoint)
    moved = json.loads(done.stdout)
    env = Session(ws).at(ENV)
    if env.shards != shards:
        raise BenchError(f"after the migration state_shards is {env.shards}, not {shards}")
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        checked = list(pool.map(lambda state: _plan_is_empty(ws, state), env.states))
    check_s = time.perf_counter() - start
    not_empty = [name for name, empty, _, _ in checked if not empty]
    result: dict[str, Any] = {
        "from": 1,
        "to": shards,
        "ecrctl_shards_migrate_s": round(wall, 3),
        "repositories_per_state": moved.get("states", {}),
        "aws_unchanged": before == after,
        "repositories_in_aws": len(after["repositories"]),
        "states_planned": len(checked),
        "states_with_changes": not_empty,
        "every_plan_empty": not not_empty,
        "empty_plan_check_s": round(check_s, 2),
        "empty_plan_s_per_state": {name: round(t, 2) for name, _, t, _ in checked},
        "changes_planned": {name: lines[:20] for name, _, _, lines in checked if lines},
    }
    _say(
        f"  migrate 1 -> {shards}: {wall:.2f}s; AWS unchanged: {result['aws_unchanged']};"
        f" plans of {len(checked)} states empty: {result['every_plan_empty']} ({check_s:.1f}s)"
    )
    if not result["aws_unchanged"] or not_empty:
        raise BenchError(f"the migration to {shards} shards changed something: {result}")
    return result


def put_back(bench: Bench, ws: Workspace, pristine: dict[Path, str]) -> float:
    """The tree as set up, plus the repositories the figures applied (requested again exactly as
    they were): what a plan of every state finds empty. The figures' git repository and saved
    plans go (a migration refuses to start while a saved plan could still be applied). Returns
    the seconds of the one terraform run it makes."""
    tfvars_path = ws.tfvars_file(ENV)
    entries = tfvars.load(tfvars_path, ENV).entries
    applied = [entries[name] for name in bench.applied if name in entries]
    for path, text in pristine.items():
        atomic_write(path, text)
    shutil.rmtree(ws.root / ".git", ignore_errors=True)
    (ws.root / ".gitignore").unlink(missing_ok=True)
    shutil.rmtree(ws.state_dir / "plans" / ENV, ignore_errors=True)
    session = Session(ws)
    for request_ in applied:
        create_op.create(session, request_)
    # The flow's apply also applied the registry-wide resources as they were then, with the
    # probe (requested, never applied) among the scanning filters: applied again as the tree
    # now asks, so that only the migration can make a plan non-empty.
    tf = fleet.terraform(ws)
    declared = (ws.terraform_dir / "registry.tf").read_text()
    targets = [
        f"-target={kind}.this"
        for kind in sorted(shards_rule.REGISTRY_TYPES)
        if f'resource "{kind}" "this"' in declared
    ]
    cmd = [tf.settings.binary, "apply", "-input=false", "-no-color", "-auto-approve", *targets]
    cmd.append(f"-var-file={tfvars_path}")
    return run(cmd, tf.environ, ws.terraform_dir, "terraform apply (registry-wide resources)")[0]


def measure_size(
    bench: Bench,
    n: int,
    profile: bool,
    only: set[str] | None = None,
    layouts: Sequence[str] = LAYOUTS,
) -> dict[str, Any]:
    """Set N up on one state, then measure every figure (`only`: just those; the profile only
    if `profile`) on each layout: one state, then the same tree migrated to S shards."""
    ws, setup = setup_size(bench, n)
    if not bench.availability:
        bench.availability = {
            "catalog sync": _available(bench, ws, ["catalog", "sync"]),
            "ci plan": _available(bench, ws, ["ci", "plan"]),
        }
    pristine = {path: path.read_text() for path in (ws.catalog_file, ws.tfvars_file(ENV))}
    measured: dict[str, Any] = {}
    bench.applied = []
    for layout in [name for name in LAYOUTS if name in layouts]:
        bench.layout = layout
        figures: dict[str, Any] = {"shards": 1}
        if measured:
            figures["put_back_s"] = round(put_back(bench, ws, pristine), 2)
        if layout == "sharded":
            figures["shards"] = shard_count(n, bench.shard_size)
            _say(f"N={n}, {figures['shards']} shards:")
            figures["migration"] = measure_migration(bench, ws, figures["shards"])
        else:
            _say(f"N={n}, one state:")
        create_op.create(Session(ws), fleet.request(fleet.PROBE, bench.probe_risk))
        for name, measure in FIGURES.items():
            if (only is None or name in only) and (name != "profile" or profile):
                figures[name] = measure(bench, ws)
        measured[layout] = figures
    return {"setup": setup, "layouts": measured}


# -- the machine ---------------------------------------------------------------------------------


def machine(tf_environ: dict[str, str], tf_dir: Path) -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    version = json.loads(
        subprocess.run(
            [fleet.real_terraform(), "version", "-json"],
            cwd=tf_dir,
            env=tf_environ,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    return {
        "git_commit": _git_head(),
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "terraform": version.get("terraform_version"),
        "aws_provider": version.get("provider_selections", {}).get(
            "registry.terraform.io/hashicorp/aws"
        ),
        "moto": _version("moto"),
        "boto3": _version("boto3"),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _git_head() -> str:
    """The project's commit, marked dirty when the work tree has changes."""
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"{head or 'unknown'}{' (with uncommitted changes)' if dirty else ''}"


def _save_partial(path: Path | None, sizes: dict[str, Any]) -> None:
    """Keep what each size measured as soon as it is measured: a run of hours that fails at its
    last size keeps the others (the final write removes this file)."""
    if path is None:
        return
    partial = path.with_name(f"{path.stem}.partial{path.suffix}")
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_text(json.dumps({"partial": True, "sizes": sizes}, indent=2) + "\n")
    _say(f"measured N={', '.join(sizes)} so far: {partial}")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# -- command line --------------------------------------------------------------------------------


def _mirror(given: str | None) -> Path:
    value = given or os.environ.get("ECRCTL_PROVIDER_MIRROR")
    if not value:
        raise BenchError(
            "no provider mirror: pass --provider-mirror DIR or set ECRCTL_PROVIDER_MIRROR"
            " (the directory holding registry.terraform.io/hashicorp/aws)"
        )
    path = Path(value).resolve()
    if not (path / "registry.terraform.io").is_dir():
        raise BenchError(f"{path} is not a provider mirror (no registry.terraform.io inside)")
    return path


def _ecrctl_command() -> list[str]:
    script = Path(sys.executable).parent / "ecrctl"
    if not script.is_file():
        found = shutil.which("ecrctl")
        if found is None:
            raise BenchError("the ecrctl command is not installed (pip install -e .)")
        script = Path(found)
    return [str(script)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="10,100,1000",
        help="repository counts N, comma-separated (default 10,100,1000; make bench adds 2000)",
    )
    parser.add_argument(
        "--layouts",
        default=",".join(LAYOUTS),
        help="one (one state), sharded (S = ceil(N / --shard-size) state shards, at least 2,"
        " migrated from the one state), or both, comma-separated (default one,sharded)",
    )
    parser.add_argument(
        "--one-state-max",
        type=int,
        help="measure the one-state layout only up to this N; larger sizes are set up on one"
        " state, migrated and measured sharded only (issue 22: N=2000 on one state takes hours)",
    )
    parser.add_argument(
        "--shard-size",
        type=int,
        default=SHARD_SIZE,
        help=f"repositories per shard of the sharded layout (default {SHARD_SIZE})",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs per figure; the median is reported (default 3, at least 3"
        " for a published result)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="N=10, one run each, results under .ecrctl/bench-smoke/ (make test)",
    )
    parser.add_argument(
        "--fleet",
        choices=fleet.FLEETS,
        default="mixed",
        help="mixed: 50/30/20 low/medium/high, KMS keys for high (default); low: all low-tier",
    )
    parser.add_argument(
        "--no-trace",
        action="store_true",
        help="skip the TF_LOG=trace runs of the targeted and the full plan",
    )
    parser.add_argument(
        "--parallelism",
        type=int,
        default=32,
        help="terraform -parallelism of the one setup apply (default 32)",
    )
    parser.add_argument("--provider-mirror", help="default: $ECRCTL_PROVIDER_MIRROR")
    parser.add_argument("--json", type=Path, help="results file (default bench/results.json)")
    parser.add_argument("--markdown", type=Path, help="report file (default docs/BENCHMARKS.md)")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where the repository trees go (default: a temporary directory)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument(
        "--no-profile", action="store_true", help="skip the cProfile runs at the largest size"
    )
    parser.add_argument(
        "--only",
        help="measure just these figures after each setup, comma-separated ("
        + ", ".join(FIGURES)
        + "): printed, and written to --json if given; no report and no goals, which need"
        " every figure",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        help="measure nothing: rewrite the report (and goals) from this results file",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.sizes, args.repeats, args.no_profile = "10", 1, True
        smoke_dir = REPO / ".ecrctl" / "bench-smoke"
        args.json = args.json or smoke_dir / "results.json"
        args.markdown = args.markdown or smoke_dir / "BENCHMARKS.md"
    args.only_set = None
    if args.only is not None:
        args.only_set = {f.strip() for f in args.only.split(",") if f.strip()}
        unknown = sorted(args.only_set - set(FIGURES))
        if unknown or not args.only_set:
            parser.error(
                f"--only takes figures of {', '.join(FIGURES)}; not {unknown or args.only!r}"
            )
        if args.markdown is not None:
            parser.error("--only writes no report: leave out --markdown")
    args.json = args.json or (None if args.only_set else REPO / "bench" / "results.json")
    args.markdown = args.markdown or REPO / "docs" / "BENCHMARKS.md"
    try:
        args.size_list = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error(f"--sizes must be integers: {args.sizes!r}")
    if not args.size_list or min(args.size_list) < 1:
        parser.error("--sizes needs at least one positive N")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    args.layout_list = [name.strip() for name in args.layouts.split(",") if name.strip()]
    unknown = sorted(set(args.layout_list) - set(LAYOUTS))
    if unknown or not args.layout_list:
        parser.error(f"--layouts takes {', '.join(LAYOUTS)}; not {unknown or args.layouts!r}")
    args.layout_list = [name for name in LAYOUTS if name in args.layout_list]
    if args.shard_size < 1:
        parser.error("--shard-size must be at least 1")
    return args


def layouts_at(args: argparse.Namespace, n: int) -> list[str]:
    """The layouts size N is measured on (--layouts, less one state above --one-state-max)."""
    limit = args.one_state_max
    return [name for name in args.layout_list if name != "one" or limit is None or n <= limit]


@contextlib.contextmanager
def _workdir(given: Path | None, keep: bool) -> Iterator[Path]:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given.resolve()
        return
    path = Path(tempfile.mkdtemp(prefix="ecrctl-bench-"))
    try:
        yield path
    finally:
        if keep:
            _say(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json is not None:
        results = json.loads(args.from_json.read_text())
        results["goals"] = report.goals(results)
        args.from_json.write_text(json.dumps(results, indent=2) + "\n")
        args.markdown.write_text(report.markdown(results))
        _say(f"rewrote {args.markdown} from {args.from_json}")
        return 0
    started = time.perf_counter()
    # ecrctl as an installed package runs from bytecode; an editable checkout under
    # PYTHONDONTWRITEBYTECODE would compile every module on every run instead.
    compileall.compile_dir(REPO / "orchestrator", quiet=1)
    try:
        mirror = _mirror(args.provider_mirror)
        with (
            _workdir(args.workdir, args.keep) as workdir,
            fleet.moto_server(workdir / "moto.log") as endpoint,
        ):
            # The library (Environment.terraform, bootstrap) reads these, as ecrctl does.
            os.environ[emulator.ENDPOINT_VARIABLE] = endpoint
            os.environ["ECRCTL_PROVIDER_MIRROR"] = str(mirror)
            bench = Bench(
                endpoint=endpoint,
                mirror=mirror,
                workdir=workdir,
                repeats=args.repeats,
                parallelism=args.parallelism,
                profile=not args.no_profile,
                real_terraform=fleet.real_terraform(),
                fleet=args.fleet,
                trace=not args.no_trace,
                keep_traces=args.keep,
                ecrctl=_ecrctl_command(),
                single_plans=2 if args.smoke else CI_CHANGED,
                shard_size=args.shard_size,
            )
            load_before = _load()
            sizes: dict[str, Any] = {}
            described: dict[str, Any] | None = None
            for n in args.size_list:
                profile = bench.profile and n == args.size_list[-1]
                sizes[str(n)] = measure_size(bench, n, profile, args.only_set, layouts_at(args, n))
                _save_partial(args.json, sizes)
                if described is None:
                    ws = Workspace(workdir / f"n{n}")
                    tf = fleet.terraform(ws)
                    described = machine(tf.environ, ws.terraform_dir)
    except BenchError as exc:
        _say(f"error: {exc}")
        return 1
    assert described is not None
    described["load_average_before"] = load_before
    described["load_average_after"] = _load()
    results: dict[str, Any] = {
        "machine": described,
        "config": {
            "sizes": args.size_list,
            "layouts": {str(n): layouts_at(args, n) for n in args.size_list},
            "shard_size": args.shard_size,
            "shards": {str(n): shard_count(n, args.shard_size) for n in args.size_list},
            "repeats": args.repeats,
            "smoke": args.smoke,
            "setup_apply_parallelism": args.parallelism,
            "fleet": args.fleet,
            "fleet_mix": dict(fleet.MIX) if args.fleet == "mixed" else {fleet.RISK: 10},
            "probe_risk": fleet.probe_risk(args.fleet),
            "traced": not args.no_trace,
            "plan_parallelism": "terraform default (10)",
            "total_wall_s": round(time.perf_counter() - started, 1),
        },
        "availability": {k: v is None for k, v in bench.availability.items()},
        "sizes": sizes,
    }
    if args.only_set is not None:
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=2) + "\n")
            _say(f"wrote {args.json}")
        _say(f"measured {', '.join(sorted(args.only_set))} in {results['config']['total_wall_s']}s")
        return 0
    for path in (args.json, args.markdown):
        path.parent.mkdir(parents=True, exist_ok=True)
    # The measurements first: a long run is never lost to the report (--from-json redoes it).
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    results["goals"] = report.goals(results)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    args.markdown.write_text(report.markdown(results))
    args.json.with_name(f"{args.json.stem}.partial{args.json.suffix}").unlink(missing_ok=True)
    for goal in results["goals"]:
        _say(f"goal {goal['id']}: {report.verdict(goal)} — {goal['summary']}")
    _say(f"wrote {args.json} and {args.markdown} in {results['config']['total_wall_s']}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
