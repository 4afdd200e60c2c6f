"""The one risk-tier table (terraform/modules/ecr/risk-tiers.json), read by Terraform and here."""

from __future__ import annotations

import json
import re
from pathlib import Path

from orchestrator.errors import UserError
from orchestrator.models import RISKS, RiskTier
from orchestrator.rules.limits import LIMIT

# The characters of an image tag (Docker's grammar, which ECR follows); a prefix of one.
# Whether a tier's repositories replicate: always, when the request asks, never.
REPLICATION = ("required", "allowed", "none")
TAG_PREFIX = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def load(path: Path) -> dict[str, RiskTier]:
    """Read the table; refuse one that does not cover exactly low/medium/high."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        frequencies = data["scan_frequencies"]
        keep_protected = int(data["protected_tag_keep_count"])
        tiers = {
            name: RiskTier(
                name=name,
                image_tag_mutability=row["image_tag_mutability"],
                encryption_type=row["encryption_type"],
                keep_image_count=int(row["keep_image_count"]),
                scanning=row["scanning"],
                scan_frequency=frequencies[row["scanning"]],
                untagged_expire_days=int(row["untagged_expire_days"]),
                protected_tag_prefixes=tuple(str(p) for p in row["protected_tag_prefixes"]),
                protected_tag_keep_count=keep_protected,
                replication=str(row["replication"]),
            )
            for name, row in data["tiers"].items()
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: unreadable risk-tier table ({exc})") from None
    if sorted(tiers) != sorted(RISKS):
        raise UserError(f"{path}: tiers must be exactly {', '.join(RISKS)}")
    for tier in tiers.values():
        _check_lifecycle(path, tier)
        if tier.replication not in REPLICATION:
            raise UserError(
                f"{path}: tier {tier.name}: replication {tier.replication!r} is not one of"
                f" {', '.join(REPLICATION)}"
            )
    return tiers


def _check_lifecycle(path: Path, tier: RiskTier) -> None:
    """The lifecycle columns of a row, as ECR would take them (the module renders them as is)."""
    subject = f"{path}: tier {tier.name}"
    LIMIT["untagged-expire-days"].check(tier.untagged_expire_days, subject)
    prefixes = tier.protected_tag_prefixes
    if len(set(prefixes)) != len(prefixes):
        # ECR refuses a policy whose rules repeat a tag prefix.
        raise UserError(f"{subject}: protected_tag_prefixes repeats a prefix")
    for prefix in prefixes:
        LIMIT["tag-prefix"].check(len(prefix), f"{subject}: protected tag prefix {prefix[:40]!r}")
        if not TAG_PREFIX.match(prefix):
            raise UserError(
                f"{subject}: protected tag prefix {prefix!r} is not the start of an image tag"
                " (letters, digits, _ . -, not starting with . or -)"
            )
    if tier.protected_tag_keep_count <= tier.keep_image_count:
        raise UserError(
            f"{path}: protected_tag_keep_count must exceed every tier's keep_image_count"
        )
