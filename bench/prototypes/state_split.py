"""Prototype, not shipped: one state per shard of repositories instead of one per environment.

Question (issue 12, item 3): one state per environment makes a targeted plan grow with N
(terraform expands every module instance and reads the whole state whatever `-target` says).
Does a state split by a stable key keep the request flow's plan flat, and what does it cost?

For each N (all low-tier: the only fleet that plans past 100 continuous-scan repositories today),
on moto's server on 127.0.0.1 with the real terraform and AWS provider:

- **one state** (today): the N repositories in `ecr/local/terraform.tfstate`, the probe
  requested; the plan ecrctl runs for it (`-target` the probe's module instance and the
  registry scanning configuration);
- **hash shards**: the repositories split by `sha256(name) mod S` (S = ceil(N / SHARD_SIZE)),
  each shard its own backend key (`ecr/local/shards/NN/terraform.tfstate`), its own tfvars
  (only its entries) and its own data directory; the root is the project's without
  `registry.tf` (a registry-wide resource must live in exactly one state). The probe's plan
  runs in its shard only;
- **the registry state**: `registry.tf` alone, fed with every entry of every shard (it derives
  the continuous-scan filters from the tfvars, no module instance), under its own key;
- **one state per repository**: the probe alone under its own key (the shard of size 1).

Measured: the plans (median of --repeats), `terraform init` of one shard from an empty data
directory (what each CI job pays once per shard it touches), and the apply of the probe's shard.
Only the probe's shard is applied: the other shards are other states, which its plan never
reads; setting up all of them costs about S times that apply (reported as an estimate).
`--one-state-sizes` limits the one-state baseline (its setup is one apply of every repository).

Usage: python bench/prototypes/state_split.py [--sizes 10,100,1000] [--repeats 3]
       [--shard-size 64] [--json bench/prototypes/state-split-results.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import fleet, tfprofile
from orchestrator.adapters import emulator
from orchestrator.context import Session
from orchestrator.files.workspace import Workspace
from orchestrator.models import RegistryRequest
from orchestrator.ops import create as create_op

ENV = fleet.ENV
BUCKET = "ecrctl-local-tfstate"
SCANNING = "aws_ecr_registry_scanning_configuration.this"


def shard_of(name: str, shards: int) -> int:
    """The stable key: a repository never moves shard while the shard count stays."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % shards


def _say(message: str) -> None:
    print(f"state-split: {message}", file=sys.stderr, flush=True)


def _entry(r: RegistryRequest) -> dict[str, Any]:
    return {
        "id": r.registry_id,
        "owner": r.owner,
        "risk": r.risk,
        "description": r.description,
        "push_principals": list(r.push_principals),
        "pull_principals": list(r.pull_principals),
    }


class Root:
    """A terraform root with its own backend key, tfvars file and data directory."""

    def __init__(self, directory: Path, key: str, var_file: Path, env: dict[str, str]) -> None:
        self.dir, self.key, self.vars, self.env = directory, key, var_file, env
        self.binary = fleet.real_terraform()

    @classmethod
    def project(cls, ws: Workspace) -> Root:
        """The project's own root and state, as ecrctl runs it."""
        tf = fleet.terraform(ws)
        return cls(
            ws.terraform_dir, f"ecr/{ENV}/terraform.tfstate", ws.tfvars_file(ENV), tf.environ
        )

    @classmethod
    def copy_of(cls, ws: Workspace, name: str, files: list[str], key: str) -> Root:
        """Some files of the project's root, under a backend key and a data directory of its own."""
        directory = ws.root / "split" / name
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        for file in [*files, ".terraform.lock.hcl"]:
            shutil.copy2(ws.terraform_dir / file, directory / file)
        shutil.copytree(ws.terraform_dir / "modules", directory / "modules")
        env = {**fleet.terraform(ws).environ, "TF_DATA_DIR": str(ws.root / "split-data" / name)}
        return cls(directory, key, directory / "terraform.tfvars.json", env)

    def write_vars(self, region: str, entries: dict[str, dict[str, Any]]) -> None:
        self.vars.write_text(
            json.dumps({"aws_region": region, "environment": ENV, "ecr_repositories": entries})
        )

    def init(self) -> float:
        shutil.rmtree(self.env["TF_DATA_DIR"], ignore_errors=True)
        cmd = [
            self.binary,
            "init",
            "-input=false",
            "-no-color",
            "-lockfile=readonly",
            f"-backend-config=bucket={BUCKET}",
            f"-backend-config=key={self.key}",
            "-backend-config=region=us-east-1",
            "-backend-config=use_lockfile=true",
            "-backend-config=use_path_style=true",
        ]
        return tfprofile.cpu_run(cmd, self.env, self.dir, f"init {self.key}")[0]

    def apply(self) -> float:
        cmd = [
            self.binary,
            "apply",
            "-input=false",
            "-no-color",
            "-auto-approve",
            "-parallelism=32",
            f"-var-file={self.vars}",
        ]
        return tfprofile.cpu_run(cmd, self.env, self.dir, f"apply {self.key}")[0]

    def plan(self, targets: list[str]) -> tuple[float, float]:
        cmd = [
            self.binary,
            "plan",
            "-input=false",
            "-no-color",
            "-json",
            f"-var-file={self.vars}",
            f"-out={self.dir / 'probe.tfplan'}",
            *[f"-target={t}" for t in targets],
        ]
        wall, cpu, _ = tfprofile.cpu_run(cmd, self.env, self.dir, f"plan {self.key}")
        return wall, cpu


SHARD_FILES = ["main.tf", "variables.tf", "versions.tf", "providers.tf", "backend.tf"]
REGISTRY_FILES = ["registry.tf", "variables.tf", "versions.tf", "providers.tf", "backend.tf"]


def _series(values: list[float]) -> dict[str, Any]:
    return {"median": round(statistics.median(values), 3), "runs": [round(v, 3) for v in values]}


def _brief(plans: dict[str, Any]) -> str:
    return f"{plans['wall_s']['median']}s wall, {plans['cpu_s']['median']} CPU s"


def _plans(root: Root, targets: list[str], repeats: int) -> dict[str, Any]:
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = root.plan(targets)
        walls.append(wall)
        cpus.append(cpu)
    return {"wall_s": _series(walls), "cpu_s": _series(cpus)}


def measure(
    n: int, endpoint: str, workdir: Path, repeats: int, shard_size: int, one_state: bool
) -> dict[str, Any]:
    fleet.reset_emulator(endpoint)
    ws = fleet.build_tree(workdir / f"n{n}")
    emulator.bootstrap(ws, endpoint)
    requests = fleet.fleet_requests(n, "low")
    probe = fleet.request(fleet.PROBE)
    region = "us-east-1"
    out: dict[str, Any] = {"n": n}

    # -- one state per environment (today) --------------------------------------------------
    fleet.bulk_create(ws, requests)
    if one_state:
        start = time.perf_counter()
        fleet.apply_all(ws, 32)
        create_op.create(Session(ws), probe)
        out["one_state_setup_s"] = round(time.perf_counter() - start, 1)
        out["one_state_targeted"] = _plans(
            Root.project(ws), [f'module.ecr_repositories["{fleet.PROBE}"]', SCANNING], repeats
        )
        _say(f"N={n}: one state, targeted plan {_brief(out['one_state_targeted'])}")
        # The same repositories again, sharded: an empty registry and state bucket first.
        fleet.reset_emulator(endpoint)
        emulator.bootstrap(ws, endpoint)

    # -- hash shards + the registry state -----------------------------------------------------
    shards = max(1, math.ceil(n / shard_size))
    members: dict[int, dict[str, dict[str, Any]]] = {s: {} for s in range(shards)}
    for r in requests:
        members[shard_of(r.name, shards)][r.name] = _entry(r)
    home = shard_of(probe.name, shards)
    key = f"ecr/{ENV}/shards/{home:02d}/terraform.tfstate"
    root = Root.copy_of(ws, f"shard-{home:02d}", SHARD_FILES, key)
    root.write_vars(region, members[home])
    inits = [root.init() for _ in range(repeats)]  # each from an empty data directory
    start = time.perf_counter()
    root.apply()
    apply_s = time.perf_counter() - start
    out["shards"] = shards
    out["shard_sizes"] = sorted(len(m) for m in members.values())
    out["shard_init_s"] = _series(inits)
    out["probe_shard_apply_s"] = round(apply_s, 1)
    out["shards_setup_estimate_s"] = round(shards * (apply_s + statistics.median(inits)), 1)
    root.write_vars(region, {**members[home], probe.name: _entry(probe)})
    out["probe_shard_size"] = len(members[home])
    out["shard_targeted"] = _plans(root, [f'module.ecr_repositories["{probe.name}"]'], repeats)
    _say(
        f"N={n}: {shards} shard(s), sizes {out['shard_sizes'][0]}-{out['shard_sizes'][-1]},"
        f" targeted plan in the probe's shard {_brief(out['shard_targeted'])},"
        f" init {out['shard_init_s']['median']}s"
    )

    registry = Root.copy_of(ws, "registry", REGISTRY_FILES, f"ecr/{ENV}/registry/terraform.tfstate")
    every = {name: e for m in members.values() for name, e in m.items()}
    registry.write_vars(region, {**every, probe.name: _entry(probe)})
    out["registry_init_s"] = round(registry.init(), 3)
    out["registry_plan"] = _plans(registry, [], repeats)
    _say(f"N={n}: registry state plan {_brief(out['registry_plan'])}")

    # -- one state per repository: the probe alone -------------------------------------------
    key = f"ecr/{ENV}/repositories/{probe.name}.tfstate"
    alone = Root.copy_of(ws, "probe-alone", SHARD_FILES, key)
    alone.write_vars(region, {probe.name: _entry(probe)})
    out["per_repository_init_s"] = round(alone.init(), 3)
    out["per_repository_plan"] = _plans(alone, [], repeats)
    _say(f"N={n}: per-repository state plan {_brief(out['per_repository_plan'])}")
    return out


def _write(
    args: argparse.Namespace, sizes: list[int], results: list[dict[str, Any]], started: float
) -> None:
    args.json.write_text(
        json.dumps(
            {
                "config": {
                    "sizes": sizes,
                    "repeats": args.repeats,
                    "shard_size": args.shard_size,
                    "fleet": "low",
                    "load_average_after": [round(x, 2) for x in os.getloadavg()],
                    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "total_wall_s": round(time.perf_counter() - started, 1),
                },
                "sizes": results,
            },
            indent=2,
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shard-size", type=int, default=64)
    parser.add_argument(
        "--one-state-sizes",
        help="sizes that also measure the one-state baseline (default: every size)",
    )
    parser.add_argument(
        "--json", type=Path, default=Path(__file__).with_name("state-split-results.json")
    )
    args = parser.parse_args(argv)
    mirror = os.environ.get("ECRCTL_PROVIDER_MIRROR")
    if not mirror:
        _say("set ECRCTL_PROVIDER_MIRROR to the AWS provider mirror")
        return 1
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="ecrctl-state-split-"))
    try:
        with fleet.moto_server(workdir / "moto.log") as endpoint:
            os.environ[emulator.ENDPOINT_VARIABLE] = endpoint
            baseline = (
                set(sizes)
                if args.one_state_sizes is None
                else {int(x) for x in args.one_state_sizes.split(",") if x.strip()}
            )
            results = []
            for n in sizes:  # written after each size: a long run keeps what it measured
                results.append(
                    measure(n, endpoint, workdir, args.repeats, args.shard_size, n in baseline)
                )
                _write(args, sizes, results, started)
    except (RuntimeError, tfprofile.TerraformFailed) as exc:
        _say(f"error: {exc}")
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _say(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
