"""Every limit AWS enforces on what a request becomes, in one table (docs/LIMITS.md).

`check_limits` runs when a request is made (create, update, adopt), before anything is written,
rather than AWS refusing the apply once the pull request is open. It measures what the Terraform
module will render, byte for byte: `rendered_tags`, `repository_policy_json` and
`lifecycle_policy_json`. The Backstage form (catalog/templates/ecr-request/template.yaml), the
module's validations and the registry scanning cover (scanning.py) use these numbers; tests
compare each with this table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from orchestrator.errors import UserError
from orchestrator.models import RegistryRequest, RiskTier
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
)
LIMIT = {limit.name: limit for limit in LIMITS}

KMS_ALIAS_PREFIX = "alias/ecr/"
REGISTRY_ID_PREFIX = "REGISTRY_"
# The longest name each limit leaves: the RegistryId tag derived from the name, and the KMS alias.
NAME_MAX_DERIVED_ID = LIMIT["tag-value"].max - len(REGISTRY_ID_PREFIX)
NAME_MAX_KMS = LIMIT["kms-alias"].max - len(KMS_ALIAS_PREFIX)
# What terraform/modules/ecr/main.tf grants (its pull_actions and push_actions).
PULL_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
)
PUSH_ACTIONS = (
    "ecr:CompleteLayerUpload",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)


def _terraform_json(value: object) -> str:
    """JSON as Terraform's jsonencode writes it: compact, object keys sorted."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def rendered_tags(request: RegistryRequest, tier: RiskTier) -> dict[str, str]:
    """The tags the module puts on the repository (and the KMS key), as in its `locals.tags`."""
    tags = {
        "Owner": request.owner,
        "RiskTier": tier.name,
        "RegistryId": request.registry_id,
        "Environment": request.env,
        "ManagedBy": "ecrctl",
    }
    if request.description:
        tags["Description"] = request.description
    return tags


def repository_policy_json(request: RegistryRequest) -> str | None:
    """The repository policy the module renders for the request's principals (None: no policy)."""
    statements: list[dict[str, object]] = []
    if request.push_principals:
        statements.append(
            {
                "Sid": "AllowPush",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(set(request.push_principals))},
                "Action": sorted(PUSH_ACTIONS + PULL_ACTIONS),
            }
        )
    if request.pull_principals:
        statements.append(
            {
                "Sid": "AllowPull",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(set(request.pull_principals))},
                "Action": list(PULL_ACTIONS),
            }
        )
    if not statements:
        return None
    return _terraform_json({"Version": "2012-10-17", "Statement": statements})


def lifecycle_rules(tier: RiskTier) -> list[dict[str, object]]:
    """The tier's lifecycle rules, in the order ECR evaluates them (rulePriority 1 first).

    ECR expires an image by at most one rule, and an image that matches the tag selection of a
    rule cannot be expired by a later one. So each protected prefix comes first with a count far
    above any repository's (its images are kept), then the untagged rule (expired by age), and
    the count rule last: a rule with tagStatus "any" must have the highest rulePriority. One
    rule per prefix because a tagPrefixList of several prefixes selects only images that carry
    all of them.
    """
    rules: list[dict[str, object]] = []
    for prefix in sorted(set(tier.protected_tag_prefixes)):
        rules.append(
            {
                "rulePriority": len(rules) + 1,
                "description": f"Keep images tagged {prefix}* ({tier.name} risk tier)",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": [prefix],
                    "countType": "imageCountMoreThan",
                    "countNumber": tier.protected_tag_keep_count,
                },
                "action": {"type": "expire"},
            }
        )
    rules.append(
        {
            "rulePriority": len(rules) + 1,
            "description": f"Expire untagged images after {tier.untagged_expire_days} days"
            f" ({tier.name} risk tier)",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": tier.untagged_expire_days,
            },
            "action": {"type": "expire"},
        }
    )
    rules.append(
        {
            "rulePriority": len(rules) + 1,
            "description": f"Keep the last {tier.keep_image_count} images ({tier.name} risk tier)",
            "selection": {
                "tagStatus": "any",
                "countType": "imageCountMoreThan",
                "countNumber": tier.keep_image_count,
            },
            "action": {"type": "expire"},
        }
    )
    return rules


def lifecycle_policy_json(tier: RiskTier) -> str:
    """The lifecycle policy the module renders for a tier (main.tf local.lifecycle_policy)."""
    return _terraform_json({"rules": lifecycle_rules(tier)})


# What ECR does with a repository's key through the service (the AWS-managed aws/ecr key's list).
ECR_KEY_ACTIONS = (
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
)


def account_root(account_id: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account_id}:root"


def ecr_service(region: str) -> str:
    return f"ecr.{region}.amazonaws.com"


def key_policy_json(account_id: str, region: str, partition: str = "aws") -> str:
    """The KMS key policy the module renders for a high-tier key (main.tf local.key_policy): the
    account administers the key (AWS's default statement), ECR uses it for the account's
    principals through the service only."""
    return _terraform_json(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministration",
                    "Effect": "Allow",
                    "Principal": {"AWS": account_root(account_id, partition)},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "EcrUseThroughTheService",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": list(ECR_KEY_ACTIONS),
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            "kms:CallerAccount": account_id,
                            "kms:ViaService": ecr_service(region),
                        }
                    },
                },
            ],
        }
    )


def key_policy_grants_beyond(text: str | None, account_id: str, region: str) -> list[str]:
    """What a key policy allows beyond the module's: each Allow statement that is neither to the
    account root nor conditioned on ECR's use for the account (kms:ViaService ecr.REGION and
    kms:CallerAccount). Empty: no wider than the module's policy. An unreadable policy is one
    finding."""
    try:
        document = json.loads(text or "")
        statements = document["Statement"]
    except (ValueError, KeyError, TypeError):
        return ["the key policy could not be read"]
    if isinstance(statements, dict):
        statements = [statements]
    roots = {account_root(account_id, p) for p in ("aws", "aws-cn", "aws-us-gov")} | {account_id}
    found = []
    for i, statement in enumerate(statements if isinstance(statements, list) else []):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        label = str(statement.get("Sid") or f"statement {i + 1}")
        principal = statement.get("Principal")
        aws = principal.get("AWS") if isinstance(principal, dict) else principal
        named = (
            {aws} if isinstance(aws, str) else set(aws or []) if isinstance(aws, list) else set()
        )
        others = (
            {f"{kind} {value}" for kind, value in principal.items() if kind != "AWS"}
            if isinstance(principal, dict)
            else set()
        )
        if named and named <= roots and not others and "NotPrincipal" not in statement:
            continue
        equals = (statement.get("Condition") or {}).get("StringEquals") or {}
        if (
            isinstance(equals, dict)
            and equals.get("kms:CallerAccount") == account_id
            and equals.get("kms:ViaService") == ecr_service(region)
        ):
            continue
        who = ", ".join(sorted(named | others)) or "NotPrincipal"
        found.append(f"{label} allows {who}")
    return found


@dataclass(frozen=True)
class Retention:
    """What a lifecycle policy keeps, in the tier table's terms (read_lifecycle_policy)."""

    keep_image_count: int | None  # the count rule's number; None: no count rule
    untagged_expire_days: int = 0  # 0: untagged images are not expired by age
    protected_tag_prefixes: tuple[str, ...] = ()
    exact: bool = True  # False: the policy holds rules of other shapes too

    def to_settings(self) -> dict[str, object]:
        found: dict[str, object] = {
            "untagged_expire_days": self.untagged_expire_days,
            "protected_tag_prefixes": self.protected_tag_prefixes,
        }
        if self.keep_image_count is not None:
            found["keep_image_count"] = self.keep_image_count
        return found

    def describe(self) -> str:
        parts = []
        if self.keep_image_count is not None:
            parts.append(f"keeps {self.keep_image_count} images")
        if self.untagged_expire_days:
            parts.append(f"untagged expire after {self.untagged_expire_days} days")
        if self.protected_tag_prefixes:
            parts.append("keeps tags " + ", ".join(p + "*" for p in self.protected_tag_prefixes))
        if not self.exact:
            parts.append("other rules")
        return "; ".join(parts) or "other rules"


def retention_of_tier(tier: RiskTier) -> Retention:
    return Retention(
        tier.keep_image_count,
        tier.untagged_expire_days,
        tuple(sorted(set(tier.protected_tag_prefixes))),
    )


def read_lifecycle_policy(text: str | None) -> Retention | None:
    """What a lifecycle policy keeps, read rule by rule; None when there is none or it is not
    JSON with a list of rules. Rules of any other shape make it `exact=False`."""
    try:
        rules = json.loads(text or "")["rules"]
        if not isinstance(rules, list):
            return None
    except (ValueError, KeyError, TypeError):
        return None
    keep: int | None = None
    days = 0
    prefixes: list[str] = []
    exact = True
    for rule in rules:
        try:
            selection = rule["selection"]
            status, count = selection.get("tagStatus"), selection.get("countType")
            expire = rule.get("action", {}).get("type") == "expire"
            if expire and status == "any" and count == "imageCountMoreThan":
                keep = int(selection["countNumber"])
            elif expire and status == "untagged" and count == "sinceImagePushed":
                days = int(selection["countNumber"])
            elif (
                expire
                and status == "tagged"
                and count == "imageCountMoreThan"
                and len(selection.get("tagPrefixList") or []) == 1
            ):
                prefixes.append(str(selection["tagPrefixList"][0]))
            else:
                exact = False
        except (KeyError, TypeError, ValueError, AttributeError):
            exact = False
    return Retention(keep, days, tuple(sorted(prefixes)), exact)


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
            "grant access to fewer principals (an account root ARN covers a whole account)",
        )
    LIMIT["lifecycle-policy"].check(
        len(lifecycle_policy_json(tier)), f"{name}: the {request.risk} tier"
    )
