"""Stand-ins for terraform and ECR, and a fixed clock, for the crash tests of every writing command.

The same fakes serve the killed ecrctl process (tests/crash_driver.py) and the commands the test
runs after it in its own process, so that every run writes the same bytes: decommission and
restore talk to a backend whose state and registry are empty (the commands then change files
only), adopt sees one repository, `legacy-svc`, and catalog sync reads the state the test wrote
to the JSON file ECRCTL_TEST_STATE names. Nothing here imports pytest or moto: the driver starts
once per kill point, and stays cheap.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.models import ApplyResult, PlanResult, Violation
from orchestrator.models import module_address as target

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ADOPTED = "legacy-svc"
ACCOUNT = "123456789012"
STATE_VARIABLE = "ECRCTL_TEST_STATE"


class FakeEcr:
    """A registry holding `legacy-svc` (AES256, scan on push) and nothing else."""

    def repositories(self) -> dict[str, dict[str, Any]]:
        return {
            ADOPTED: {
                "repositoryName": ADOPTED,
                "repositoryArn": f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/{ADOPTED}",
                "repositoryUri": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{ADOPTED}",
                "imageTagMutability": "MUTABLE",
                "encryptionConfiguration": {"encryptionType": "AES256"},
                "imageScanningConfiguration": {"scanOnPush": True},
            }
        }

    def repository(self, name: str) -> dict[str, Any] | None:
        return None

    def images(self, name: str) -> list[Any]:
        return []

    def lifecycle_policy(self, name: str) -> str | None:
        return None

    def repository_policy(self, name: str) -> str | None:
        return None

    def tags(self, arn: str) -> dict[str, str]:
        return {}

    def aliases(self) -> set[str]:
        return set()

    def key(self, arn: str) -> dict[str, Any] | None:
        return None

    def key_policy(self, arn: str) -> str | None:
        return None

    def manifests(self, name: str, digests: list[str]) -> list[Any]:
        return []

    def delete_images(self, name: str, digests: list[str]) -> list[str]:
        return []


class FakeBackend:
    """Terraform for decommission and restore: an empty state, empty plans, no-op applies."""

    def __init__(self, ctx: Any) -> None:
        self.env = ctx.env

    @property
    def ecr(self) -> Any:
        return FakeEcr()

    def state(self) -> dict[str, Any]:
        return {"version": 4, "serial": 1, "lineage": "crash", "resources": []}

    def plan(self, name: str, var_file: Path, out: Path) -> tuple[PlanResult, list[Violation]]:
        return PlanResult(self.env, (target(name),), (name,), out, ()), []

    def apply(self, plan: PlanResult) -> ApplyResult:
        return ApplyResult(plan, ())


class FakeTerraform:
    """Terraform for catalog sync: the state ECRCTL_TEST_STATE holds."""

    def __init__(self, ws: Any, env: str, environ: Any, **_: Any) -> None:
        self.env = env

    def init(self) -> None:
        pass

    def state_pull(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(Path(os.environ[STATE_VARIABLE]).read_text())
        return value


def install(setattr: Callable[[Any, str, Any], None]) -> None:
    """Put the fakes and the fixed clock in place (setattr, or pytest's monkeypatch.setattr)."""
    from orchestrator.adapters import ecr, terraform
    from orchestrator.cli import options
    from orchestrator.context import Session
    from orchestrator.lifecycle import decommission, restore

    setattr(decommission, "TerraformBackend", FakeBackend)
    setattr(restore, "TerraformBackend", FakeBackend)
    setattr(terraform, "Terraform", FakeTerraform)
    setattr(ecr, "connect", lambda environ, region: FakeEcr())

    def session(ws: Any, progress: Any = None, **kwargs: Any) -> Session:
        extra = {"progress": progress} if progress is not None else {}
        return Session(ws, **extra, clock=lambda: NOW, **kwargs)

    setattr(options, "Session", session)
