"""The registry's CONTINUOUS_SCAN filters: a cover of every repository whose tier asks for it.

ECR's scan type is registry-wide: one `aws_ecr_registry_scanning_configuration` holds at most
2 rules (one per scan frequency) of at most 100 repository filters each (limits.LIMITS). One
filter per medium- or high-tier repository stops fitting at the 101st. So ecrctl computes the
filters from the environment's tfvars and files/scan_filters.py writes them there, beside `ecr_repositories`, as
`registry_scan_filters`; terraform/registry.tf uses them and refuses (a precondition) any list
that leaves a continuous-scan repository out or holds too many filters. Derived from the tfvars
alone, a targeted plan of the scanning configuration still pulls in no module instance.

How ECR reads a filter (ECR user guide, "Filters to choose which repositories are scanned"):
without a `*` it matches every name that *contains* it; with one, `*` stands for zero or more
characters and the rest is anchored. ecrctl writes only prefix filters `PREFIX*`: `NAME*` is
the narrowest filter a repository can have (a bare `NAME` would also match `old-NAME-x`).

The cover (`cover`): choose at most `max_filters` prefixes so that every continuous-scan name
starts with one of them, and as few other known names as possible do (those get continuous
scanning though their tier asks only for scan on push: they are "over-scanned"). Among covers
that over-scan equally, the one with the most (so the narrowest) filters wins; while the
continuous-scan names fit, that is one `NAME*` per name. Product-based names (ADR-0092,
`{product}-{component}`) make the prefixes product prefixes such as `payments-*`.

The cover itself is rules/cover.py's (exact, a tree knapsack over the names' trie), shared
with replication's filters (rules/replication.py); this module says what a scanning filter is.

Optimal among prefix filters. ECR also accepts `*` elsewhere (`*-gateway`, `pay*-api`): a
cover using those could over-scan less in contrived cases, but Terraform could not then check
coverage with `startswith`, and such filters match unrelated future names more easily.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.models import PlanResult, RegistryRequest, RiskTier
from orchestrator.rules import cover as shared
from orchestrator.rules.cover import Cover
from orchestrator.rules.limits import LIMIT

VARIABLE = "registry_scan_filters"
CONTINUOUS = "CONTINUOUS_SCAN"
MAX_FILTERS = LIMIT["scan-filters"].max
# The filter itself may hold 255 characters: a prefix of 254 and the `*`.
MAX_PREFIX = LIMIT["scan-filter"].max - 1
# ScanningRepositoryFilter.filter's pattern in the ECR API reference.
FILTER_PATTERN = re.compile(r"^[a-z0-9*](?:[._\-/a-z0-9*]?[a-z0-9*]+)*$")


def matches(pattern: str, name: str) -> bool:
    """Whether ECR's scanning filter `pattern` matches repository `name`."""
    if "*" not in pattern:
        return pattern in name
    if pattern.find("*") == len(pattern) - 1:  # PREFIX*, all ecrctl writes: no regex
        return name.startswith(pattern[:-1])
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, name, re.DOTALL) is not None


def _spell(prefix: str, parent_len: int) -> str | None:
    """`PREFIX*` for a trie node, within ECR's 255 characters (a prefix of 254 and the `*`)."""
    if len(prefix) <= MAX_PREFIX:
        return prefix + "*"
    return prefix[:MAX_PREFIX] + "*" if parent_len < MAX_PREFIX else None


def cover(
    continuous: Iterable[str], others: Iterable[str], max_filters: int = MAX_FILTERS
) -> Cover:
    """The least over-scanning prefix cover of `continuous` in at most `max_filters` filters.

    `others` are the known names that ask for less (scan on push); the result lists which of
    them the filters match. Names are ECR repository names (at most 256 characters). Always
    found: the root's `*`-terminated prefix matches every name.
    """
    return shared.cover(continuous, others, max_filters, _spell)


def continuous_names(
    entries: Mapping[str, RegistryRequest], tiers: Mapping[str, RiskTier]
) -> tuple[list[str], list[str]]:
    """(names whose tier asks for continuous scanning, the other names)."""
    wanted = [n for n, r in entries.items() if tiers[r.risk].scan_frequency == CONTINUOUS]
    chosen = set(wanted)
    return wanted, [n for n in entries if n not in chosen]


def cover_of(entries: Mapping[str, RegistryRequest], tiers: Mapping[str, RiskTier]) -> Cover:
    wanted, rest = continuous_names(entries, tiers)
    return cover(wanted, rest)


def uncovered(filters: Iterable[str], continuous: Iterable[str]) -> list[str]:
    """The continuous-scan names that no filter matches (as ECR reads filters)."""
    filters = list(filters)
    return [n for n in continuous if not any(matches(f, n) for f in filters)]


def check_filters(
    written: list[str] | None,
    entries: Mapping[str, RegistryRequest],
    tiers: Mapping[str, RiskTier],
) -> list[str]:
    """What is wrong with a tfvars' filters (`written`, None when it sets none): a
    continuous-scan repository left out, too many filters."""
    wanted, _ = continuous_names(entries, tiers)
    if written is None:  # registry.tf falls back to one NAME* filter per repository
        written = [n[:MAX_PREFIX] + "*" for n in sorted(wanted)]
    problems = []
    if len(written) > MAX_FILTERS:
        problems.append(
            f"{VARIABLE} holds {len(written)} filters; ECR allows at most {MAX_FILTERS} per rule"
        )
    bad = [f for f in written if not (f.endswith("*") and FILTER_PATTERN.fullmatch(f))]
    bad += [f for f in written if len(f) > LIMIT["scan-filter"].max]
    if bad:
        problems.append(f"{VARIABLE}: {bad[0]!r} is not a PREFIX* filter of at most 255 characters")
    missing = uncovered(written, wanted)
    if missing:
        problems.append(
            f"{VARIABLE} leaves {len(missing)} continuous-scan repositor"
            f"{'y' if len(missing) == 1 else 'ies'} unmatched: {', '.join(missing[:5])}"
        )
    return problems


# -- over-scanning, for plan output and the pull-request comment ----------------------------


@dataclass(frozen=True)
class OverScan:
    """Repositories a CONTINUOUS_SCAN filter matches although their tier asks for less."""

    filters: tuple[str, ...]
    continuous: int
    managed: dict[str, str]  # name -> filter (tier asks for scan on push)
    unmanaged: dict[str, str] | None = None  # registry names ecrctl does not manage; None: unknown

    def lines(self) -> list[str]:
        """One line per over-scanned repository, saying why."""
        why = (
            f"{self.continuous} repositories ask for continuous scanning and ECR allows"
            f" {MAX_FILTERS} filters per rule"
        )
        found = [
            f"{name}: continuous scan (tier asks for scan on push), matched by {hit!r}: {why}"
            for name, hit in sorted(self.managed.items())
        ]
        found += [
            f"{name} (not managed by ecrctl): continuous scan, matched by {hit!r}"
            for name, hit in sorted((self.unmanaged or {}).items())
        ]
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "filters": list(self.filters),
            "continuous": self.continuous,
            "over_scanned": dict(sorted(self.managed.items())),
            "unmanaged_matched": None
            if self.unmanaged is None
            else dict(sorted(self.unmanaged.items())),
        }


def over_scan(
    written: list[str] | None,
    entries: Mapping[str, RegistryRequest],
    tiers: Mapping[str, RiskTier],
    registry_names: Iterable[str] | None = None,
) -> OverScan:
    """What the tfvars' filters scan beyond the tiers; `registry_names` adds unmanaged ones."""
    wanted, rest = continuous_names(entries, tiers)
    filters = written
    if filters is None:
        filters = [n[:MAX_PREFIX] + "*" for n in sorted(wanted)]

    def hit(name: str) -> str | None:
        return next((f for f in filters if matches(f, name)), None)

    managed = {n: h for n in rest if (h := hit(n)) is not None}
    unmanaged = None
    if registry_names is not None:
        unmanaged = {n: h for n in registry_names if n not in entries and (h := hit(n)) is not None}
    return OverScan(tuple(filters), len(wanted), managed, unmanaged)


SCANNING_ADDRESS = "aws_ecr_registry_scanning_configuration.this[0]"


def plan_report(
    written: list[str] | None,
    entries: Mapping[str, RegistryRequest],
    tiers: Mapping[str, RiskTier],
    plan: PlanResult,
    registry: Iterable[str] | None = None,
) -> OverScan | None:
    """The over-scan report to show beside a plan that changes the scanning configuration.

    `registry` (the names the registry holds) also lists the repositories ecrctl does not
    manage but a filter matches; ops/plan.scan_report reads them from ECR when asked.
    """
    if registry is None and not any(c.address == SCANNING_ADDRESS for c in plan.changes):
        return None
    return over_scan(written, entries, tiers, list(registry) if registry is not None else None)
