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

`terraform validate` (it only loads the provider) is measured beside them as terraform's floor.
The targeted and the full plan also report their CPU seconds, and run once more with
TF_LOG=trace for a profile of terraform's side (bench/tfprofile.py).

Usage: python bench/run.py [--sizes 10,100,1000] [--repeats 3] [--fleet mixed|low] [--smoke]
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import datetime as dt
import json
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

REPO = fleet.REPO
ENV = fleet.ENV
CI_CHANGED = 10
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
    create_op.create(Session(ws), fleet.request(fleet.PROBE, bench.probe_risk))
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


def captured_plan_argv(bench: Bench, ws: Workspace) -> list[str]:
    """The exact terraform command `ecrctl plan PROBE` runs, recorded by the shim."""
    shim = fleet.make_shim(bench.workdir / "shim", bench.real_terraform)
    bench.ecrctl_run(
        ws, ["plan", fleet.PROBE, "--env", ENV], "ecrctl plan (recording)", **shim.environ()
    )
    runs = [r["argv"] for r in shim.runs()]
    plans = [argv for argv in runs if subcommand(argv) == "plan"]
    if len(runs) != 1 or len(plans) != 1:
        raise BenchError(f"ecrctl plan ran {runs}: expected exactly one terraform plan")
    return list(plans[0])


def measure_plans(bench: Bench, ws: Workspace) -> dict[str, Any]:
    """Figures 1 and 2, and terraform's floor, interleaved so that drift hits each alike."""
    tf = fleet.terraform(ws)
    argv = captured_plan_argv(bench, ws)
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
    }
    if bench.trace:
        traces = bench.workdir / "traces"
        result["trace"] = {
            "targeted": _traced(
                bench, targeted, tf.environ, cwd, traces / "targeted.log", {fleet.PROBE}
            ),
            "full": _traced(bench, full, tf.environ, cwd, traces / "full.log", set()),
        }
    result["targeted_over_full"] = bare_ratio = (
        result["targeted_plan_s"]["median"] / result["full_plan_s"]["median"]
    )
    result["ecrctl_over_bare"] = (
        result["ecrctl_plan_s"]["median"] / result["targeted_plan_s"]["median"]
    )
    # CPU seconds hardly depend on what else the machine runs; wall seconds do.
    result["ecrctl_over_bare_cpu"] = (
        result["ecrctl_plan_cpu_s"]["median"] / result["targeted_plan_cpu_s"]["median"]
    )
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
        result["sync_over_baseline"] = (
            result["ecrctl_catalog_sync_s"]["median"] / result["boto3_baseline_s"]["median"]
        )
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
    name = "bench-flow"
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
        result["ci_over_single"] = (
            result["ci_plan_s"]["median"] / result["single_target_plan_s"]["median"]
        )
        result["ci_over_ten_singles"] = (
            result["ci_plan_s"]["median"] / result["ten_single_target_plans_s"]["median"]
        )
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
    "drift": measure_drift,
}


def measure_size(
    bench: Bench, n: int, profile: bool, only: set[str] | None = None
) -> dict[str, Any]:
    """Set N up, then measure every figure (`only`: just those; the profile only if `profile`)."""
    ws, setup = setup_size(bench, n)
    if not bench.availability:
        bench.availability = {
            "catalog sync": _available(bench, ws, ["catalog", "sync"]),
            "ci plan": _available(bench, ws, ["ci", "plan"]),
        }
    figures: dict[str, Any] = {"setup": setup}
    for name, measure in FIGURES.items():
        if (only is None or name in only) and (name != "profile" or profile):
            figures[name] = measure(bench, ws)
    return figures


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
        help="repository counts N, comma-separated (default 10,100,1000)",
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
    return args


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
            )
            load_before = _load()
            sizes: dict[str, Any] = {}
            described: dict[str, Any] | None = None
            for n in args.size_list:
                profile = bench.profile and n == args.size_list[-1]
                sizes[str(n)] = measure_size(bench, n, profile, args.only_set)
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
    results["goals"] = report.goals(results)
    for path in (args.json, args.markdown):
        path.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    args.markdown.write_text(report.markdown(results))
    for goal in results["goals"]:
        _say(f"goal {goal['id']}: {report.verdict(goal)} — {goal['summary']}")
    _say(f"wrote {args.json} and {args.markdown} in {results['config']['total_wall_s']}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
