"""Fixtures: a repository tree per test, one real emulator per session, loopback only."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.adapters import emulator as emulator_mod
from orchestrator.adapters import terraform as terraform_mod
from orchestrator.adapters.emulator import CREDENTIALS
from orchestrator.files import entry_cache
from orchestrator.files.workspace import Workspace
from tests.backstage_backend import Backstage
from tests.backstage_backend import running as backstage_running
from tests.helpers import build_repo_tree, free_port

# terraform subcommands that reach the backend or AWS (fmt, validate, console, version do not).
NETWORK_SUBCOMMANDS = {
    "init",
    "plan",
    "apply",
    "destroy",
    "refresh",
    "import",
    "state",
    "output",
    "show",
    "force-unlock",
    "taint",
    "untaint",
}


TESTS = Path(__file__).resolve().parent
# A test's kind is its directory, and each kind is held to what it may run (see the README):
# unit runs no process at all, integration runs local tools (terraform without AWS, node, git,
# actionlint, ecrctl itself) but no emulator, e2e runs the real terraform against the emulator,
# workflows runs the workflow files with act (and so terraform) against the emulator.
KINDS = ("unit", "integration", "e2e", "workflows")
EMULATOR_KINDS = ("e2e", "workflows")
EMULATOR_FIXTURES = {"emulator_endpoint"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.path)).resolve().relative_to(TESTS).parts
        kind = parts[0] if len(parts) > 1 and parts[0] in KINDS else None
        if kind is None:
            raise pytest.UsageError(f"{item.nodeid}: tests live in tests/{{{','.join(KINDS)}}}/")
        uses_emulator = EMULATOR_FIXTURES & set(getattr(item, "fixturenames", ()))
        if uses_emulator and kind not in EMULATOR_KINDS:
            raise pytest.UsageError(
                f"{item.nodeid} uses the emulator ({', '.join(sorted(uses_emulator))}):"
                " move it to tests/e2e/ (or tests/workflows/ for a workflow run)"
            )
        item.add_marker(getattr(pytest.mark, kind))


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ecrctl's entry cache in a directory of the test's own, never the user's ~/.cache."""
    monkeypatch.setenv(entry_cache.CACHE_DIR_VARIABLE, str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that would reach past 127.0.0.0/8, in-process or through terraform."""
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise AssertionError(f"test tried to reach non-loopback address {address!r}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    real_popen = terraform_mod.subprocess.Popen

    def popen(cmd: Any, *args: Any, **kwargs: Any) -> Any:
        talks_to_aws = (
            isinstance(cmd, list)
            and len(cmd) > 1
            and os.path.basename(str(cmd[0])).startswith("terraform")
            and cmd[1] in NETWORK_SUBCOMMANDS
        )
        if talks_to_aws:
            env = kwargs.get("env") or os.environ
            endpoint = env.get("AWS_ENDPOINT_URL", "")
            host = endpoint.split("://", 1)[-1].split(":", 1)[0].split("/", 1)[0]
            if not endpoint or not _is_loopback(host):
                raise AssertionError(f"terraform would run against {endpoint or 'real AWS'}: {cmd}")
        return real_popen(cmd, *args, **kwargs)

    monkeypatch.setattr(terraform_mod.subprocess, "Popen", popen)
    for key in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A repository tree of its own, which ecrctl finds through ECRCTL_ROOT."""
    root = build_repo_tree(tmp_path / "repo")
    monkeypatch.setenv("ECRCTL_ROOT", str(root))
    monkeypatch.delenv(emulator_mod.ENDPOINT_VARIABLE, raising=False)
    return Workspace(root)


@pytest.fixture(scope="session")
def emulator_endpoint() -> Iterator[str]:
    """One moto server for the whole session, on 127.0.0.1."""
    if not os.environ.get("ECRCTL_PROVIDER_MIRROR") and not os.environ.get("TF_CLI_CONFIG_FILE"):
        pytest.fail("set ECRCTL_PROVIDER_MIRROR to the AWS provider mirror (make test does)")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("moto server did not start")
            time.sleep(0.1)
    yield endpoint
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def local(repo: Workspace, emulator_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """`repo`, wired to a freshly reset emulator with its state bucket in place."""
    request = urllib.request.Request(f"{emulator_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    monkeypatch.setenv(emulator_mod.ENDPOINT_VARIABLE, emulator_endpoint)
    emulator_mod.bootstrap(repo, emulator_endpoint)
    return repo


class Aws:
    """boto3 clients on the emulator, to assert on what it holds."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )


@pytest.fixture
def aws(local: Workspace, emulator_endpoint: str) -> Aws:
    return Aws(emulator_endpoint)


@pytest.fixture(scope="session")
def backstage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backstage]:
    """One real Backstage catalog backend for the whole session, on 127.0.0.1."""
    with backstage_running(tmp_path_factory.mktemp("backstage")) as backend:
        yield backend
