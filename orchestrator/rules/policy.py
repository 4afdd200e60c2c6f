"""Governance rules (ADR-0092): naming, owners, principals, and the risk-tier table.

The tier table itself lives once, in terraform/modules/ecr/risk-tiers.json, which the Terraform
module reads too; files/tiers.py loads and checks it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from orchestrator.errors import UserError
from orchestrator.models import REQUEST_STATUSES, RISKS, RegistryRequest

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
# The three kinds of principal a repository policy grants (rules/documents.py renders each).
# Push: IAM ARNs only. Pull: also a whole AWS Organization (aws:PrincipalOrgID, AWS's own pattern
# for an organization ID) or an AWS service acting for this account (aws:SourceAccount). The
# module's variable validations and the "request access" Backstage form hold copies of these
# patterns; tests prove they agree (tests/unit/test_principals.py, test_access_template.py).
_IAM = r"arn:aws[a-z-]*:iam::[0-9]{12}:(?:root|(?:role|user)/[A-Za-z0-9+=,.@_/-]+)"
_ORGANIZATION = r"o-[a-z0-9]{10,32}"
IAM_PRINCIPAL = re.compile(f"^{_IAM}$")
ORGANIZATION = re.compile(f"^{_ORGANIZATION}$")
# What an AWS service principal looks like (SERVICE.amazonaws.com) ...
SERVICE = re.compile(r"^[a-z0-9][a-z0-9-]*(?:\.[a-z0-9][a-z0-9-]*)*\.amazonaws\.com$")
# ... and the services that pull from ECR as themselves, through the repository policy, with the
# pull actions the module grants: Lambda (container-image functions) and CodeBuild (a build
# image with CODEBUILD pull credentials). Anything else is refused: ECS tasks, EKS nodes, Batch
# and App Runner pull with an IAM role (grant its ARN), EMR Serverless also needs
# ecr:DescribeImages, and a typo such as lamda.amazonaws.com would otherwise grant nothing
# silently, or grant a service that may act for other accounts' resources.
PULL_SERVICES = ("codebuild.amazonaws.com", "lambda.amazonaws.com")
PULL_PRINCIPAL = re.compile(
    "^(?:" + "|".join([_IAM, _ORGANIZATION, *(re.escape(s) for s in PULL_SERVICES)]) + ")$"
)
PRINCIPAL_FORMS = (
    "an IAM role, user or account root ARN (arn:aws:iam::123456789012:role/deployer),"
    " an AWS Organization ID (o- and 10 to 32 lowercase letters or digits) or a service"
    f" that pulls from ECR ({', '.join(PULL_SERVICES)})"
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
    """`kind` "push": IAM ARNs only; "pull": IAM ARNs, organization IDs or PULL_SERVICES.
    Sorted and deduplicated, as the module holds them."""
    seen: list[str] = []
    for principal in principals:
        if kind == "push":
            _check_push_principal(principal)
        else:
            _check_pull_principal(principal)
        if principal not in seen:
            seen.append(principal)
    return tuple(sorted(seen))


def _check_push_principal(principal: str) -> None:
    if IAM_PRINCIPAL.fullmatch(principal):
        return
    if ORGANIZATION.fullmatch(principal) or SERVICE.fullmatch(principal):
        what = "an AWS Organization" if ORGANIZATION.fullmatch(principal) else "a service"
        raise UserError(
            f"push principal {principal!r} is {what}: organizations and services may only"
            " pull, never push",
            "grant it pull instead; push needs an IAM role, user or account root ARN, e.g."
            " arn:aws:iam::123456789012:role/ci-publisher",
        )
    raise UserError(
        f"push principal {principal!r} is not an IAM role, user or account root ARN",
        "e.g. arn:aws:iam::123456789012:role/ci-publisher",
    )


def _check_pull_principal(principal: str) -> None:
    if PULL_PRINCIPAL.fullmatch(principal):
        return
    if SERVICE.fullmatch(principal):
        raise UserError(
            f"pull principal {principal!r} is not a service that pulls from ECR through a"
            f" repository policy ({', '.join(PULL_SERVICES)})",
            "ECS tasks, EKS nodes, Batch and App Runner pull with an IAM role: grant that"
            " role's ARN, e.g. arn:aws:iam::123456789012:role/ecs-task-execution",
        )
    raise UserError(
        f"pull principal {principal!r} is not {PRINCIPAL_FORMS}",
        "e.g. arn:aws:iam::123456789012:role/deployer, o-a1b2c3d4e5 or lambda.amazonaws.com",
    )


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
    replicate: bool = False,
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
        replicate=replicate,
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
