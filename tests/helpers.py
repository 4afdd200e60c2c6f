"""Test helpers shared by every kind: lay out an ecrctl repository tree, run the CLI in-process,
create entries, build plan changes, push images, poll, take a free port."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

import pytest

from orchestrator.cli import run
from orchestrator.context import Session
from orchestrator.files import workspace
from orchestrator.files.catalog import NEW_CATALOG
from orchestrator.files.workspace import Workspace
from orchestrator.models import ResourceChange, instance_of
from orchestrator.ops import create as create_op
from orchestrator.rules import guard, policy

REPO = Path(__file__).resolve().parents[1]


def build_repo_tree(root: Path) -> Path:
    """A fresh copy of the repository's terraform/ and envs/, with an empty catalog."""
    shutil.copytree(
        REPO / "terraform",
        root / "terraform",
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfplan"),
    )
    shutil.copytree(REPO / "envs", root / "envs")
    (root / "catalog").mkdir()
    (root / "catalog" / "ecr-catalog.yaml").write_text(NEW_CATALOG)
    return root


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    capsys.readouterr()
    code = run(list(args))
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def snapshot(root: Path, *, tree: bool = False) -> dict[str, bytes]:
    """Every managed file's bytes (the catalog and envs/), to prove that a refused command wrote
    nothing; with `tree`, every file under `root` but ecrctl's own .ecrctl/."""
    if tree:
        files = [p for p in sorted(root.rglob("*")) if ".ecrctl" not in p.parts]
    else:
        files = [root / "catalog" / "ecr-catalog.yaml", *sorted((root / "envs").glob("*/*"))]
    return {str(p.relative_to(root)): p.read_bytes() for p in files if p.is_file()}


def disk_full_for(monkeypatch: pytest.MonkeyPatch, file_name: str) -> None:
    """Every write of a file named `file_name` fails as on a full disk (ENOSPC); other files are
    written. Both files of a change are written through workspace.atomic_write."""
    real = workspace.atomic_write

    def failing(path: Path, text: str) -> None:
        if path.name == file_name:
            raise OSError(28, "No space left on device")
        real(path, text)

    monkeypatch.setattr(workspace, "atomic_write", failing)


# -- creating entries -------------------------------------------------------------------------


def team_of(name: str) -> str:
    """The owner a test gives a repository by default: app-team-<first word of its name>."""
    return f"app-team-{name.split('-')[0]}"


def create_args(
    name: str, *extra: str, env: str = "local", owner: str | None = None, risk: str = "low"
) -> list[str]:
    """The arguments of `ecrctl create NAME` as a user types them."""
    return ["create", name, "--env", env, "--owner", owner or team_of(name), "--risk", risk, *extra]


def create(
    capsys: pytest.CaptureFixture[str],
    name: str,
    *extra: str,
    env: str = "local",
    owner: str | None = None,
    risk: str = "low",
) -> CliResult:
    """`ecrctl create NAME` in-process; it must succeed."""
    result = cli(capsys, *create_args(name, *extra, env=env, owner=owner, risk=risk))
    assert result.code == 0, result.stderr
    return result


def create_entry(
    ws: Workspace,
    name: str,
    env: str = "local",
    owner: str | None = None,
    risk: str = "low",
    **fields: Any,
) -> None:
    """The core of `ecrctl create` (ops.create.create), with a request built as the CLI builds it."""
    request = policy.build_request(
        name=name, env=env, owner=owner or team_of(name), risk=risk, **fields
    )
    create_op.create(Session(ws), request)


# -- plan changes and the guard ---------------------------------------------------------------


def rc(
    address: str, action: str, reason: str | None = None, importing: bool = False
) -> ResourceChange:
    """One planned change, as terraform's plan reports it."""
    return ResourceChange(address, action, instance_of(address), reason, importing)


def verdicts(changes: list[ResourceChange], requested: set[str], configured: set[str]) -> list[str]:
    """The guard's verdicts as a person reads them: ADDRESS (action): reason."""
    return [str(v) for v in guard.violations(changes, requested, configured)]


# -- images -----------------------------------------------------------------------------------


def manifest(seed: str) -> str:
    """A small, valid Docker image manifest (schema 2) whose blobs are made up from `seed`."""

    def blob(kind: str) -> str:
        return "sha256:" + hashlib.sha256(f"{seed}-{kind}".encode()).hexdigest()

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1457,
                "digest": blob("config"),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 3370628,
                    "digest": blob("layer"),
                }
            ],
        },
        indent=3,
    )


def push(ecr: Any, name: str, seed: str, *tags: str) -> str:
    """put_image as a registry client would (one image, under each of `tags`): the digest is the
    SHA-256 of the manifest bytes."""
    body = manifest(seed)
    digest = "sha256:" + hashlib.sha256(body.encode()).hexdigest()
    for tag in tags:
        ecr.put_image(repositoryName=name, imageManifest=body, imageTag=tag, imageDigest=digest)
    return digest


# -- processes and ports ----------------------------------------------------------------------

T = TypeVar("T")


@overload
def wait_for(
    probe: Callable[[], T | None], timeout: float, interval: float = ..., *, what: str
) -> T: ...
@overload
def wait_for(
    probe: Callable[[], T | None], timeout: float, interval: float = ..., *, what: None = None
) -> T | None: ...
def wait_for(
    probe: Callable[[], T | None],
    timeout: float,
    interval: float = 0.02,
    *,
    what: str | None = None,
) -> T | None:
    """Poll `probe` until it returns something truthy, and return that. Once `timeout` seconds
    pass: None, or, given `what`, fail the test naming what it waited for."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            if what is not None:
                pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
            return None
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the moment of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# A tfvars written by hand: comments, other variables, two entries (the readers keep every byte).
TFVARS = """\
# header comment, kept as is
aws_region  = "us-east-1" # trailing comment
environment = "dev"
extra_list  = ["a", "b"] /* block */

ecr_repositories = {
  # a hand comment inside the map
  "alpha-svc" = {
    id              = "REGISTRY_ALPHA_SVC"
    owner           = "app-team-alpha"
    risk            = "low"
    push_principals = []
    pull_principals = []
  }
  "zulu-svc" = {
    id              = "REGISTRY_ZULU_SVC"
    owner           = "app-team-zulu"
    risk            = "medium"
    push_principals = []
    pull_principals = []
  }
}
"""
