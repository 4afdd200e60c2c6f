"""How an existing repository differs from the tier it is adopted into, and what the plan can fix.

Pure: takes what the registry holds (Observed, read by lifecycle/inventory.py) and the request,
returns a Conformance. What Terraform changes in place (tag mutability, scanning, tags, the
lifecycle and repository policies, the key's rotation and tags) is listed as a difference the
first apply fixes; what it cannot (a repository's encryption is fixed at creation in ECR) makes
the repository refused for that tier, with the options stated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.models import RegistryRequest, RiskTier
from orchestrator.rules import documents

IN_PLACE = "in place"
CREATED = "created"
REFUSED = "refused"


@dataclass(frozen=True)
class KeyInfo:
    """The KMS key a repository is encrypted with (describe_key)."""

    key_id: str
    arn: str
    manager: str  # CUSTOMER | AWS
    spec: str  # SYMMETRIC_DEFAULT ...
    usage: str  # ENCRYPT_DECRYPT ...
    state: str  # Enabled ...
    multi_region: bool = False
    origin: str = "AWS_KMS"


@dataclass(frozen=True)
class Observed:
    """One repository as the registry holds it."""

    name: str
    arn: str
    uri: str
    mutability: str
    encryption_type: str
    kms_key_arn: str | None
    scan_on_push: bool
    lifecycle_policy: str | None
    repository_policy: str | None
    tags: dict[str, str] = field(default_factory=dict)
    key: KeyInfo | None = None
    alias_exists: bool = False  # alias/ecr/NAME, the alias the module manages
    key_shared_with: tuple[str, ...] = ()  # other repositories encrypted with the same key
    key_policy: str | None = None  # the key's policy (GetKeyPolicy "default"); None: not read


@dataclass(frozen=True)
class Difference:
    setting: str
    current: str
    wanted: str
    fix: str  # in place | created | refused

    def to_dict(self) -> dict[str, str]:
        return {
            "setting": self.setting,
            "current": self.current,
            "wanted": self.wanted,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Conformance:
    name: str
    risk: str
    arn: str
    differences: tuple[Difference, ...]
    refusals: tuple[str, ...] = ()  # why the repository cannot be adopted into this tier
    options: tuple[str, ...] = ()  # what the user can do instead
    adopt: tuple[str, ...] = ()  # import markers for the tfvars entry
    adopt_kms_key: str = ""

    @property
    def refused(self) -> bool:
        return bool(self.refusals)

    def to_dict(self) -> dict[str, Any]:
        return {
            "repository": self.name,
            "risk": self.risk,
            "arn": self.arn,
            "verdict": "refused" if self.refused else "adoptable",
            "differences": [d.to_dict() for d in self.differences],
            "refusals": list(self.refusals),
            "options": list(self.options),
            "imports": list(self.adopt) + (["kms_key"] if self.adopt_kms_key else []),
        }


def assess(observed: Observed, request: RegistryRequest, tier: RiskTier) -> Conformance:
    """The conformance of one existing repository to the tier `request` asks for."""
    diffs: list[Difference] = []
    refusals: list[str] = []
    options: list[str] = []
    risk = request.risk
    if observed.mutability != tier.image_tag_mutability:
        diffs.append(
            Difference(
                "image_tag_mutability", observed.mutability, tier.image_tag_mutability, IN_PLACE
            )
        )
    if not observed.scan_on_push:
        diffs.append(Difference("scan_on_push", "false", "true", IN_PLACE))

    # Encryption: ECR fixes it when the repository is created.
    kms_key = ""
    if tier.encryption_type != observed.encryption_type:
        diffs.append(
            Difference("encryption", observed.encryption_type, tier.encryption_type, REFUSED)
        )
        refusals.append(
            f"encrypted with {observed.encryption_type}, the {risk} tier requires"
            f" {tier.encryption_type}; ECR cannot change a repository's encryption"
        )
        if observed.encryption_type == "AES256":
            options.append("adopt it as low or medium (AES256)")
        elif _own_customer_key(observed):
            options.append("adopt it as high (KMS with its customer-managed key)")
        options.append(
            f"or create a new {tier.encryption_type} repository (ecrctl create), copy the images"
            " (e.g. crane copy / skopeo copy) and retire this one"
        )
    elif tier.encryption_type == "KMS":
        key = observed.key
        problem = _key_problem(observed)
        if problem or key is None:
            diffs.append(
                Difference("kms_key", _describe_key(observed), "customer-managed key", REFUSED)
            )
            refusals.append(
                (problem or "its KMS key could not be read")
                + "; ECR cannot change a repository's key"
            )
            options.append(
                "create a new high-risk repository (ecrctl create), copy the images and retire"
                " this one"
            )
        else:
            kms_key = key.key_id
            diffs.append(
                Difference("kms_key", key.key_id, "imported; rotation on, ecrctl tags", IN_PLACE)
            )
            diffs += _key_policy(observed)
            diffs.append(
                Difference(
                    "kms_alias",
                    "present" if observed.alias_exists else "none",
                    "alias/ecr/" + request.name.replace(".", "_"),
                    IN_PLACE if observed.alias_exists else CREATED,
                )
            )

    held = documents.read_lifecycle_policy(observed.lifecycle_policy)
    wanted_retention = documents.retention_of_tier(tier)
    if held != wanted_retention:
        current = (
            "none"
            if observed.lifecycle_policy is None
            else (held.describe() if held is not None else "other rules")
        )
        # Written with PutLifecyclePolicy over what is there (see terraform/imports.tf).
        diffs.append(
            Difference(
                "lifecycle_policy",
                current,
                wanted_retention.describe(),
                CREATED if observed.lifecycle_policy is None else IN_PLACE,
            )
        )

    principals = bool(request.push_principals or request.pull_principals)
    if observed.repository_policy is not None and not principals:
        diffs.append(Difference("repository_policy", "present", "none", REFUSED))
        refusals.append(
            "it has a repository policy and the request grants no principals: ecrctl would"
            " leave that policy unmanaged"
        )
        options.append(
            "name the principals (push_principals / pull_principals, --push-principal /"
            " --pull-principal): ecrctl then owns the policy and grants exactly them"
        )
        options.append(
            "or delete the policy first (aws ecr delete-repository-policy) if nobody needs it"
        )
    elif principals:
        diffs += _repository_policy(observed, request)

    wanted = documents.rendered_tags(request, tier)
    for tag in sorted(set(wanted) | set(observed.tags)):
        have, want = observed.tags.get(tag), wanted.get(tag)
        if have != want:
            diffs.append(
                Difference(
                    f"tag {tag}",
                    "none" if have is None else have,
                    "removed" if want is None else want,
                    IN_PLACE,
                )
            )

    adopt: tuple[str, ...] = ()
    if not refusals:
        parts = ["repository"]
        if observed.repository_policy is not None and principals:
            parts.append("repository_policy")
        if kms_key and observed.alias_exists:
            parts.append("kms_alias")
        adopt = tuple(parts)
    return Conformance(
        name=observed.name,
        risk=risk,
        arn=observed.arn,
        differences=tuple(diffs),
        refusals=tuple(refusals),
        options=tuple(options),
        adopt=adopt,
        adopt_kms_key=kms_key if not refusals else "",
    )


def replication_difference(now: str, wanted: str) -> Difference | None:
    """Where the registry replicates an adopted repository against where its tier will: the
    first apply writes the registry-wide replication configuration (ecrctl's filters)."""
    if now == wanted:
        return None
    return Difference("replication", now, wanted, IN_PLACE)


def _key_policy(observed: Observed) -> list[Difference]:
    """The adopted key's policy next to the module's: what it grants beyond the account root and
    ECR's use through the service. Terraform puts the module's policy in place (PutKeyPolicy)."""
    parts = observed.arn.split(":")
    if observed.key_policy is None or len(parts) < 6:
        return []
    region, account = parts[3], parts[4]
    if observed.key_policy == documents.key_policy_json(account, region, parts[1]):
        return []
    wider = documents.key_policy_grants_beyond(observed.key_policy, account, region)
    return [
        Difference(
            "kms_key_policy",
            ("wider: " + "; ".join(wider)) if wider else "other statements, none wider",
            "the account root, and ECR through the service for the account",
            IN_PLACE,
        )
    ]


def _repository_policy(observed: Observed, request: RegistryRequest) -> list[Difference]:
    """The policy held, read in a request's terms (IAM ARNs, organizations, services), next to
    what the request grants; nothing when it grants exactly that. Terraform writes the module's
    policy over it (SetRepositoryPolicy)."""
    wanted = documents.grants_of_request(request)
    if observed.repository_policy is None:
        return [Difference("repository_policy", "none", wanted.describe(), CREATED)]
    parts = observed.arn.split(":")
    held = documents.read_repository_policy(
        observed.repository_policy, parts[4] if len(parts) > 4 else ""
    )
    if held == wanted:
        return []
    return [
        Difference(
            "repository_policy",
            held.describe() if held is not None else "not a policy document",
            wanted.describe(),
            IN_PLACE,
        )
    ]


def _own_customer_key(observed: Observed) -> bool:
    return observed.encryption_type == "KMS" and _key_problem(observed) is None


def _key_problem(observed: Observed) -> str | None:
    """Why the repository's key cannot become the module's aws_kms_key (None: it can)."""
    key = observed.key
    if key is None:
        return "its KMS key could not be read"
    if key.manager != "CUSTOMER":
        return "it is encrypted with the AWS-managed key aws/ecr; the high tier needs a customer-managed key"
    if observed.key_shared_with:
        return (
            f"its KMS key also encrypts {', '.join(observed.key_shared_with)}; the high tier"
            " gives each repository a key of its own"
        )
    if key.spec != "SYMMETRIC_DEFAULT" or key.usage != "ENCRYPT_DECRYPT" or key.multi_region:
        return (
            f"its KMS key is {key.spec} {key.usage}"
            + (" multi-region" if key.multi_region else "")
            + "; the module manages a single-region SYMMETRIC_DEFAULT ENCRYPT_DECRYPT key"
        )
    if key.origin != "AWS_KMS":
        return f"its KMS key's material comes from {key.origin}; the module manages AWS_KMS keys"
    if key.state != "Enabled":
        return f"its KMS key is {key.state}"
    return None


def _describe_key(observed: Observed) -> str:
    key = observed.key
    if key is None:
        return observed.kms_key_arn or "unknown"
    return f"{key.key_id} ({key.manager.lower()}-managed, {key.state})"
