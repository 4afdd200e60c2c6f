"""Typed values that travel through ecrctl. Validated once at the edge, immutable afterwards."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import EcrctlError

if TYPE_CHECKING:
    from orchestrator.ops.review import Review

RISKS = ("low", "medium", "high")


class Status(StrEnum):
    """A repository's status in the catalog (ADR-0092)."""

    ACTIVE = "active"
    DEPRECATED = "deprecated"
    DECOMMISSIONED = "decommissioned"


class Action(StrEnum):
    """What a plan does to one resource instance, as terraform's JSON stream names it."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"
    REMOVE = "remove"  # forgotten by the state, left in AWS
    IMPORT = "import"
    MOVE = "move"


class Rule(StrEnum):
    """The plan-guard rule a change broke (rules/guard.py explains each)."""

    OUTSIDE_REQUEST = "outside-request"
    REGISTRY_NEVER_DESTROYED = "registry-never-destroyed"
    NOT_REQUESTED = "not-requested"
    DECOMMISSION_ONLY_DELETES = "decommission-only-deletes"
    CREATE_ONLY_CREATES = "create-only-creates"
    LIVE_NEVER_DESTROYED = "live-never-destroyed"
    CATALOG_STILL_LIVE = "catalog-still-live"
    ADOPT_NEVER_DESTROYS = "adopt-never-destroys"
    ADOPT_NEVER_CREATES = "adopt-never-creates"


STATUSES = tuple(Status)
# What the tfvars entry records (the module reads it): a deprecated repository is pull-only.
REQUEST_STATUSES = (Status.ACTIVE, Status.DEPRECATED)
ACTIONS = (Action.CREATE, Action.UPDATE, Action.DELETE, Action.REPLACE)  # counted in summaries


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
    # Set by `ecrctl adopt` on the tfvars entry of a repository that already exists: what
    # terraform/imports.tf imports. Not part of what the request asks for (attributes()).
    adopt: tuple[str, ...] = ()
    adopt_kms_key: str = ""
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
    status: Status = Status.ACTIVE
    repository_url: str = ""
    history: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceChange:
    """One resource instance change in a plan."""

    address: str
    action: Action
    instance: str | None  # the repository name for module.ecr_repositories["NAME"], else None
    reason: str | None = None  # why terraform replaces it: "tainted" (a create that did not finish)
    importing: bool = False  # an import block brings an existing object into the state

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "address": self.address,
            "action": str(self.action),
            "repository": self.instance,
        }
        if self.importing:
            found["importing"] = True
        return {**found, "reason": self.reason} if self.reason else found


@dataclass(frozen=True)
class Violation:
    """The plan guard's verdict on one change: the change, the rule it broke, and why."""

    change: ResourceChange
    rule: Rule
    reason: str

    def __str__(self) -> str:
        return f"{self.change.address} ({self.change.action}): {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.change.address,
            "action": str(self.change.action),
            "repository": self.change.instance,
            "rule": str(self.rule),
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Violation:
        change = ResourceChange(data["address"], Action(data["action"]), data.get("repository"))
        return cls(change, Rule(data["rule"]), data["reason"])


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

    def counted(self) -> str:
        """The counts as a person reads them: "1 to create, 2 to update", or "no changes"."""
        return ", ".join(f"{n} to {a}" for a, n in self.counts().items() if n) or "no changes"

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
    # Owners with no Group entity where the platform keeps them (orchestrator/owners.py), each
    # with the entities it owns; owners_checked is False when no Groups are configured at all.
    unresolved_owners: tuple[str, ...] = ()
    owners_checked: bool = False

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
            "owners_checked": self.owners_checked,
            "unresolved_owners": list(self.unresolved_owners),
        }


@dataclass(frozen=True)
class ApplyResult:
    plan: PlanResult
    applied: tuple[str, ...]  # addresses terraform reported complete
    sync: SyncResult | None = None  # the catalog sync that followed; None with --no-sync
    sync_error: EcrctlError | None = None  # the apply stands; the catalog lags until a sync

    def outcome(self) -> dict[str, Any]:
        """What the apply reported (applied addresses, the catalog sync after it), less the plan."""
        return {k: v for k, v in self.to_dict().items() if k != "plan"}

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
