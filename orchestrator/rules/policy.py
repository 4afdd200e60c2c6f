"""Governance rules (ADR-0092): naming, owners, principals, and the risk-tier table.

The tier table itself lives once, in terraform/modules/ecr/risk-tiers.json, which the Terraform
module reads too; this module only loads and checks it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from orchestrator.errors import UserError
from orchestrator.models import REQUEST_STATUSES, RISKS, RegistryRequest, RiskTier

NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
NAME_LENGTH = (2, 256)
# ECR's own rule (CreateRepository repositoryName): what an existing repository may be called.
# Only an adopted repository may have a name outside NAME (ADR-0092 binds new requests).
_ECR_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
ECR_NAME = re.compile(rf"^{_ECR_PART}(?:/{_ECR_PART})*$")
# What `ecrctl adopt` may mark for import besides the repository (terraform/imports.tf).
ADOPT_PARTS = ("repository", "repository_policy", "kms_alias")
KMS_KEY_ID = re.compile(r"^[A-Za-z0-9-]{1,128}$")
REGISTRY_ID = re.compile(r"^REGISTRY_[A-Z0-9]+(?:_[A-Z0-9]+)*$")
OWNER = re.compile(r"^app-team-[a-z0-9]+(?:-[a-z0-9]+)*$")
PRINCIPAL = re.compile(
    r"^arn:aws[a-z-]*:iam::[0-9]{12}:(?:root|(?:role|user)/[A-Za-z0-9+=,.@_/-]+)$"
)
DESCRIPTION_MAX = 256
# AWS tag values allow letters, digits, spaces and _ . : / = + - @ ; the description becomes a tag.
DESCRIPTION_PUNCTUATION = set("_.:/=+-@ ")


def _check_length(name: str) -> None:
    low, high = NAME_LENGTH
    if not low <= len(name) <= high:
        raise UserError(
            f"repository name {name!r} must be {low}-{high} characters long (it has {len(name)})"
        )


def check_name(name: str) -> str:
    """ADR-0092's rule, for a new request: {product}-{optional-component}."""
    _check_length(name)
    if not NAME.fullmatch(name):
        raise UserError(
            f"repository name {name!r} is not product-based lowercase",
            "use {product}-{optional-component}: lowercase letters and digits joined by single '-',"
            " e.g. payments-gateway",
        )
    return name


def check_ecr_name(name: str) -> str:
    """ECR's rule, for a repository that exists already (adopted) or a name to look up."""
    _check_length(name)
    if not ECR_NAME.fullmatch(name):
        raise UserError(
            f"repository name {name!r} is not a valid ECR repository name",
            "ECR names are lowercase letters and digits separated by '.', '_', '__', '-' or '/'",
        )
    return name


def derive_id(name: str) -> str:
    """REGISTRY_ + the name in uppercase, every run of '-', '_', '.' or '/' one '_'.

    Distinct ECR names can map to one ID (team/app, team-app, team_app): the catalog keeps IDs
    unique, so the second one needs an explicit --id.
    """
    return "REGISTRY_" + re.sub(r"[-_./]+", "_", name.upper())


def check_id(registry_id: str) -> str:
    if not REGISTRY_ID.fullmatch(registry_id):
        raise UserError(
            f"registry ID {registry_id!r} does not match REGISTRY_{{PRODUCT}}",
            "use uppercase letters and digits joined by '_', e.g. REGISTRY_PAYMENTS_GATEWAY,"
            " or omit --id to derive it from the name",
        )
    return registry_id


def check_owner(owner: str) -> str:
    if not OWNER.fullmatch(owner):
        raise UserError(
            f"owner {owner!r} is not an app team",
            "owners are app-team-{name} in lowercase, e.g. app-team-payments",
        )
    return owner


def check_risk(risk: str) -> str:
    if risk not in RISKS:
        raise UserError(f"risk {risk!r} is not one of {', '.join(RISKS)}")
    return risk


def check_principals(principals: Iterable[str], kind: str) -> tuple[str, ...]:
    seen: list[str] = []
    for arn in principals:
        if not PRINCIPAL.fullmatch(arn):
            raise UserError(
                f"{kind} principal {arn!r} is not an IAM role, user or account root ARN",
                "e.g. arn:aws:iam::123456789012:role/ci-publisher",
            )
        if arn not in seen:
            seen.append(arn)
    return tuple(sorted(seen))


def check_description(description: str) -> str:
    # Terraform reads every string in Unicode NFC ("\u212b" becomes "\u00c5"): keep the
    # description as Terraform and AWS will hold it, so that the catalog agrees with them.
    description = unicodedata.normalize("NFC", description)
    if len(description) > DESCRIPTION_MAX:
        raise UserError(f"description is longer than {DESCRIPTION_MAX} characters")
    for char in description:
        if not (char in DESCRIPTION_PUNCTUATION or unicodedata.category(char)[0] in "LN"):
            raise UserError(
                f"description contains {char!r}, which AWS does not allow in a tag value",
                "use letters, digits, spaces and _ . : / = + - @",
            )
    return description


def build_request(
    *,
    name: str,
    env: str,
    owner: str,
    risk: str,
    registry_id: str | None = None,
    description: str = "",
    push_principals: Iterable[str] = (),
    pull_principals: Iterable[str] = (),
    adopt: Iterable[str] = (),
    adopt_kms_key: str = "",
    ecr_name: bool = False,
    status: str = "active",
) -> RegistryRequest:
    """Validate raw input into a RegistryRequest, or raise UserError naming the first problem.

    `ecr_name` holds the name to ECR's rule only (an adopted repository), not ADR-0092's.
    """
    check_ecr_name(name) if ecr_name else check_name(name)
    return RegistryRequest(
        name=name,
        registry_id=check_id(registry_id if registry_id is not None else derive_id(name)),
        owner=check_owner(owner),
        risk=check_risk(risk),
        env=env,
        description=check_description(description),
        push_principals=check_principals(push_principals, "push"),
        pull_principals=check_principals(pull_principals, "pull"),
        adopt=check_adopt(adopt, adopt_kms_key),
        adopt_kms_key=adopt_kms_key,
        status=check_request_status(status),
    )


def check_adopt(parts: Iterable[str], kms_key: str) -> tuple[str, ...]:
    """The import markers of an adopted entry: the repository first, then what else exists."""
    found = tuple(parts)
    unknown = [p for p in found if p not in ADOPT_PARTS]
    if unknown:
        raise UserError(f"adopt holds {unknown[0]!r}; allowed: {', '.join(ADOPT_PARTS)}")
    if found and found != tuple(p for p in ADOPT_PARTS if p in found):
        raise UserError(
            f"adopt must list its parts once each, in the order {', '.join(ADOPT_PARTS)}"
        )
    if (found or kms_key) and "repository" not in found:
        raise UserError('adopt must start with "repository"')
    if kms_key and not KMS_KEY_ID.fullmatch(kms_key):
        raise UserError(f"adopt_kms_key {kms_key!r} is not a KMS key ID")
    return found


def check_request_status(status: str) -> str:
    if status not in REQUEST_STATUSES:
        raise UserError(f"status {status!r} is not one of {', '.join(REQUEST_STATUSES)}")
    return status


@cache
def load_tiers(path: Path) -> dict[str, RiskTier]:
    """Read the one risk-tier table; refuse a table that does not cover exactly low/medium/high."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        frequencies = data["scan_frequencies"]
        tiers = {
            name: RiskTier(
                name=name,
                image_tag_mutability=row["image_tag_mutability"],
                encryption_type=row["encryption_type"],
                keep_image_count=int(row["keep_image_count"]),
                scanning=row["scanning"],
                scan_frequency=frequencies[row["scanning"]],
            )
            for name, row in data["tiers"].items()
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: unreadable risk-tier table ({exc})") from None
    if sorted(tiers) != sorted(RISKS):
        raise UserError(f"{path}: tiers must be exactly {', '.join(RISKS)}")
    return tiers


# -- AWS limits ------------------------------------------------------------------------------
# Every limit AWS enforces on what a request becomes, in one table, checked when the request is
# made (`check_limits`) rather than at plan or apply time. The Backstage form
# (catalog/templates/ecr-request/template.yaml), the Terraform module's validations and the
# registry scanning cover (scanning.py) use these numbers; tests compare each with this table.


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


def lifecycle_policy_json(tier: RiskTier) -> str:
    """The lifecycle policy the module renders for a tier."""
    return _terraform_json(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"Keep the last {tier.keep_image_count} images"
                    f" ({tier.name} risk tier)",
                    "selection": {
                        "tagStatus": "any",
                        "countType": "imageCountMoreThan",
                        "countNumber": tier.keep_image_count,
                    },
                    "action": {"type": "expire"},
                }
            ]
        }
    )


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
