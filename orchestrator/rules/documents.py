"""What the Terraform module renders from a request and its tier, byte for byte: the tags, the
repository policy, the lifecycle policy and the KMS key policy; and the readers of what a
registry holds for the last three (adopt's conformance report, the reviewer's settings).

rules/limits.py measures these against AWS's limits; tests compare each with what Terraform
renders (tests/integration/test_files_terraform.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from orchestrator.models import RegistryRequest, RiskTier, principal_kind, principal_label
from orchestrator.rules import policy

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


# Every AWS account ID has 12 digits: the account in a service statement never changes the
# policy's length, so limits.py measures with this one.
ANY_ACCOUNT = "000000000000"
ORGANIZATION_KEY = "aws:PrincipalOrgID"
SOURCE_ACCOUNT_KEY = "aws:SourceAccount"


def split_pull(principals: Iterable[str]) -> tuple[list[str], list[str], list[str]]:
    """Pull principals by kind, each sorted and deduplicated: (IAM ARNs, organizations, services)."""
    found: dict[str, set[str]] = {"iam": set(), "organization": set(), "service": set()}
    for principal in principals:
        found[principal_kind(principal)].add(principal)
    return sorted(found["iam"]), sorted(found["organization"]), sorted(found["service"])


def repository_policy_json(request: RegistryRequest, account_id: str = ANY_ACCOUNT) -> str | None:
    """The repository policy the module renders for the request's principals (None: no policy).

    One statement per kind of grant, in the module's order: push (IAM ARNs; none while
    deprecated), pull to IAM ARNs, pull to whole AWS Organizations (any IAM principal whose
    account is in one of them, aws:PrincipalOrgID), pull to AWS services acting for this
    account only (aws:SourceAccount, against the confused deputy). `account_id` is the
    registry's account (the module's data.aws_caller_identity)."""
    statements: list[dict[str, object]] = []
    push = () if request.deprecated else request.push_principals
    iam, organizations, services = split_pull(request.pull_principals)
    if push:
        statements.append(
            {
                "Sid": "AllowPush",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(set(push))},
                "Action": sorted(PUSH_ACTIONS + PULL_ACTIONS),
            }
        )
    if iam:
        statements.append(
            {
                "Sid": "AllowPull",
                "Effect": "Allow",
                "Principal": {"AWS": iam},
                "Action": list(PULL_ACTIONS),
            }
        )
    if organizations:
        statements.append(
            {
                "Sid": "AllowPullOrganization",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": list(PULL_ACTIONS),
                "Condition": {"StringEquals": {ORGANIZATION_KEY: organizations}},
            }
        )
    if services:
        statements.append(
            {
                "Sid": "AllowPullService",
                "Effect": "Allow",
                "Principal": {"Service": services},
                "Action": list(PULL_ACTIONS),
                "Condition": {"StringEquals": {SOURCE_ACCOUNT_KEY: account_id}},
            }
        )
    if not statements:
        return None
    return _terraform_json({"Version": "2012-10-17", "Statement": statements})


@dataclass(frozen=True)
class Grants:
    """What a repository policy grants, in a request's terms (read_repository_policy)."""

    push: tuple[str, ...] = ()
    pull: tuple[str, ...] = ()  # IAM ARNs, organization IDs and services
    other: tuple[str, ...] = ()  # statements of a shape the module never writes, described

    def describe(self) -> str:
        parts = []
        if self.push:
            parts.append("push: " + ", ".join(self.push))
        if self.pull:
            parts.append("pull: " + ", ".join(principal_label(p) for p in self.pull))
        parts += self.other
        return "; ".join(parts) or "nothing"


def grants_of_request(request: RegistryRequest) -> Grants:
    push = () if request.deprecated else request.push_principals
    return Grants(tuple(sorted(set(push))), tuple(sorted(set(request.pull_principals))))


def _strings(value: object) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _condition(statement: dict[str, Any], key: str) -> list[str] | None:
    """The values of the statement's one condition, StringEquals `key`; None for any other."""
    condition = statement.get("Condition")
    if not isinstance(condition, dict) or list(condition) != ["StringEquals"]:
        return None
    equals = condition["StringEquals"]
    if not isinstance(equals, dict) or list(equals) != [key]:
        return None
    return _strings(equals[key])


def _grant(statement: object, account_id: str) -> tuple[str, list[str]] | None:
    """("push" | "pull", principals) for a statement of a shape the module writes, else None."""
    if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
        return None
    if set(statement) - {"Sid", "Effect", "Principal", "Action", "Condition"}:
        return None
    actions = set(_strings(statement.get("Action")) or ())
    principal = statement.get("Principal")
    if principal == "*":
        principal = {"AWS": "*"}
    if not isinstance(principal, dict) or len(principal) != 1:
        return None
    ((kind, value),) = principal.items()
    named = _strings(value) or []
    if kind == "AWS" and named == ["*"]:
        organizations = _condition(statement, ORGANIZATION_KEY) or []
        ours = organizations and all(policy.ORGANIZATION.fullmatch(o) for o in organizations)
        return ("pull", organizations) if ours and actions == set(PULL_ACTIONS) else None
    if kind == "AWS" and named and "Condition" not in statement:
        if not all(policy.IAM_PRINCIPAL.fullmatch(a) for a in named):
            return None
        if actions == set(PUSH_ACTIONS + PULL_ACTIONS):
            return "push", named
        return ("pull", named) if actions == set(PULL_ACTIONS) else None
    if (
        kind == "Service"
        and named
        and actions == set(PULL_ACTIONS)
        and _condition(statement, SOURCE_ACCOUNT_KEY) == [account_id]
        and all(s in policy.PULL_SERVICES for s in named)
    ):
        return "pull", named
    return None


def _describe_statement(statement: object, index: int) -> str:
    if not isinstance(statement, dict):
        return f"statement {index + 1} is not a statement"
    label = str(statement.get("Sid") or f"statement {index + 1}")
    verb = "denies" if statement.get("Effect") == "Deny" else "allows"
    who = statement.get("Principal", statement.get("NotPrincipal", "?"))
    return f"{label} {verb} {json.dumps(who, sort_keys=True)}"


def read_repository_policy(text: str | None, account_id: str) -> Grants | None:
    """What a repository policy grants: the principals of each statement of a shape the module
    writes (a push or pull grant to IAM ARNs, a pull grant to organizations, a pull grant to
    services for `account_id`), and every other statement described as "SID allows WHO". None
    when there is no policy or it is not a JSON policy document."""
    try:
        statements = json.loads(text or "")["Statement"]
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return None
    push: set[str] = set()
    pull: set[str] = set()
    other: list[str] = []
    for i, statement in enumerate(statements):
        grant = _grant(statement, account_id)
        if grant is not None:
            (push if grant[0] == "push" else pull).update(grant[1])
            continue
        other.append(_describe_statement(statement, i))
    return Grants(tuple(sorted(push)), tuple(sorted(pull)), tuple(other))


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
