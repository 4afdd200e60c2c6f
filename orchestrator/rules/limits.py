"""Every limit AWS enforces on what a request becomes, in one table (docs/LIMITS.md).

`check_limits` runs when a request is made (create, update, adopt), before anything is written,
rather than AWS refusing the apply once the pull request is open. It measures what the Terraform
module will render, byte for byte (rules/documents.py renders it: the tags, the repository
policy, the lifecycle policy). The Backstage form (catalog/templates/ecr-request/template.yaml), the
module's validations and the registry scanning cover (scanning.py) use these numbers; tests
compare each with this table.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.errors import UserError
from orchestrator.models import RegistryRequest, RiskTier
from orchestrator.rules.documents import (
    lifecycle_policy_json,
    rendered_tags,
    repository_policy_json,
)
from orchestrator.rules.policy import derive_id


@dataclass(frozen=True)
class Limit:
    """One AWS limit: at most `max` (and at least `min`) of `what`, as `aws_reference` says."""

    name: str
    max: int
    what: str
    aws_reference: str
    min: int = 0

    def check(self, measured: int, subject: str, hint: str | None = None) -> None:
        """UserError naming this limit when `measured` lies outside it."""
        if self.min <= measured <= self.max:
            return
        bound = f"at most {self.max}" if measured > self.max else f"at least {self.min}"
        raise UserError(
            f"{subject}: {self.what} would be {measured}; AWS allows {bound}"
            f" ({self.aws_reference})",
            hint,
        )


ECR_API = "https://docs.aws.amazon.com/AmazonECR/latest/APIReference"
ECR_USER = "https://docs.aws.amazon.com/AmazonECR/latest/userguide"
LIMITS = (
    Limit(
        "repository-name",
        256,
        "the number of characters in the repository name",
        f"ECR CreateRepository repositoryName, {ECR_API}/API_CreateRepository.html",
        min=2,
    ),
    Limit(
        "tag-key",
        128,
        "the number of characters in a tag key",
        f"ECR Tag.Key, {ECR_API}/API_Tag.html",
        min=1,
    ),
    Limit(
        "tag-value",
        256,
        "the number of characters in a tag value",
        f"ECR Tag.Value and KMS TagValue, {ECR_API}/API_Tag.html",
    ),
    Limit(
        "tags",
        50,
        "the number of tags on the repository (and its KMS key)",
        f"ECR CreateRepository tags, {ECR_API}/API_CreateRepository.html",
    ),
    Limit(
        "kms-alias",
        256,
        "the number of characters in the KMS alias name (alias/ecr/NAME)",
        "KMS CreateAlias AliasName,"
        " https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html",
        min=1,
    ),
    Limit(
        "repository-policy",
        10240,
        "the number of characters in the repository policy",
        f"ECR SetRepositoryPolicy policyText, {ECR_API}/API_SetRepositoryPolicy.html",
    ),
    Limit(
        "lifecycle-policy",
        30720,
        "the number of characters in the lifecycle policy",
        f"ECR PutLifecyclePolicy lifecyclePolicyText, {ECR_API}/API_PutLifecyclePolicy.html",
        min=100,
    ),
    Limit(
        "untagged-expire-days",
        36500,
        "the number of days after which a tier's untagged images expire",
        f"ECR lifecycle policy countNumber (sinceImagePushed, a positive integer),"
        f" {ECR_USER}/lifecycle_policy_parameters.html",
        min=1,
    ),
    Limit(
        "tag-prefix",
        128,
        "the number of characters in a protected tag prefix",
        "an image tag holds at most 128 characters (Docker's tag grammar, which ECR follows),"
        f" {ECR_USER}/lifecycle_policy_parameters.html",
        min=1,
    ),
    Limit(
        "kms-key-policy",
        32768,
        "the number of bytes in the KMS key policy",
        "KMS PutKeyPolicy Policy (32 KiB),"
        " https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html",
        min=1,
    ),
    Limit(
        "scan-rules",
        2,
        "the number of registry scanning rules",
        f"ECR RegistryScanningConfiguration rules, {ECR_API}/API_RegistryScanningConfiguration.html",
    ),
    Limit(
        "scan-filters",
        100,
        "the number of repository filters in one registry scanning rule",
        f"ECR RegistryScanningRule repositoryFilters, {ECR_API}/API_RegistryScanningRule.html",
    ),
    Limit(
        "scan-filter",
        255,
        "the number of characters in a scanning repository filter",
        f"ECR ScanningRepositoryFilter filter, {ECR_API}/API_ScanningRepositoryFilter.html",
        min=1,
    ),
    Limit(
        "replication-rules",
        10,
        "the number of rules in the registry's replication configuration",
        f"ECR ReplicationConfiguration rules, {ECR_API}/API_ReplicationConfiguration.html",
    ),
    Limit(
        "replication-destinations",
        25,
        "the number of destinations of a replication rule (replication_destinations)",
        f"ECR ReplicationRule destinations, {ECR_API}/API_ReplicationRule.html",
    ),
    Limit(
        "replication-filters",
        100,
        "the number of repository filters in one replication rule",
        f"ECR ReplicationRule repositoryFilters, {ECR_API}/API_ReplicationRule.html",
    ),
    Limit(
        "replication-filter",
        256,
        "the number of characters in a replication repository filter (PREFIX_MATCH)",
        f"ECR RepositoryFilter filter, {ECR_API}/API_RepositoryFilter.html",
        min=2,
    ),
)
LIMIT = {limit.name: limit for limit in LIMITS}

KMS_ALIAS_PREFIX = "alias/ecr/"
REGISTRY_ID_PREFIX = "REGISTRY_"
# The longest name each limit leaves: the RegistryId tag derived from the name, and the KMS alias.
NAME_MAX_DERIVED_ID = LIMIT["tag-value"].max - len(REGISTRY_ID_PREFIX)
NAME_MAX_KMS = LIMIT["kms-alias"].max - len(KMS_ALIAS_PREFIX)


def check_tags(tags: dict[str, str], subject: str) -> None:
    LIMIT["tags"].check(len(tags), subject)
    for key, value in tags.items():
        LIMIT["tag-key"].check(len(key), f"{subject}: tag key {key[:40]!r}")
        hint = None
        if key == "RegistryId" and value == derive_id(subject):
            hint = f"shorten the name to {NAME_MAX_DERIVED_ID} characters, or pass a shorter --id"
        LIMIT["tag-value"].check(len(value), f"{subject}: tag {key}", hint)


def check_limits(request: RegistryRequest, tiers: dict[str, RiskTier]) -> None:
    """Refuse (UserError naming the limit) a request that AWS would refuse at apply time.

    Called by `create` (and by the commands that change or adopt an entry) before anything is
    written. Measures what the Terraform module will render from the request: its tags, the
    KMS alias of a KMS-encrypted tier, the repository policy for the principals given, and the
    tier's lifecycle policy.
    """
    tier = tiers[request.risk]
    name = request.name
    LIMIT["repository-name"].check(len(name), f"repository {name!r}")
    check_tags(rendered_tags(request, tier), name)
    if tier.encryption_type == "KMS":
        LIMIT["kms-alias"].check(
            len(KMS_ALIAS_PREFIX + name),
            name,
            f"a {request.risk}-risk repository name may be at most {NAME_MAX_KMS} characters",
        )
    policy = repository_policy_json(request)
    if policy is not None:
        LIMIT["repository-policy"].check(
            len(policy),
            f"{name}: {len(request.push_principals)} push and"
            f" {len(request.pull_principals)} pull principal(s)",
            "grant access to fewer principals (an account root ARN covers a whole account, an"
            " organization ID a whole AWS Organization)",
        )
    LIMIT["lifecycle-policy"].check(
        len(lifecycle_policy_json(tier)), f"{name}: the {request.risk} tier"
    )
