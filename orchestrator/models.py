"""Typed values that travel through ecrctl. Validated once at the edge, immutable afterwards.

Over 400 lines because it is the one bottom layer of data (the import-linter contract in
pyproject.toml): the request, the catalog entry, a plan's changes and the guard's verdicts, the
settings a reviewer sees, the results of each command, and the module address they all name.
It imports nothing of ecrctl's but the error family.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from orchestrator.errors import EcrctlError

RISKS = ("low", "medium", "high")

# How a step reports progress: one line at a time (a spinner on a terminal, stderr otherwise).
Progress = Callable[[str], None]


def quiet(_line: str) -> None:
    """A progress callback that says nothing (the default outside the CLI)."""


# The root module's one module block: every repository is module.ecr_repositories["NAME"].
MODULE = "ecr_repositories"
_INSTANCE = re.compile(r'^module\.ecr_repositories\["([^"\\]+)"\]')


def module_address(name: str) -> str:
    """The module instance of one repository (its -target); `name` is validated (no quotes)."""
    return f'module.{MODULE}["{name}"]'


def instance_of(address: str) -> str | None:
    """The repository name of an address inside module.ecr_repositories["NAME"], else None."""
    match = _INSTANCE.match(address)
    return match.group(1) if match else None


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
# Counted in summaries, in this order everywhere (plan output, the PR comment, the records).
ACTIONS = (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE)


def principal_kind(principal: str) -> str:
    """The kind of a principal rules/policy.py has accepted: "iam", "organization" (an AWS
    Organization ID starts with o-) or "service" (a service principal ends with .amazonaws.com)."""
    if principal.startswith("o-"):
        return "organization"
    if principal.endswith(".amazonaws.com"):
        return "service"
    return "iam"


def principal_label(principal: str) -> str:
    """How a reviewer reads a principal: an organisation or a service named as such (a service
    acts for the registry's own account only: the policy's aws:SourceAccount)."""
    kind = principal_kind(principal)
    if kind == "organization":
        return f"organisation {principal}"
    if kind == "service":
        return f"service {principal} (this account only)"
    return principal


@dataclass(frozen=True)
class RiskTier:
    """One row of the risk-tier table (terraform/modules/ecr/risk-tiers.json)."""

    name: str
    image_tag_mutability: str
    encryption_type: str
    keep_image_count: int
    scanning: str
    scan_frequency: str
    # Lifecycle rules beside the count rule: untagged images expire after this many days, and
    # images with a tag starting with one of these prefixes are kept (never expired by count).
    untagged_expire_days: int = 0
    protected_tag_prefixes: tuple[str, ...] = ()
    protected_tag_keep_count: int = 0  # the count rule of a protected prefix: above any quota
    # Whether the tier's repositories replicate to the environment's replication_destinations:
    # "required" (always), "allowed" (when the request asks: `replicate`), "none" (never).
    replication: str = "none"

    def replicates(self, asked: bool) -> bool:
        """Whether a repository of this tier replicates, `asked` being its request's replicate."""
        return self.replication == "required" or (self.replication == "allowed" and asked)


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
    # Asks for replication where the tier allows it (risk-tiers.json `replication`); a tier that
    # requires it replicates whatever this says.
    replicate: bool = False

    @property
    def deprecated(self) -> bool:
        return self.status == "deprecated"

    @property
    def has_policy(self) -> bool:
        """Whether the module writes a repository policy for this request."""
        return bool(self.pull_principals) or (bool(self.push_principals) and not self.deprecated)

    def attributes(self) -> dict[str, Any]:
        """What must match for a repeated request to count as the same request."""
        found: dict[str, Any] = {
            "id": self.registry_id,
            "owner": self.owner,
            "risk": self.risk,
            "environment": self.env,
            "description": self.description,
            "push_principals": list(self.push_principals),
            "pull_principals": list(self.pull_principals),
        }
        if self.replicate:
            found["replicate"] = True
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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResourceChange:
        return cls(
            address=str(data["address"]),
            action=Action(data["action"]),
            instance=data.get("repository"),
            reason=data.get("reason"),
            importing=bool(data.get("importing", False)),
        )


def action_counts(changes: Iterable[ResourceChange]) -> dict[str, int]:
    """How many changes of each counted action, in ACTIONS' order (zeros included)."""
    found = [c.action for c in changes]
    return {str(a): found.count(a) for a in ACTIONS}


def counted(changes: Iterable[ResourceChange]) -> str:
    """The counts as a person reads them: "1 to create, 2 to update", or "no changes"."""
    return ", ".join(f"{n} to {a}" for a, n in action_counts(changes).items() if n) or "no changes"


@dataclass(frozen=True)
class Violation:
    """The plan guard's verdict on one change: the change, the rule it broke, and why."""

    change: ResourceChange
    rule: Rule
    reason: str

    def __str__(self) -> str:
        return f"{self.change.address} ({self.change.action}): {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """The change's own fields, the rule and why (the change's own reason, if it has one,
        as `change_reason`)."""
        found = self.change.to_dict()
        change_reason = found.pop("reason", None)
        found.update(rule=str(self.rule), reason=self.reason)
        return {**found, "change_reason": change_reason} if change_reason else found

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Violation:
        change = ResourceChange.from_dict({**data, "reason": data.get("change_reason")})
        return cls(change, Rule(data["rule"]), str(data["reason"]))


# -- what a reviewer sees: the settings that hold on a repository, now and after an apply --

FIELDS = (
    ("tier", "tier"),
    ("status", "status"),
    ("image_tag_mutability", "mutability"),
    ("encryption", "encryption"),
    ("keep_image_count", "images kept"),
    ("untagged_expire_days", "untagged expire (days)"),
    ("protected_tag_prefixes", "tags kept"),
    ("scanning", "scanning"),
    ("replication", "replicates to"),
    ("push_principals", "push"),
    ("pull_principals", "pull"),
)


@dataclass(frozen=True)
class Settings:
    """The controls that hold on one repository."""

    tier: str
    image_tag_mutability: str
    encryption: str
    keep_image_count: int
    scanning: str  # the tier's scanning and its frequency, e.g. "enhanced (CONTINUOUS_SCAN)"
    push_principals: tuple[str, ...]  # with push access now (none while deprecated)
    pull_principals: tuple[str, ...]
    status: str = "active"
    untagged_expire_days: int = 0
    protected_tag_prefixes: tuple[str, ...] = ()
    # Where its images replicate ("us-west-2, eu-west-1 (210987654321)"), or "none".
    replication: str = "none"

    def to_dict(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "status": self.status,
            "image_tag_mutability": self.image_tag_mutability,
            "encryption": self.encryption,
            "keep_image_count": self.keep_image_count,
            "untagged_expire_days": self.untagged_expire_days,
            "protected_tag_prefixes": list(self.protected_tag_prefixes),
            "scanning": self.scanning,
            "replication": self.replication,
            "push_principals": list(self.push_principals),
            "pull_principals": list(self.pull_principals),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        return cls(
            tier=str(data["tier"]),
            image_tag_mutability=str(data["image_tag_mutability"]),
            encryption=str(data["encryption"]),
            keep_image_count=int(data["keep_image_count"]),
            scanning=str(data["scanning"]),
            push_principals=tuple(data["push_principals"]),
            pull_principals=tuple(data["pull_principals"]),
            status=str(data.get("status", "active")),
            # Records written before the lifecycle columns existed hold neither.
            untagged_expire_days=int(data.get("untagged_expire_days", 0)),
            protected_tag_prefixes=tuple(data.get("protected_tag_prefixes", ())),
            replication=str(data.get("replication", "none")),
        )


def settings_of_tier(
    tier: RiskTier,
    push: Iterable[str],
    pull: Iterable[str],
    status: str = "active",
    replication: str = "none",
) -> Settings:
    return Settings(
        tier=tier.name,
        image_tag_mutability=tier.image_tag_mutability,
        encryption=tier.encryption_type,
        keep_image_count=tier.keep_image_count,
        untagged_expire_days=tier.untagged_expire_days,
        protected_tag_prefixes=tier.protected_tag_prefixes,
        scanning=f"{tier.scanning} ({tier.scan_frequency})",
        push_principals=tuple(sorted(set(push))),
        pull_principals=tuple(sorted(set(pull))),
        status=status,
        replication=replication,
    )


def settings_of_request(
    request: RegistryRequest, tiers: dict[str, RiskTier], destinations: Iterable[str] = ()
) -> Settings:
    """What the module makes of `request`: a deprecated repository grants no push; it
    replicates to the environment's `destinations` (shown as "REGION" or "REGION (ACCOUNT)")
    when its tier requires or allows and it asks."""
    push = () if request.deprecated else request.push_principals
    tier = tiers[request.risk]
    where = ", ".join(destinations) if tier.replicates(request.replicate) else ""
    return settings_of_tier(tier, push, request.pull_principals, request.status, where or "none")


@dataclass(frozen=True)
class Review:
    """One repository: the settings it holds now (None: not created yet) and after the apply
    (None: it is being removed)."""

    name: str
    before: Settings | None
    after: Settings | None

    def rows(self) -> list[tuple[str, str, str]]:
        """(setting, now, after) for each setting; now is "" for a new repository."""
        before = self.before.to_dict() if self.before else {}
        after = self.after.to_dict() if self.after else {}
        found = []
        for key, label in FIELDS:
            if key == "status" and self.before is not None and self.before.status == "?":
                before = {**before, "status": after.get("status", "")}  # the state has no status
            found.append((label, _show(before.get(key), key), _show(after.get(key), key)))
        return found

    def lines(self) -> list[str]:
        """`setting: value`, or `setting: before -> after` where the apply changes it."""
        if self.after is None:
            return ["removed (decommission): every setting goes with the repository"]
        out = []
        for label, now, then in self.rows():
            if self.before is None or now == then:
                out.append(f"{label}: {then}")
            else:
                out.append(f"{label}: {now} -> {then}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "repository": self.name,
            "before": self.before.to_dict() if self.before else None,
            "after": self.after.to_dict() if self.after else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Review:
        return cls(
            name=str(data["repository"]),
            before=Settings.from_dict(data["before"]) if data.get("before") else None,
            after=Settings.from_dict(data["after"]) if data.get("after") else None,
        )


def _show(value: Any, key: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        if key.endswith("_principals"):
            value = [principal_label(p) for p in value]
        return ", ".join(value) if value else "(none)"
    return str(value)


@dataclass(frozen=True)
class PlanResult:
    """A saved, summarised terraform plan."""

    env: str
    targets: tuple[str, ...]
    repositories: tuple[str, ...]
    plan_file: Path
    changes: tuple[ResourceChange, ...]
    reviews: tuple[Review, ...] = ()  # per repository, the settings that will hold
    # What the guard judges the plan against: the named repositories with a tfvars entry, and
    # those whose request leaves no principal in the policy.
    configured: frozenset[str] = frozenset()
    without_policy: frozenset[str] = frozenset()

    def counts(self) -> dict[str, int]:
        return action_counts(self.changes)

    def counted(self) -> str:
        return counted(self.changes)

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
