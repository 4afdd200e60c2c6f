"""`make bench`, adoption: what adopting N existing repositories costs (adopt, plan, apply).

For each N, a fresh repository tree and a reset emulator (moto's server on 127.0.0.1) holding N
repositories made through boto3 as a team would have made them: IMMUTABLE tags and a 5-image
lifecycle policy on every other one, one image each. Then, once each (every step changes the
registry, so there is nothing to repeat):

  adopt   `ecrctl adopt --env local --from FILE` (the N repositories, low tier), a process;
  plan    `ecrctl plan NAME... --env local --out F`: ONE plan of N imports and updates;
  apply   `ecrctl apply --env local --plan F`: ONE apply, the catalog sync included;
  replan  the same plan again, which must be empty (checked, and timed).

On the sharded layout (`--layouts`, default both) the empty environment is first migrated to
S = ceil(N / 64) shards (`ecrctl shards migrate`, nothing to move yet), so the imports land in
their shards: the plan is a plan set of S shards side by side, the apply applies each.

Writes bench/adopt-results.json and the "Adoption" section of docs/BENCHMARKS.md (between
markers, after bench/run.py has written the rest of it).

Usage: python bench/adopt.py [--sizes 100,500] [--layouts one,sharded]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import fleet  # noqa: E402
from bench.run import (  # noqa: E402
    LAYOUTS,
    Bench,
    BenchError,
    _ecrctl_command,
    _load,
    _mirror,
    _say,
    shard_count,
)
from orchestrator.adapters import emulator  # noqa: E402

BEGIN, END = "<!-- adopt-bench -->", "<!-- /adopt-bench -->"
MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {
        "mediaType": "application/vnd.docker.container.image.v1+json",
        "size": 7023,
        "digest": "sha256:" + "a" * 64,
    },
    "layers": [],
}


def _name(index: int) -> str:
    # ECR names outside ADR-0092's rule, as a brownfield registry has them.
    return f"legacy/svc_{index:04d}"


def hand_made(endpoint: str, n: int) -> None:
    import boto3

    ecr = boto3.client(
        "ecr",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    rule = {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 5}
    lifecycle = json.dumps(
        {"rules": [{"rulePriority": 1, "selection": rule, "action": {"type": "expire"}}]}
    )
    for index in range(n):
        name = _name(index)
        odd = index % 2 == 1
        ecr.create_repository(
            repositoryName=name, imageTagMutability="IMMUTABLE" if odd else "MUTABLE"
        )
        if odd:
            ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=lifecycle)
        ecr.put_image(repositoryName=name, imageManifest=json.dumps(MANIFEST), imageTag="v1")


def measure(bench: Bench, n: int, shards: int = 1) -> dict[str, Any]:
    fleet.reset_emulator(bench.endpoint)
    ws = fleet.build_tree(bench.workdir / f"adopt-{n}-{shards}")
    emulator.bootstrap(ws, bench.endpoint)
    if shards > 1:
        bench.ecrctl_run(
            ws,
            ["shards", "migrate", "--env", "local", "--to", str(shards), "--yes"],
            "ecrctl shards migrate (empty)",
        )
    started = time.perf_counter()
    hand_made(bench.endpoint, n)
    setup = time.perf_counter() - started
    names = [_name(i) for i in range(n)]
    adopt_file = ws.root / "adopt.yaml"
    adopt_file.write_text(
        "".join(f'- {{name: "{name}", owner: app-team-legacy, risk: low}}\n' for name in names)
    )
    plan_file = ws.root / "adopt.tfplan"
    figures: dict[str, Any] = {
        "shards": shards,
        "setup_seconds": round(setup, 2),
        "load_before": _load(),
    }
    _say(f"N={n}, {shards} state shard(s): adopt")
    figures["adopt"], _ = bench.ecrctl_run(
        ws, ["adopt", "--env", "local", "--from", str(adopt_file)], "ecrctl adopt"
    )
    _say(f"N={n}: plan")
    figures["plan"], done = bench.ecrctl_run(
        ws,
        ["plan", *names, "--env", "local", "--out", str(plan_file), "--output", "json"],
        "ecrctl plan",
    )
    changes = json.loads(done.stdout)["changes"]
    figures["imports"] = sum(1 for c in changes if c.get("importing"))
    figures["changes"] = len(changes)
    _say(f"N={n}: apply")
    figures["apply"], _ = bench.ecrctl_run(
        ws, ["apply", "--env", "local", "--plan", str(plan_file)], "ecrctl apply"
    )
    _say(f"N={n}: plan again")
    figures["replan"], done = bench.ecrctl_run(
        ws, ["plan", *names, "--env", "local", "--output", "json"], "ecrctl plan (again)"
    )
    if json.loads(done.stdout)["changes"]:
        raise BenchError(f"N={n}: the plan after the adoption is not empty")
    figures["load_after"] = _load()
    for key in ("adopt", "plan", "apply", "replan"):
        figures[key] = round(figures[key], 2)
    return figures


def markdown(results: dict[str, Any]) -> str:
    lines = [
        BEGIN,
        "## Adoption (`bench/adopt.py`)",
        "",
        "N existing repositories (made through boto3: half IMMUTABLE with a 5-image lifecycle",
        "policy, one image each) adopted into the low tier: one `ecrctl adopt --from FILE`, one",
        "`ecrctl plan` of N targets (N repository imports plus the updates and lifecycle",
        "policies), one `ecrctl apply` of the saved plan (catalog sync included), and the same",
        "plan again, which is empty. One run each (each step changes the registry). Seconds.",
        "On shards (S = ceil(N / 64)) the plan and the apply are one terraform run per shard,",
        "two side by side.",
        "",
        "| N | states | adopt | plan | apply | plan again | imports | changes |"
        " load before → after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [(n, f) for n, f in results["sizes"].items()]
    rows += [(n, f) for n, f in results.get("sharded", {}).items()]
    for n, f in sorted(rows, key=lambda item: (int(item[0]), item[1].get("shards", 1))):
        shards = f.get("shards", 1)
        states = "one" if shards == 1 else f"{shards} shards + registry"
        lines.append(
            f"| {n} | {states} | {f['adopt']} | {f['plan']} | {f['apply']} | {f['replan']} |"
            f" {f['imports']} | {f['changes']} | {f['load_before'][0]} → {f['load_after'][0]} |"
        )
    lines += [
        "",
        f"Measured {results['when']} on {results['cpus']} CPUs; load averages are 1-minute"
        " values from /proc/loadavg (the machine is shared). `adopt` is the process start,"
        " one DescribeRepositories listing, three reads per repository (lifecycle policy,"
        " repository policy, tags; 8 at a time) and one write of both files; the write alone"
        " takes under a second at N=500. `plan` and `apply` are one terraform run each.",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_report(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section.rstrip("\n") + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,500", help="N values (default 100,500)")
    parser.add_argument(
        "--layouts",
        default=",".join(LAYOUTS),
        help="one, sharded (S = ceil(N / 64)) or both, comma-separated (default both)",
    )
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "adopt-results.json")
    parser.add_argument("--markdown", type=Path, default=REPO / "docs" / "BENCHMARKS.md")
    parser.add_argument("--provider-mirror", help="default: $ECRCTL_PROVIDER_MIRROR")
    parser.add_argument(
        "--from-json", type=Path, help="measure nothing: rewrite the section from this file"
    )
    args = parser.parse_args(argv)
    if args.from_json is not None:
        write_report(args.markdown, markdown(json.loads(args.from_json.read_text())))
        return 0
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    layouts = {name.strip() for name in args.layouts.split(",") if name.strip()}
    if not layouts or layouts - set(LAYOUTS):
        parser.error(f"--layouts takes {', '.join(LAYOUTS)}; not {args.layouts!r}")
    try:
        mirror = _mirror(args.provider_mirror)
        with tempfile.TemporaryDirectory(prefix="ecrctl-adopt-bench-") as tmp:
            workdir = Path(tmp)
            with fleet.moto_server(workdir / "moto.log") as endpoint:
                os.environ[emulator.ENDPOINT_VARIABLE] = endpoint
                os.environ["ECRCTL_PROVIDER_MIRROR"] = str(mirror)
                bench = Bench(
                    endpoint=endpoint,
                    mirror=mirror,
                    workdir=workdir,
                    repeats=1,
                    parallelism=32,
                    profile=False,
                    real_terraform=fleet.real_terraform(),
                    ecrctl=_ecrctl_command(),
                )
                results: dict[str, Any] = {
                    "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "cpus": os.cpu_count(),
                    "sizes": {},
                    "sharded": {},
                }
                for n in sizes:
                    if "one" in layouts:
                        results["sizes"][str(n)] = measure(bench, n)
                    if "sharded" in layouts:
                        results["sharded"][str(n)] = measure(bench, n, shard_count(n))
    except BenchError as exc:
        _say(f"error: {exc}")
        return 1
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    write_report(args.markdown, markdown(results))
    _say(f"wrote {args.json} and the adoption section of {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
