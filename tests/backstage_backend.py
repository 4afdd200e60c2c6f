"""Backstage's real catalog backend for the tests (tests/backstage-backend/start.js, run by node).

Installed from its lock file by the test set-up (`make tests/backstage-backend/node_modules/
.installed`, which `make test` and .ci/run do); if it is missing, the first test that needs it
installs it the same way. It listens on 127.0.0.1 on a free port, keeps its catalog in an
in-memory SQLite, and answers only requests that carry the static token it is given.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.helpers import free_port, wait_for

BACKEND_DIR = Path(__file__).resolve().parent / "backstage-backend"
INSTALLED = BACKEND_DIR / "node_modules" / ".installed"
# Every kind ecrctl writes or reads, allowed from any location (Backstage's default is only
# Component, API and Location): what a Backstage admin sets in app-config.yaml too.
ALLOWED_KINDS = ["Component", "System", "Domain", "Resource", "Location", "Group", "Template"]
T = TypeVar("T")


def ensure_installed() -> None:
    if shutil.which("node") is None:
        pytest.fail("node is not installed: the Backstage backend runs on Node.js 20")
    if INSTALLED.is_file():
        return
    # The same command as the Makefile's; better-sqlite3 builds from source against the
    # installed node headers (no prebuilt binary can be downloaded here).
    done = subprocess.run(
        [
            "make",
            "-C",
            str(BACKEND_DIR.parents[1]),
            "tests/backstage-backend/node_modules/.installed",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0 or not INSTALLED.is_file():
        pytest.fail(f"installing tests/backstage-backend failed: {done.stderr[-3000:]}")


class Backstage:
    """The catalog REST API of a running backend."""

    def __init__(self, base_url: str, token: str, log: Path) -> None:
        self.base_url = base_url
        self.token = token
        self.log = log
        self.started_in = 0.0  # seconds from `node start.js` to listening

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.base_url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and method == "GET":
                return None
            raise AssertionError(
                f"Backstage {method} {path}: HTTP {exc.code}: {exc.read()[:2000]!r}"
            ) from None
        return json.loads(payload) if payload else None

    def entities(self, kind: str | None = None) -> list[dict[str, Any]]:
        query = f"?filter=kind={urllib.parse.quote(kind)}" if kind else ""
        found: list[dict[str, Any]] = self.request("GET", f"/api/catalog/entities{query}")
        return found

    def entity(self, ref: str) -> dict[str, Any] | None:
        kind, rest = ref.split(":", 1)
        namespace, name = rest.split("/", 1) if "/" in rest else ("default", rest)
        path = "/".join(urllib.parse.quote(p, safe="") for p in (kind, namespace, name))
        found: dict[str, Any] | None = self.request("GET", f"/api/catalog/entities/by-name/{path}")
        return found

    def processing_errors(self) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = self.request("GET", "/ecrctl-test/processing-errors")
        return errors

    def refresh(self, ref: str) -> None:
        self.request("POST", "/api/catalog/refresh", {"entityRef": ref})

    @contextmanager
    def location(self, target: Path) -> Iterator[dict[str, Any]]:
        """Register `target` as a file Location (as a user does in the catalog import page)."""
        self.request("DELETE", "/ecrctl-test/processing-errors")
        added: dict[str, Any] = self.request(
            "POST", "/api/catalog/locations", {"type": "file", "target": str(target)}
        )
        try:
            yield added
        finally:
            self.request("DELETE", f"/api/catalog/locations/{added['location']['id']}")

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


@contextmanager
def running(workdir: Path) -> Iterator[Backstage]:
    """Start the backend, wait until it listens, stop it (SIGTERM, then wait) afterwards."""
    ensure_installed()
    port = free_port()
    token = secrets.token_hex(24)
    base_url = f"http://127.0.0.1:{port}"
    config = {
        "backend": {
            "baseUrl": base_url,
            "listen": {"host": "127.0.0.1", "port": port},
            "database": {"client": "better-sqlite3", "connection": ":memory:"},
            "auth": {
                "externalAccess": [
                    {"type": "static", "options": {"token": token, "subject": "ecrctl-tests"}}
                ]
            },
        },
        "catalog": {
            # Fast refresh for tests; a production instance keeps the default (100-150 s).
            "processingInterval": {"seconds": 1},
            "orphanStrategy": "delete",
            "rules": [{"allow": ALLOWED_KINDS}],
        },
    }
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "app-config.json"  # JSON is YAML: the config loader reads it
    config_file.write_text(json.dumps(config, indent=2))
    log = workdir / "backstage.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_CONFIG_", "BACKSTAGE_"))}
    env.update(NODE_ENV="production", NO_COLOR="1", FORCE_COLOR="0")
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["node", str(BACKEND_DIR / "start.js"), "--config", str(config_file)],
            cwd=BACKEND_DIR,  # the config loader looks for the package root from here
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    backstage = Backstage(base_url, token, log)
    try:

        def ready() -> bool | None:
            if proc.poll() is not None:
                pytest.fail(
                    f"the Backstage backend exited ({proc.returncode}):\n{backstage.log_tail()}"
                )
            return True if b"ecrctl-backstage-ready" in log.read_bytes() else None

        wait_for(ready, 120, 0.25, what="the Backstage backend to start")
        backstage.started_in = time.monotonic() - started
        yield backstage
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
