"""Governance rules (ADR-0092): naming, owners, principals, and the risk-tier table.

The tier table itself lives once, in terraform/modules/ecr/risk-tiers.json, which the Terraform
module reads too; this module only loads and checks it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from orchestrator.errors import UserError
from orchestrator.models import REQUEST_STATUSES, RISKS, RegistryRequest, RiskTier

NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
NAME_LENGTH = (2, 256)
REGISTRY_ID = re.compile(r"^REGISTRY_[A-Z0-9]+(?:_[A-Z0-9]+)*$")
OWNER = re.compile(r"^app-team-[a-z0-9]+(?:-[a-z0-9]+)*$")
PRINCIPAL = re.compile(
    r"^arn:aws[a-z-]*:iam::[0-9]{12}:(?:root|(?:role|user)/[A-Za-z0-9+=,.@_/-]+)$"
)
DESCRIPTION_MAX = 256
# AWS tag values allow letters, digits, spaces and _ . : / = + - @ ; the description becomes a tag.
DESCRIPTION_PUNCTUATION = set("_.:/=+-@ ")


def check_name(name: str) -> str:
    low, high = NAME_LENGTH
    if not low <= len(name) <= high:
        raise UserError(
            f"repository name {name!r} must be {low}-{high} characters long (it has {len(name)})"
        )
    if not NAME.fullmatch(name):
        raise UserError(
            f"repository name {name!r} is not product-based lowercase",
            "use {product}-{optional-component}: lowercase letters and digits joined by single '-',"
            " e.g. payments-gateway",
        )
    return name


def derive_id(name: str) -> str:
    return "REGISTRY_" + name.upper().replace("-", "_")


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
    status: str = "active",
) -> RegistryRequest:
    """Validate raw input into a RegistryRequest, or raise UserError naming the first problem."""
    check_name(name)
    return RegistryRequest(
        name=name,
        registry_id=check_id(registry_id if registry_id is not None else derive_id(name)),
        owner=check_owner(owner),
        risk=check_risk(risk),
        env=env,
        description=check_description(description),
        push_principals=check_principals(push_principals, "push"),
        pull_principals=check_principals(pull_principals, "pull"),
        status=check_request_status(status),
    )


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
