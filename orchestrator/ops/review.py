"""What a reviewer sees: for each repository of a plan, the settings that will hold.

Derived from the request (the tfvars entry) and the risk-tier table, never from a provider load.
For a repository Terraform already manages, the settings it holds now come from the prior state
the plan refreshed (the `tfstate` inside the saved plan, adapters/planfile.prior_state; read by
adapters/state.settings_of, with no provider load): a setting changed behind Terraform's back
shows as the change the plan makes, not as what the last apply left.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestrator.adapters.state import settings_of
from orchestrator.models import (
    RegistryRequest,
    ResourceChange,
    Review,
    RiskTier,
    settings_of_request,
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
    destinations: Iterable[str] = (),
) -> tuple[Review, ...]:
    """The review of each named repository; `state` gives the before of existing ones, and
    `destinations` (the environment's replication_destinations) where the after replicates."""
    destinations = tuple(destinations)
    found = []
    for name in sorted(names):
        request = requests.get(name)
        before = settings_of(state, name, tiers) if state is not None else None
        after = settings_of_request(request, tiers, destinations) if request is not None else None
        found.append(Review(name, before, after))
    return tuple(found)
