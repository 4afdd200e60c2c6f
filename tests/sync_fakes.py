"""A fake terraform and a repository tree for catalog sync tests (unit and integration)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from orchestrator.adapters import terraform as terraform_mod
from orchestrator.context import Session
from orchestrator.files.workspace import Workspace
from orchestrator.models import Action, ResourceChange, instance_of
from orchestrator.ops import sync as sync_mod
from orchestrator.rules import policy
from tests.backstage_model import catalog_entities
from tests.helpers import create_entry

ACCOUNT = "123456789012"
T1, T2 = "2026-01-09T10:00:00Z", "2026-01-09T11:30:00Z"
TIERS = {"web-frontend": "low", "search-api": "medium", "payments-gateway": "high"}


# -- a faked terraform ------------------------------------------------------------------------


def repository(
    name: str,
    region: str = "us-east-1",
    account: str = ACCOUNT,
    risk: str = "low",
    owner: str | None = None,
    **attributes: Any,
) -> dict[str, Any]:
    """One module.ecr_repositories["name"].aws_ecr_repository.this as `terraform state pull` has it."""
    owner = owner or f"app-team-{name.split('-')[0]}"
    attrs = {
        "arn": f"arn:aws:ecr:{region}:{account}:repository/{name}",
        "name": name,
        "registry_id": account,
        "repository_url": f"{account}.dkr.ecr.{region}.amazonaws.com/{name}",
        "tags": {
            "Owner": owner,
            "RiskTier": risk,
            "RegistryId": policy.derive_id(name),
            "ManagedBy": "ecrctl",
        },
        **attributes,
    }
    return {
        "module": f'module.ecr_repositories["{name}"]',
        "mode": "managed",
        "type": "aws_ecr_repository",
        "name": "this",
        "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
        "instances": [{"schema_version": 0, "attributes": attrs, "sensitive_attributes": []}],
    }


def state(*resources: dict[str, Any], outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    scanning = {
        "mode": "managed",
        "type": "aws_ecr_registry_scanning_configuration",
        "name": "this",
        "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
        "instances": [{"attributes": {"registry_id": ACCOUNT, "scan_type": "ENHANCED"}}],
    }
    return {
        "version": 4,
        "terraform_version": "1.11.4",
        "serial": 3,
        "lineage": "x",
        "outputs": outputs or {},
        "resources": [scanning, *resources],
    }


class FakeTerraform:
    """Stands in for orchestrator.adapters.terraform.Terraform: serves a state per environment."""

    states: ClassVar[dict[str, Any]] = {}
    calls: ClassVar[list[str]] = []

    def __init__(self, ws: Workspace, env: str, environ: dict[str, str], **_: Any) -> None:
        self.env = env

    def init(self) -> None:
        FakeTerraform.calls.append(f"init {self.env}")

    def plan(self, targets: list[str], out: Path, var_file: Path, **_: Any) -> list[Any]:
        """Each targeted repository created (a saved plan file of a few bytes)."""
        FakeTerraform.calls.append(f"plan {self.env}")
        out.write_text("a plan")
        return [
            ResourceChange(f"{t}.aws_ecr_repository.this", Action.CREATE, instance_of(t))
            for t in targets
            if instance_of(t)
        ]

    def apply(self, plan_file: Path, planned: list[str] | None = None) -> list[str]:
        """Applies: the planned repositories join the state."""
        FakeTerraform.calls.append(f"apply {self.env}")
        names = [n for a in planned or [] if (n := instance_of(a))]
        FakeTerraform.states[self.env] = state(*(repository(n) for n in names))
        return list(planned or [])

    def state_pull(self) -> dict[str, Any]:
        FakeTerraform.calls.append(f"state pull {self.env}")
        value = FakeTerraform.states.get(self.env, {})
        if isinstance(value, Exception):
            raise value
        return dict(value)


@pytest.fixture(autouse=True)
def fake_terraform(
    repo: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[type[FakeTerraform]]:
    FakeTerraform.states = {}
    FakeTerraform.calls = []
    monkeypatch.setattr(terraform_mod, "Terraform", FakeTerraform)
    # No ambient AWS configuration from the machine running the tests.
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", ECRCTL_PRIMARY, GROUPS):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("ECRCTL_LOCAL_ENDPOINT", "http://127.0.0.1:9")  # never reached: faked
    yield FakeTerraform


ECRCTL_PRIMARY = sync_mod.PRIMARY_ENV_VARIABLE
GROUPS = "ECRCTL_BACKSTAGE_GROUPS"


def three_tiers(ws: Workspace) -> None:
    for name, risk in TIERS.items():
        create_entry(ws, name, risk=risk)
    FakeTerraform.states["local"] = state(*(repository(n, risk=r) for n, r in TIERS.items()))


def run_sync(ws: Workspace, env: str = "local", at: str = T1, **kwargs: Any) -> Any:
    clock = lambda: datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)  # noqa: E731
    return sync_mod.sync(Session(ws, clock=clock).at(env), **kwargs)


def registry_doc(ws: Workspace, path: str) -> dict[str, Any]:
    return catalog_entities(ws.catalog_dir)[path][0]


LOCAL_FILE = "resources/local/ecr-registry-us-east-1.yaml"


# -- what it writes ---------------------------------------------------------------------------
