"""The one risk-tier table (terraform/modules/ecr/risk-tiers.json), read by Terraform and here."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.errors import UserError
from orchestrator.models import RISKS, RiskTier


def load(path: Path) -> dict[str, RiskTier]:
    """Read the table; refuse one that does not cover exactly low/medium/high."""
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
