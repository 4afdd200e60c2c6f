"""Typed values that travel through ecrctl. Validated once at the edge, immutable afterwards."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import EcrctlError

if TYPE_CHECKING:
    from orchestrator.ops.review import Review

RISKS = ("low", "medium", "high")
STATUSES = ("active", "deprecated", "decommissioned")
# What the tfvars entry records (the module reads it): a deprecated repository is pull-only.
REQUEST_STATUSES = ("active", "deprecated")
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
    status: str = "active"  # active | deprecated (push principals kept but left out of the policy)

    @property
    def deprecated(self) -> bool:
        return self.status == "deprecated"

    @property
    def has_policy(self) -> bool:
        """Whether the module writes a repository policy for this request."""
        return bool(self.pull_principals) or (bool(self.push_principals) and not self.deprecated)

    def attributes(self) -> dict[str, Any]:
        """What must match for a repeated request to count as the same request."""
        found = {
            "id": self.registry_id,
            "owner": self.owner,
            "risk": self.risk,
            "environment": self.env,
            "description": self.description,
            "push_principals": list(self.push_principals),
            "pull_principals": list(self.pull_principals),
        }
        return {**found, "status": self.status} if self.status != "active" else found


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
    reason: str | None = None  # why terraform replaces it: "tainted" (a create that did not finish)

    def to_dict(self) -> dict[str, Any]:
        found = {"address": self.address, "action": self.action, "repository": self.instance}
        return {**found, "reason": self.reason} if self.reason else found


@dataclass(frozen=True)
class PlanResult:
    """A saved, summarised terraform plan."""

    env: str
    targets: tuple[str, ...]
    repositories: tuple[str, ...]
    plan_file: Path
    changes: tuple[ResourceChange, ...]
    reviews: tuple[Review, ...] = ()  # per repository, the settings that will hold

    def counts(self) -> dict[str, int]:
        return {a: sum(1 for c in self.changes if c.action == a) for a in ACTIONS}

    def to_dict(self) -> dict[str, Any]:
        found = {
            "env": self.env,
            "repositories": list(self.repositories),
            "targets": list(self.targets),
            "plan_file": str(self.plan_file),
            "changes": [c.to_dict() for c in self.changes],
            "summary": self.counts(),
        }
        return {**found, "settings": [r.to_dict() for r in self.reviews]} if self.reviews else found


@dataclass(frozen=True)
class RepoOutputs:
    """One repository as Terraform state records it (aws_ecr_repository.this of its module)."""

    name: str
    url: str
    arn: str
    aws_registry_id: str  # the AWS account holding the registry
    region: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FileChange:
    """What a catalog sync does (or, with --check, would do) to one file."""

    path: str  # relative to the repository root
    action: str  # create | update | unchanged

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "action": self.action}


@dataclass(frozen=True)
class SyncResult:
    """The Backstage catalog of one environment, written (or checked) from Terraform state."""

    env: str
    region: str
    region_source: str  # --region, AWS_REGION, AWS_DEFAULT_REGION, profile ..., or the tfvars
    account: str | None
    repo_count: int
    registry_file: str
    last_sync: str
    files: tuple[FileChange, ...]
    warnings: tuple[str, ...] = ()
    check: bool = False

    @property
    def up_to_date(self) -> bool:
        """Nothing but platform/last-sync would change."""
        return all(f.action == "unchanged" for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "region": self.region,
            "region_source": self.region_source,
            "account": self.account,
            "repo_count": self.repo_count,
            "registry_file": self.registry_file,
            "last_sync": self.last_sync,
            "files": [f.to_dict() for f in self.files],
            "warnings": list(self.warnings),
            "check": self.check,
            "up_to_date": self.up_to_date,
        }


@dataclass(frozen=True)
class ApplyResult:
    plan: PlanResult
    applied: tuple[str, ...]  # addresses terraform reported complete
    sync: SyncResult | None = None  # the catalog sync that followed; None with --no-sync
    sync_error: EcrctlError | None = None  # the apply stands; the catalog lags until a sync

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_dict(),
            "applied": list(self.applied),
            "catalog_sync": self.sync.to_dict() if self.sync else None,
            "catalog_sync_error": self.sync_error.message if self.sync_error else None,
        }


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a managed file, and where."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"
