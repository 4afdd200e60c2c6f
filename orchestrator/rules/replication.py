"""Registry replication: which repositories replicate, where, and the filters that choose them.

ECR replicates by one registry-wide `aws_ecr_replication_configuration`: at most 10 rules, each
with at most 25 destinations (a region, and a registry: this account or another) and at most
100 repository filters, PREFIX_MATCH only (limits.LIMITS). ecrctl writes one rule: every
replicating repository goes to every destination the environment declares
(`replication_destinations`, a reviewed tfvars setting, rules/settings.py). The moto emulator
refuses a second rule, and one rule keeps "what replicates where" one line long.

Which repositories replicate is the tier table's (risk-tiers.json `replication`): "required"
(high: production images must survive the loss of a region), "allowed" (medium: the request
asks, `--replicate` / `replicate = true`), "none" (low: scratch and development images are not
worth their storage in every destination region). An environment without destinations
replicates nothing, whatever the tiers say (a development environment has no DR region).

The filters are the scanning cover's problem again, solved by rules/cover.py: every repository
that must replicate is matched, as few others as possible (those are "over-replicated", listed
beside a plan), within 100 filters of 2 to 256 characters. files/scan_filters.py writes them
into the tfvars as `registry_replication_filters`; terraform/registry.tf refuses (preconditions)
filters that leave a replicating repository out or that are too many.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import UserError
from orchestrator.models import PlanResult, RegistryRequest, RiskTier
from orchestrator.rules import cover as shared
from orchestrator.rules.cover import Cover
from orchestrator.rules.limits import LIMIT

VARIABLE = "registry_replication_filters"
DESTINATIONS = "replication_destinations"
SOURCES = "replication_sources"
MAX_FILTERS = LIMIT["replication-filters"].max
MAX_DESTINATIONS = LIMIT["replication-destinations"].max
FILTER_MIN, FILTER_MAX = LIMIT["replication-filter"].min, LIMIT["replication-filter"].max
# RepositoryFilter.filter's pattern in the ECR API reference.
FILTER_PATTERN = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]*)*/)*[a-z0-9]*(?:[._-][a-z0-9]*)*$")
ADDRESS = "aws_ecr_replication_configuration.this[0]"
POLICY_ADDRESS = "aws_ecr_registry_policy.this[0]"


@dataclass(frozen=True)
class Destination:
    """One replication destination: a region, and another account's registry or this one."""

    region: str
    registry_id: str | None = None  # None: the environment's own account

    def __str__(self) -> str:
        return f"{self.region} ({self.registry_id})" if self.registry_id else self.region

    def to_dict(self) -> dict[str, Any]:
        return {"region": self.region, "registry_id": self.registry_id}


def policy_accounts(policy: Any) -> list[str] | None:
    """The accounts a registry policy (registry.tf's, as a state holds it) lets replicate in,
    sorted; None for a document of another shape."""
    try:
        document = json.loads(policy) if isinstance(policy, str) else None
        statements = document["Statement"] if isinstance(document, dict) else None
        principals = [s["Principal"]["AWS"] for s in statements or []]
    except (ValueError, KeyError, TypeError):
        return None
    arns = [a for p in principals for a in ([p] if isinstance(p, str) else p)]
    found = [m.group(1) for a in arns if (m := _ROOT.fullmatch(str(a)))]
    return sorted(found) if len(found) == len(arns) else None


_ROOT = re.compile(r"arn:aws[a-z-]*:iam::([0-9]{12}):root")


def destinations_of(value: Any) -> tuple[Destination, ...]:
    """The destinations a tfvars' replication_destinations holds (malformed ones left out:
    rules/settings.py reports them)."""
    found = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and isinstance(item.get("region"), str):
            registry = item.get("registry_id")
            found.append(
                Destination(item["region"], registry if isinstance(registry, str) else None)
            )
    return tuple(found)


def check_request(request: RegistryRequest, tier: RiskTier) -> None:
    """Refuse `replicate` on a tier that never replicates."""
    if request.replicate and tier.replication == "none":
        raise UserError(
            f"{request.name}: the {request.risk} tier does not replicate (risk-tiers.json:"
            f' replication "none"); nothing was changed',
            "pass --no-replicate (or drop --replicate; replicate = true in a file), or ask for a tier that replicates"
            " (medium allows it, high requires it)",
        )


def replicated_names(
    entries: Mapping[str, RegistryRequest], tiers: Mapping[str, RiskTier]
) -> tuple[list[str], list[str]]:
    """(names whose tier requires replication or allows it and they ask, the other names)."""
    wanted = [n for n, r in entries.items() if tiers[r.risk].replicates(r.replicate)]
    chosen = set(wanted)
    return wanted, [n for n in entries if n not in chosen]


def _spell(prefix: str, parent_len: int) -> str | None:
    """A PREFIX_MATCH filter is the prefix itself, of at least 2 characters (ECR's minimum)."""
    if len(prefix) >= FILTER_MIN:
        return prefix[:FILTER_MAX]
    # A one-character trie node: a longer prefix on its path would match fewer names; only
    # its children (or names of 2+ characters below it) can hold a filter.
    return None


def cover(wanted: Iterable[str], others: Iterable[str], max_filters: int = MAX_FILTERS) -> Cover:
    """The least over-replicating PREFIX_MATCH cover of `wanted` in at most `max_filters`."""
    wanted = list(wanted)
    try:
        return shared.cover(wanted, others, max_filters, _spell)
    except shared.NoCover:
        raise UserError(
            f"{len(wanted)} repositories replicate, and no {max_filters} prefix filters of at"
            f" least {FILTER_MIN} characters match them all (ECR's limit per replication rule)",
            "give the replicating repositories shared product prefixes (ADR-0092), or fewer of"
            " them replication",
        ) from None


def cover_of(entries: Mapping[str, RegistryRequest], tiers: Mapping[str, RiskTier]) -> Cover:
    wanted, rest = replicated_names(entries, tiers)
    return cover(wanted, rest)


def matches(prefix: str, name: str) -> bool:
    return name.startswith(prefix)


def uncovered(filters: Iterable[str], wanted: Iterable[str]) -> list[str]:
    filters = list(filters)
    return [n for n in wanted if not any(matches(f, n) for f in filters)]


def check_filters(
    written: list[str] | None,
    entries: Mapping[str, RegistryRequest],
    tiers: Mapping[str, RiskTier],
) -> list[str]:
    """What is wrong with a tfvars' replication filters (`written`, None when it sets none):
    a replicating repository left out, too many filters, a filter ECR refuses."""
    wanted, _ = replicated_names(entries, tiers)
    if written is None:  # registry.tf falls back to one filter per name
        written = sorted(wanted)
    problems = []
    if len(written) > MAX_FILTERS:
        problems.append(
            f"{VARIABLE} holds {len(written)} filters; ECR allows at most {MAX_FILTERS} per"
            " replication rule"
        )
    bad = [
        f
        for f in written
        if not (FILTER_MIN <= len(f) <= FILTER_MAX and FILTER_PATTERN.fullmatch(f))
    ]
    if bad:
        problems.append(
            f"{VARIABLE}: {bad[0]!r} is not a repository-name prefix of"
            f" {FILTER_MIN} to {FILTER_MAX} characters"
        )
    missing = uncovered(written, wanted)
    if missing:
        problems.append(
            f"{VARIABLE} leaves {len(missing)} repositor"
            f"{'y' if len(missing) == 1 else 'ies'} that must replicate unmatched:"
            f" {', '.join(missing[:5])}"
        )
    return problems


# -- what replicates where, and beyond what its tier asks ------------------------------------


@dataclass(frozen=True)
class Replication:
    """The registry's replication as the tfvars make it: where, by which filters, and which
    repositories replicate beyond what their tier asks (over-replication)."""

    destinations: tuple[Destination, ...]
    filters: tuple[str, ...]
    replicated: tuple[str, ...]  # the repositories whose tier (and request) asks for it
    over: dict[str, str]  # name -> filter: matched although its tier does not ask
    unmanaged: dict[str, str] | None = None  # registry names ecrctl does not manage; None: unknown

    def lines(self) -> list[str]:
        """What replicates where, then one line per over-replicated repository, saying why."""
        if not self.destinations or not self.replicated:
            why = "no destinations declared" if not self.destinations else "no repository asks"
            return [f"replication: none ({why})"]
        where = ", ".join(map(str, self.destinations))
        found = [
            f"replication: {len(self.replicated)} repositor"
            f"{'y' if len(self.replicated) == 1 else 'ies'} to {where},"
            f" by {len(self.filters)} prefix filter(s): {', '.join(self.filters[:10])}"
            + (" ..." if len(self.filters) > 10 else "")
        ]
        why = (
            f"{len(self.replicated)} repositories replicate and ECR allows {MAX_FILTERS}"
            " prefix filters per rule"
        )
        found += [
            f"{name}: replicates to {where} (its tier does not ask), matched by {hit!r}: {why}"
            for name, hit in sorted(self.over.items())
        ]
        found += [
            f"{name} (not managed by ecrctl): replicates, matched by {hit!r}"
            for name, hit in sorted((self.unmanaged or {}).items())
        ]
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "destinations": [d.to_dict() for d in self.destinations],
            "filters": list(self.filters),
            "replicated": list(self.replicated),
            "over_replicated": dict(sorted(self.over.items())),
            "unmanaged_matched": None
            if self.unmanaged is None
            else dict(sorted(self.unmanaged.items())),
        }


# A replication rule as compared: its destinations (region, registry ID) and its filters, sorted.
Rule = tuple[list[tuple[str, str]], list[str]]


def rules_of(wanted: Replication, account: str) -> list[Rule]:
    """The rules registry.tf writes for `wanted` (one, or none when nothing replicates), a
    destination without a registry ID being `account`'s."""
    if not wanted.filters:
        return []
    places = sorted((d.region, d.registry_id or account) for d in wanted.destinations)
    return [(places, sorted(wanted.filters))]


def replication(
    written: list[str] | None,
    destinations: tuple[Destination, ...],
    entries: Mapping[str, RegistryRequest],
    tiers: Mapping[str, RiskTier],
    registry_names: Iterable[str] | None = None,
) -> Replication:
    """What the tfvars' filters replicate, and beyond the tiers; `registry_names` adds the
    repositories ecrctl does not manage."""
    wanted, rest = replicated_names(entries, tiers)
    filters = sorted(wanted) if written is None else list(written)
    if not destinations or not wanted:  # registry.tf writes no configuration then
        return Replication(destinations, (), tuple(sorted(wanted)), {}, None)

    def hit(name: str) -> str | None:
        return next((f for f in filters if matches(f, name)), None)

    over = {n: h for n in rest if (h := hit(n)) is not None}
    unmanaged = None
    if registry_names is not None:
        unmanaged = {n: h for n in registry_names if n not in entries and (h := hit(n)) is not None}
    return Replication(destinations, tuple(filters), tuple(sorted(wanted)), over, unmanaged)


def plan_report(
    written: list[str] | None,
    destinations: tuple[Destination, ...],
    entries: Mapping[str, RegistryRequest],
    tiers: Mapping[str, RiskTier],
    plan: PlanResult,
    registry: Iterable[str] | None = None,
) -> Replication | None:
    """The replication report beside a plan that changes the replication configuration (or
    always, when `registry`, the names the registry holds, is given)."""
    if registry is None and not any(c.address == ADDRESS for c in plan.changes):
        return None
    return replication(
        written, destinations, entries, tiers, list(registry) if registry is not None else None
    )


def held_for(name: str, account: str, rules: list[dict[str, Any]]) -> str:
    """Where the registry's replication `rules` (as DescribeRegistry gives them) replicate
    `name`: "REGION" (this account) or "REGION (ACCOUNT)", comma-separated; "none"."""
    places = []
    for rule in rules:
        filters = [f.get("filter", "") for f in rule.get("repositoryFilters") or []]
        if filters and not any(name.startswith(f) for f in filters):
            continue
        for d in rule.get("destinations") or []:
            region, registry = d.get("region", ""), d.get("registryId", "")
            places.append(region if registry == account else f"{region} ({registry})")
    return ", ".join(places) or "none"
