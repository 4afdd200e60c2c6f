"""Typed values that travel through ecrctl. Validated once at the edge, immutable afterwards."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RISKS = ("low", "medium", "high")
STATUSES = ("active", "deprecated", "decommissioned")
ACTIONS = ("create", "update", "delete", "replace")


@dataclass(frozen=True)
class RiskTier:
    """One row of the risk-tier table (terraform/modules/ecr/risk-tiers.json)."""

    name: str
    image_tag_mutability: str
    encryption_type: str
    keep_image_count: int
    scanning: str
    scan_frequency: str


@dataclass(frozen=True)
class RegistryRequest:
    """A validated request for one repository in one environment."""

    name: str
    registry_id: str
    owner: str
    risk: str
    env: str
    description: str = ""
    push_principals: tuple[str, ...] = ()
    pull_principals: tuple[str, ...] = ()

    def attributes(self) -> dict[str, Any]:
        """What must match for a repeated request to count as the same request."""
        return {
            "id": self.registry_id,
            "owner": self.owner,
            "risk": self.risk,
            "environment": self.env,
            "description": self.description,
            "push_principals": list(self.push_principals),
            "pull_principals": list(self.pull_principals),
        }


@dataclass(frozen=True)
class CatalogEntry:
    """One repository in catalog/ecr-catalog.yaml."""

    request: RegistryRequest
    status: str = "active"
    repository_url: str = ""
    history: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceChange:
    """One resource instance change in a plan."""

    address: str
    action: str  # create | update | delete | replace
    instance: str | None  # the repository name for module.ecr_repositories["NAME"], else None

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "action": self.action, "repository": self.instance}


@dataclass(frozen=True)
class PlanResult:
    """A saved, summarised terraform plan."""

    env: str
    targets: tuple[str, ...]
    repositories: tuple[str, ...]
    plan_file: Path
    changes: tuple[ResourceChange, ...]

    def counts(self) -> dict[str, int]:
        return {a: sum(1 for c in self.changes if c.action == a) for a in ACTIONS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "repositories": list(self.repositories),
            "targets": list(self.targets),
            "plan_file": str(self.plan_file),
            "changes": [c.to_dict() for c in self.changes],
            "summary": self.counts(),
        }


@dataclass(frozen=True)
class ApplyResult:
    plan: PlanResult
    applied: tuple[str, ...]  # addresses terraform reported complete

    def to_dict(self) -> dict[str, Any]:
        return {"plan": self.plan.to_dict(), "applied": list(self.applied)}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a managed file, and where."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"
