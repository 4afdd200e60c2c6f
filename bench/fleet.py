"""A registry of N repositories on the local emulator, set up quickly for measuring.

The emulator is moto's server on 127.0.0.1 (as in tests/conftest.py). Each size gets a fresh
repository tree; its N entries are written through the library in one write (the same text N
`ecrctl create` calls would produce) and applied by ONE untargeted `terraform apply`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.adapters import emulator
from orchestrator.adapters.emulator import CREDENTIALS
from orchestrator.adapters.terraform import Terraform
from orchestrator.context import Session
from orchestrator.files import catalog, edits, scan_filters, tfvars
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace, atomic_write
from orchestrator.models import CatalogEntry, RegistryRequest
from orchestrator.rules import policy

REPO = Path(__file__).resolve().parents[1]
ENV = emulator.LOCAL_ENV
OWNER = "app-team-bench"
# The all-low fleet: no KMS key per repository and no continuous-scan filter.
RISK = "low"
PROBE = "bench-probe"  # requested, never applied: what a create request's review plans

# The realistic fleet (issue 12): 50/30/20 low/medium/high. High asks for KMS encryption, so
# each high-tier repository brings its own KMS key and alias; medium and high ask for
# continuous scanning (one registry filter each). Tiers cycle in blocks of ten, so every
# N that is a multiple of 10 has the exact mix.
MIX = {"low": 5, "medium": 3, "high": 2}  # out of 10
FLEETS = ("mixed", "low")
# Principals as teams ask for them: CI pushes to medium and high, a runtime role pulls high.
PUSH_PRINCIPAL = "arn:aws:iam::123456789012:role/ci-publisher"
PULL_PRINCIPAL = "arn:aws:iam::123456789012:role/runtime-pull"


def bulk_name(index: int) -> str:
    return f"bench-{index:04d}"


def tier_of(index: int) -> str:
    """The tier of the index-th repository of the mixed fleet (5 low, 3 medium, 2 high in 10)."""
    slot = index % 10
    for risk in ("low", "medium", "high"):
        if slot < MIX[risk]:
            return risk
        slot -= MIX[risk]
    raise AssertionError("MIX does not add up to 10")


def mixed_name(index: int) -> str:
    """ADR-0092 product-based names: each product's components share its tier.

    Block b of ten holds three products, one per tier (5, 3 and 2 components), numbered
    3b, 3b+1, 3b+2: `prod0000-svc0` ... `prod0000-svc4` low, `prod0001-svc0..2` medium,
    `prod0002-svc0..1` high. A wildcard per product fits one product's tier exactly, but there
    are more products asking for continuous scanning than one rule has filters once N > 500.
    """
    block, slot = divmod(index, 10)
    offset = 0
    for number, risk in enumerate(("low", "medium", "high")):
        if slot < offset + MIX[risk]:
            return f"prod{3 * block + number:04d}-svc{slot - offset}"
        offset += MIX[risk]
    raise AssertionError("MIX does not add up to 10")


def request(name: str, risk: str = RISK) -> RegistryRequest:
    return policy.build_request(
        name=name,
        env=ENV,
        owner=OWNER,
        risk=risk,
        push_principals=[PUSH_PRINCIPAL] if risk in ("medium", "high") else [],
        pull_principals=[PULL_PRINCIPAL] if risk == "high" else [],
    )


def fleet_requests(n: int, kind: str) -> list[RegistryRequest]:
    """The N repositories of a fleet: `mixed` (50/30/20, product names) or `low` (all low)."""
    if kind == "low":
        return [request(bulk_name(i)) for i in range(n)]
    if kind == "mixed":
        return [request(mixed_name(i), tier_of(i)) for i in range(n)]
    raise ValueError(f"unknown fleet {kind!r}: one of {', '.join(FLEETS)}")


def probe_risk(kind: str) -> str:
    """The tier of the repository under review: the heaviest one (KMS key, filter) when mixed."""
    return "high" if kind == "mixed" else RISK


# -- the emulator ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """moto's server on a free loopback port for as long as the context lasts."""
    port = _free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"moto server did not start on {endpoint}; see {log}"
                    ) from None
                time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def reset_emulator(endpoint: str) -> None:
    request_ = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request_, timeout=30).close()


# -- the repository tree -----------------------------------------------------------------------


def build_tree(root: Path) -> Workspace:
    """A fresh copy of the project's terraform/ and envs/, with an empty catalog."""
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(
        REPO / "terraform",
        root / "terraform",
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfplan"),
    )
    shutil.copytree(REPO / "envs", root / "envs")
    (root / "catalog").mkdir()
    (root / "catalog" / "ecr-catalog.yaml").write_text(catalog.NEW_CATALOG)
    return Workspace(root)


def bulk_texts(ws: Workspace, requests: list[RegistryRequest]) -> tuple[str, str]:
    """The catalog and tfvars texts with `requests` added: what one create each would write.

    The same many-at-once writers as `ecrctl adopt` (lifecycle/adopt.py), byte for byte where
    successive creates would put each entry.
    """
    tiers = tiers_file.load(ws.tiers_file)
    cat = catalog.load(ws.catalog_file, tiers)
    tf = tfvars.load(ws.tfvars_file(ENV), ENV)
    if cat.entries or tf.entries:
        raise RuntimeError("bulk creation expects an empty catalog and tfvars")
    cat_text = edits.catalog_with(cat, [CatalogEntry(r) for r in requests], tiers)
    tf_text = edits.tfvars_with(tf, requests)
    # The registry scanning filters, as every create rewrites them (rules/scanning.py).
    return cat_text, scan_filters.with_filters(tf_text, tf.path, ENV, tiers)


def bulk_create(ws: Workspace, requests: list[RegistryRequest]) -> None:
    """Add every request to the catalog and the tfvars in one write, checked by reading back."""
    tiers = tiers_file.load(ws.tiers_file)
    tfvars_path = ws.tfvars_file(ENV)
    with ws.lock():
        cat_text, tf_text = bulk_texts(ws, requests)
        reread = tfvars.parse(tf_text, tfvars_path, ENV).entries
        recat = catalog.load_text(cat_text, ws.catalog_file, tiers).entries
        want = {r.name: r for r in requests}
        if reread != want or {n: e.request for n, e in recat.items()} != want:
            raise RuntimeError("bulk-created files do not read back as the requests")
        atomic_write(ws.catalog_file, cat_text)
        atomic_write(tfvars_path, tf_text)


def terraform(ws: Workspace) -> Terraform:
    """ecrctl's own Terraform for the local environment: same data dir, CLI config and env."""
    return Session(ws).at(ENV).terraform()


def apply_all(ws: Workspace, parallelism: int, attempts: int = 3) -> int:
    """ONE untargeted apply of everything in the tfvars; returns how many attempts it took.

    On a busy machine the provider may time out on a CreateRepository that the emulator did
    carry out, retry it and fail with RepositoryAlreadyExists. Such repositories are not in the
    state yet: they are deleted (they are empty) and the apply runs again for what is left.
    """
    tf = terraform(ws)
    tf.init()
    cmd = [
        tf.settings.binary,
        "apply",
        "-input=false",
        "-no-color",
        "-auto-approve",
        f"-parallelism={parallelism}",
        f"-var-file={ws.tfvars_file(ENV)}",
    ]
    for attempt in range(1, attempts + 1):
        done = subprocess.run(
            cmd, cwd=ws.terraform_dir, env=tf.environ, capture_output=True, text=True, check=False
        )
        if done.returncode == 0:
            return attempt
        output = done.stderr + done.stdout
        if "RepositoryAlreadyExistsException" not in output or attempt == attempts:
            # The cause is in terraform's stderr; stdout ends with the (long) plan.
            raise RuntimeError(
                f"setup apply failed (exit {done.returncode}): {done.stderr[-3000:]}"
                f"\n...{done.stdout[-1000:]}"
            )
        _delete_orphans(ws, tf.environ["AWS_ENDPOINT_URL"])
    raise AssertionError("unreachable")


def _delete_orphans(ws: Workspace, endpoint: str) -> None:
    """Delete repositories the emulator holds but the state does not know."""
    import boto3

    state = terraform(ws).state_pull()
    known = {
        instance.get("attributes", {}).get("name")
        for resource in state.get("resources", [])
        if resource.get("type") == "aws_ecr_repository"
        for instance in resource.get("instances", [])
    }
    ecr = boto3.client(
        "ecr",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    for page in ecr.get_paginator("describe_repositories").paginate():
        for repo in page["repositories"]:
            if repo["repositoryName"] not in known:
                ecr.delete_repository(repositoryName=repo["repositoryName"], force=True)


def state_resource_count(ws: Workspace) -> int:
    """The managed resource instances in the state (the account data sources are not counted)."""
    state = terraform(ws).state_pull()
    return sum(
        len(r.get("instances", []))
        for r in state.get("resources", [])
        if r.get("mode") == "managed"
    )


# -- the terraform shim ------------------------------------------------------------------------

SHIM = """\
#!{python}
# Records each terraform run ecrctl makes, then becomes the real terraform.
import json, os, sys, time
record = {{"argv": sys.argv[1:], "time": time.time()}}
log_dir = os.environ.get("BENCH_SHIM_TF_LOG_DIR")
if log_dir:
    # terraform's debug log says when it starts a provider plugin: an independent count.
    path = os.path.join(log_dir, "%d-%d.log" % (time.time_ns(), os.getpid()))
    os.environ["TF_LOG"] = "debug"
    os.environ["TF_LOG_PATH"] = path
    record["tf_log"] = path
with open(os.environ["BENCH_SHIM_LOG"], "a") as out:
    out.write(json.dumps(record) + "\\n")
os.execv({real!r}, [{real!r}, *sys.argv[1:]])
"""


@dataclass(frozen=True)
class Shim:
    path: Path
    log: Path
    tf_log_dir: Path

    def environ(self) -> dict[str, str]:
        return {
            "ECRCTL_TERRAFORM": str(self.path),
            "BENCH_SHIM_LOG": str(self.log),
            "BENCH_SHIM_TF_LOG_DIR": str(self.tf_log_dir),
        }

    def runs(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def clear(self) -> None:
        self.log.unlink(missing_ok=True)
        shutil.rmtree(self.tf_log_dir, ignore_errors=True)
        self.tf_log_dir.mkdir(parents=True)


def make_shim(directory: Path, real_terraform: str) -> Shim:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "terraform"
    path.write_text(SHIM.format(python=sys.executable, real=real_terraform))
    path.chmod(0o755)
    shim = Shim(path, directory / "runs.jsonl", directory / "tf-logs")
    shim.clear()
    return shim


def real_terraform() -> str:
    configured = os.environ.get("ECRCTL_TERRAFORM", "terraform")
    found = shutil.which(configured)
    if found is None:
        raise RuntimeError(f"terraform binary {configured!r} not found")
    return found
