"""What a reviewer sees: for each repository of a plan, the settings that will hold.

Derived from the request (the tfvars entry) and the risk-tier table, never from a provider load.
For a repository Terraform already manages, the settings it holds now come from the state
(Terraform.state_pull, which loads no provider): its RiskTier tag and its repository policy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from orchestrator.models import RegistryRequest, ResourceChange, RiskTier

FIELDS = (
    ("tier", "tier"),
    ("status", "status"),
    ("image_tag_mutability", "mutability"),
    ("encryption", "encryption"),
    ("keep_image_count", "images kept"),
    ("scanning", "scanning"),
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "status": self.status,
            "image_tag_mutability": self.image_tag_mutability,
            "encryption": self.encryption,
            "keep_image_count": self.keep_image_count,
            "scanning": self.scanning,
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
        )


def of_tier(
    tier: RiskTier, push: Iterable[str], pull: Iterable[str], status: str = "active"
) -> Settings:
    return Settings(
        tier=tier.name,
        image_tag_mutability=tier.image_tag_mutability,
        encryption=tier.encryption_type,
        keep_image_count=tier.keep_image_count,
        scanning=f"{tier.scanning} ({tier.scan_frequency})",
        push_principals=tuple(sorted(set(push))),
        pull_principals=tuple(sorted(set(pull))),
        status=status,
    )


def of_request(request: RegistryRequest, tiers: dict[str, RiskTier]) -> Settings:
    """What the module makes of `request`: a deprecated repository grants no push."""
    push = () if request.deprecated else request.push_principals
    return of_tier(tiers[request.risk], push, request.pull_principals, request.status)


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
            found.append((label, _show(before.get(key)), _show(after.get(key))))
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


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(value) if value else "(none)"
    return str(value)


def from_state(state: dict[str, Any], name: str, tiers: dict[str, RiskTier]) -> Settings | None:
    """The settings the state records for `name`'s module instance; None if it has none."""
    module = f'module.ecr_repositories["{name}"]'
    repository: dict[str, Any] | None = None
    document: dict[str, Any] = {}
    for resource in state.get("resources") or []:
        if resource.get("module") != module or resource.get("mode") != "managed":
            continue
        instances = resource.get("instances") or [{}]
        attributes = instances[0].get("attributes") or {}
        if resource.get("type") == "aws_ecr_repository":
            repository = attributes
        elif resource.get("type") == "aws_ecr_repository_policy":
            try:
                document = json.loads(attributes.get("policy") or "{}")
            except ValueError:
                document = {}
    if repository is None:
        return None
    tier = tiers.get(str((repository.get("tags") or {}).get("RiskTier", "")))
    if tier is None:
        return None
    principals: dict[str, list[str]] = {"AllowPush": [], "AllowPull": []}
    statements = document.get("Statement") or []
    for statement in statements if isinstance(statements, list) else []:
        aws = (statement.get("Principal") or {}).get("AWS", [])
        principals.setdefault(str(statement.get("Sid")), []).extend(
            [aws] if isinstance(aws, str) else list(aws)
        )
    held = of_tier(tier, principals["AllowPush"], principals["AllowPull"], status="?")
    encryption = (repository.get("encryption_configuration") or [{}])[0].get("encryption_type")
    return Settings(
        **{
            **held.to_dict(),
            "image_tag_mutability": repository.get("image_tag_mutability")
            or held.image_tag_mutability,
            "encryption": encryption or held.encryption,
            "push_principals": held.push_principals,
            "pull_principals": held.pull_principals,
        }
    )


def needs_state(changes: Iterable[ResourceChange], configured: set[str]) -> bool:
    """Whether any planned change is to a repository that already exists (an update)."""
    return any(
        c.instance in configured and c.action in ("update", "delete", "replace")
        for c in changes
        if c.instance is not None
    )


def reviews(
    names: Iterable[str],
    requests: dict[str, RegistryRequest],
    tiers: dict[str, RiskTier],
    state: dict[str, Any] | None,
) -> tuple[Review, ...]:
    """The review of each named repository; `state` gives the before of existing ones."""
    found = []
    for name in sorted(names):
        request = requests.get(name)
        before = from_state(state, name, tiers) if state is not None else None
        after = of_request(request, tiers) if request is not None else None
        found.append(Review(name, before, after))
    return tuple(found)
