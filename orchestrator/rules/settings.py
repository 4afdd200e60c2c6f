"""The settings of an environment's tfvars outside `ecr_repositories`, each governed by a rule.

A pull request's review shows what it does to repositories; these settings change the whole
registry (the region every repository lives in, the scan type of the account), so none of them
may change unseen:

- `environment`: the environment's own name (its directory under envs/); never anything else.
- `aws_region`: an AWS region name; a change of it between two revisions is refused (the
  state holds repositories in the old region: moving them is a new environment, not an edit).
- `registry_scan_type`: absent or "ENHANCED": the tier table asks for enhanced and continuous
  scanning (terraform/modules/ecr/risk-tiers.json); BASIC would turn them off registry-wide.
- `registry_scan_filters`: ecrctl's own, recomputed from the entries on every change; a
  file's must be what ecrctl computes (checked by ops/validate.py against files/scan_filters.py).
- `account_id`: the 12-digit AWS account the environment's registry lives in (optional);
  needed for another managed environment to let this one replicate into it; a change of it
  between two revisions is refused like the region's.
- `replication_destinations`: where the registry replicates (rules/replication.py): a list of
  `{ region = "...", registry_id = "..." }` (registry_id optional: this account), at most 25
  (ECR's limit per rule), none twice, never the registry itself.
- `registry_replication_filters`: ecrctl's own, like `registry_scan_filters`.
- `replication_sources`: the accounts allowed to replicate into this registry (the registry
  policy terraform/registry.tf writes); ops/validate.py holds it to the managed environments
  that replicate here.
- `state_shards`: absent (1) or a whole number 1..99: how many state shards the environment's
  repositories are split into (rules/shards.py). Changed by `ecrctl shards migrate` only, which
  moves the states with it; a hand edit is refused at plan time (the states say otherwise).
- nothing else: Terraform only warns about an undeclared variable and then ignores it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from orchestrator.rules import replication, shards

REPOSITORIES = "ecr_repositories"
SCAN_FILTERS = "registry_scan_filters"
REGION, ENVIRONMENT, SCAN_TYPE = "aws_region", "environment", "registry_scan_type"
SHARDS = shards.SETTING
ACCOUNT = "account_id"
DESTINATIONS, SOURCES = replication.DESTINATIONS, replication.SOURCES
REPLICATION_FILTERS = replication.VARIABLE
KNOWN = (
    REGION,
    ENVIRONMENT,
    ACCOUNT,
    SCAN_TYPE,
    SCAN_FILTERS,
    DESTINATIONS,
    REPLICATION_FILTERS,
    SOURCES,
    SHARDS,
    REPOSITORIES,
)
MAX_DESTINATIONS = 25  # ECR's destinations per replication rule (limits.LIMIT)
_ACCOUNT = re.compile(r"^[0-9]{12}$")
SCAN_TYPES = ("ENHANCED",)
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")  # as terraform/variables.tf checks it


def problems(values: Mapping[str, Any], env: str) -> list[tuple[str, str]]:
    """(setting, what is wrong) for each top-level setting that breaks its rule."""
    found = []
    for key in sorted(set(values) - set(KNOWN)):
        found.append(
            (
                key,
                f"unknown setting {key!r}: an environment's tfvars holds only"
                f" {', '.join(KNOWN)} (Terraform would ignore it with a warning)",
            )
        )
    if values.get(ENVIRONMENT) != env:
        found.append(
            (
                ENVIRONMENT,
                f"environment must be {env!r} (the directory envs/{env}), not"
                f" {values.get(ENVIRONMENT)!r}",
            )
        )
    region = values.get(REGION)
    if not isinstance(region, str) or not _REGION.match(region):
        found.append((REGION, f"aws_region must be an AWS region name, not {region!r}"))
    if SCAN_TYPE in values and values[SCAN_TYPE] not in SCAN_TYPES:
        found.append(
            (
                SCAN_TYPE,
                f"registry_scan_type {values[SCAN_TYPE]!r} is refused: the risk tiers ask for"
                " enhanced and continuous scanning, which only ENHANCED gives, and the scan"
                " type holds for every repository of the registry; delete the line"
                " (ENHANCED is the default)",
            )
        )
    found += _replication_problems(values)
    if SHARDS in values and (problem := shards.check_setting(values[SHARDS])) is not None:
        found.append((SHARDS, problem))
    return found


def _replication_problems(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    found = []
    account = values.get(ACCOUNT)
    if ACCOUNT in values and not (isinstance(account, str) and _ACCOUNT.match(account)):
        found.append((ACCOUNT, f"account_id must be a 12-digit AWS account ID, not {account!r}"))
    sources = values.get(SOURCES, [])
    if not isinstance(sources, list) or not all(
        isinstance(a, str) and _ACCOUNT.match(a) for a in sources
    ):
        found.append((SOURCES, "replication_sources must be a list of 12-digit AWS account IDs"))
    elif len(set(sources)) != len(sources):
        found.append((SOURCES, "replication_sources lists an account twice"))
    destinations = values.get(DESTINATIONS, [])
    example = '[{ region = "us-west-2" }, { region = "eu-west-1", registry_id = "210987654321" }]'
    if not isinstance(destinations, list):
        return [*found, (DESTINATIONS, f"replication_destinations must be a list, e.g. {example}")]
    if len(destinations) > MAX_DESTINATIONS:
        found.append(
            (
                DESTINATIONS,
                f"replication_destinations holds {len(destinations)} destinations; ECR allows at"
                f" most {MAX_DESTINATIONS} per replication rule",
            )
        )
    seen: set[tuple[str, str | None]] = set()
    for item in destinations:
        problem = _destination_problem(item, values, seen)
        if problem:
            found.append((DESTINATIONS, f"replication_destinations: {problem}"))
    return found


def _destination_problem(
    item: Any, values: Mapping[str, Any], seen: set[tuple[str, str | None]]
) -> str | None:
    if not isinstance(item, dict) or not set(item) <= {"region", "registry_id"}:
        return f"{item!r} must be {{ region = ..., registry_id = ... (optional) }}"
    region, registry = item.get("region"), item.get("registry_id")
    if not isinstance(region, str) or not _REGION.match(region):
        return f"region {region!r} is not an AWS region name"
    if registry is not None and not (isinstance(registry, str) and _ACCOUNT.match(registry)):
        return f"registry_id {registry!r} is not a 12-digit AWS account ID"
    own = registry is None or registry == values.get(ACCOUNT)
    if own and region == values.get(REGION):
        return f"{region} in this account is the registry itself; ECR refuses it as a destination"
    key = (region, None if own else registry)
    if key in seen:
        return f"{region} ({registry or 'this account'}) is listed twice"
    seen.add(key)
    return None


def changes(before: Mapping[str, Any], after: Mapping[str, Any], env: str) -> list[str]:
    """What a change of the settings between two revisions does that no review would show.

    `registry_scan_filters` follows the entries (validate holds it to them) and the entries are
    planned; `registry_scan_type` may only be ENHANCED or absent (the same), which `problems`
    holds at the head; a change of the region or the name is refused here.
    """
    found = []
    if before.get(REGION) != after.get(REGION) and before.get(REGION) is not None:
        found.append(
            f"envs/{env}/terraform.tfvars: aws_region changes from {before.get(REGION)!r} to"
            f" {after.get(REGION)!r}: the state of {env} holds its repositories in"
            f" {before.get(REGION)!r}, and a plan would create them anew in the other region;"
            " a registry in another region is a new environment (envs/NEW with its own"
            " backend.hcl), its repositories created there and decommissioned here"
        )
    if before.get(ACCOUNT) != after.get(ACCOUNT) and before.get(ACCOUNT) is not None:
        found.append(
            f"envs/{env}/terraform.tfvars: account_id changes from {before.get(ACCOUNT)!r} to"
            f" {after.get(ACCOUNT)!r}: the state of {env} holds a registry in"
            f" {before.get(ACCOUNT)!r}; a registry in another account is a new environment"
        )
    if before.get(ENVIRONMENT) != after.get(ENVIRONMENT) and ENVIRONMENT in before:
        found.append(
            f"envs/{env}/terraform.tfvars: environment changes from {before.get(ENVIRONMENT)!r}"
            f" to {after.get(ENVIRONMENT)!r}: it names the environment's directory and tags"
            " every repository"
        )
    return found
