"""The plan guard: refuse any plan that reaches outside what was requested.

Rules, per change in the plan:
- it lies inside a requested module instance module.ecr_repositories["NAME"], or it is the
  registry-wide scanning configuration, which may be created or updated but never destroyed,
  or the registry's replication configuration or registry policy, which may also be deleted
  (neither holds an image: see REGISTRY_SCOPE);
- inside an instance whose repository is being created, every change is a create, or the
  replacement of a part an interrupted create left tainted (the repository does not exist yet);
- a tainted registry-wide scanning configuration may be replaced (it is put whole again);
- inside an instance still in the tfvars, nothing is deleted or replaced (that loses images),
  except its repository policy, when the request (an update, a deprecation) leaves no principal
  in it: the module then has no policy to write, and its lifecycle policy, which Terraform
  replaces to change the retention (it holds no images; ECR keeps one per repository);
- inside an instance removed from the tfvars (a decommission), every change is a delete;
- inside an instance whose repository is being imported (an adoption), every change is an
  import, an in-place update, or the create of a part the repository did not have (its
  lifecycle policy, repository policy or KMS alias): never a create of the repository or its
  key, never a delete or replace.
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.errors import PlanRefused
from orchestrator.models import (
    Action,
    PlanResult,
    ResourceChange,
    Rule,
    Violation,
    module_address,
)

# The registry-wide resources (terraform/registry.tf), each `count`-gated to the one state that
# holds the registry: targeted by resource, judged by instance. MOVE: the address the scanning
# configuration had before the gate (a `moved` block, nothing changes in AWS). Deleting the
# replication configuration or the registry policy holds no image: the first goes when nothing
# is left to replicate (replicas already made stay in their destinations), the second when no
# managed environment replicates here any more.
REGISTRY_RESOURCES = (
    "aws_ecr_registry_scanning_configuration.this",
    "aws_ecr_replication_configuration.this",
    "aws_ecr_registry_policy.this",
)
# Every state that holds the registry holds this one (a plan creating it finds a fresh state).
SCANNING = "aws_ecr_registry_scanning_configuration.this[0]"
REGISTRY_SCOPE = {
    SCANNING: {Action.CREATE, Action.UPDATE, Action.MOVE},
    "aws_ecr_replication_configuration.this[0]": {Action.CREATE, Action.UPDATE, Action.DELETE},
    "aws_ecr_registry_policy.this[0]": {Action.CREATE, Action.UPDATE, Action.DELETE},
}
REPOSITORY_RESOURCE = "aws_ecr_repository.this"
REASONS = {
    Rule.OUTSIDE_REQUEST: "outside the requested repositories",
    Rule.REGISTRY_NEVER_DESTROYED: "registry-wide settings are never destroyed",
    Rule.NOT_REQUESTED: "belongs to a repository that was not requested",
    Rule.DECOMMISSION_ONLY_DELETES: "a decommission may only delete",
    Rule.CREATE_ONLY_CREATES: "a create request may only create",
    Rule.LIVE_NEVER_DESTROYED: "would destroy part of a live repository",
    Rule.ADOPT_NEVER_DESTROYS: "an adopted repository is imported and updated in place, never destroyed",
    Rule.ADOPT_NEVER_CREATES: "an adopted repository's own resources are imported, never created",
}
# What an adoption may create inside the instance: parts an existing repository may lack.
ADOPT_CREATES = (
    "aws_ecr_lifecycle_policy.this",
    "aws_ecr_repository_policy.this[0]",
    "aws_kms_alias.this[0]",
)
POLICY_RESOURCE = "aws_ecr_repository_policy.this[0]"
# Parts of a live repository that hold no data: the provider replaces them to change them.
REPLACEABLE = ("aws_ecr_lifecycle_policy.this",)


def violations(
    changes: Iterable[ResourceChange],
    requested: set[str],
    configured: set[str],
    without_policy: set[str] | frozenset[str] = frozenset(),
) -> list[Violation]:
    """The guard's verdict on each offending change; empty when the plan is acceptable.

    `without_policy`: configured repositories whose request grants no principal any access.
    """
    changes = list(changes)
    creating = {
        c.instance
        for c in changes
        if c.action == Action.CREATE and c.address.endswith("." + REPOSITORY_RESOURCE)
    }
    adopting = {
        c.instance for c in changes if c.importing and c.address.endswith("." + REPOSITORY_RESOURCE)
    }
    found = []
    for change in changes:
        rule = _broken_rule(change, requested, configured, creating)
        if rule is not None and (
            _policy_removed(change, without_policy) or _put_again(change, configured - creating)
        ):
            rule = None
        if rule is None and change.instance in adopting:
            rule = _adopt_rule(change)
        if rule is not None:
            found.append(Violation(change, rule, REASONS[rule]))
    return found


def _broken_rule(
    change: ResourceChange, requested: set[str], configured: set[str], creating: set[str | None]
) -> Rule | None:
    # Terraform replaces what an interrupted apply left half-created ("tainted").
    tainted = change.action == Action.REPLACE and change.reason == "tainted"
    if change.instance is None:
        allowed = REGISTRY_SCOPE.get(change.address)
        if allowed is None:
            return Rule.OUTSIDE_REQUEST
        if change.action in allowed or tainted:
            return None
        return Rule.REGISTRY_NEVER_DESTROYED
    if change.instance not in requested:
        return Rule.NOT_REQUESTED
    if change.instance not in configured:
        return None if change.action == Action.DELETE else Rule.DECOMMISSION_ONLY_DELETES
    if change.instance in creating:
        if change.action == Action.CREATE or tainted:
            return None
        return Rule.CREATE_ONLY_CREATES
    if change.action in (Action.DELETE, Action.REPLACE):
        return Rule.LIVE_NEVER_DESTROYED
    return None


def refusal(
    found: list[Violation], what: str = "plan", hint: str | None = None, result: object = None
) -> PlanRefused:
    """The error for a refused plan, naming every offending change; `result` rides along."""
    return PlanRefused(
        f"{what} refused by the guard: {len(found)} change(s) outside what was requested: "
        + "; ".join(map(str, found)),
        found,
        hint
        or "fix the tfvars or the request so that the plan touches only the named repositories",
        result,
    )


def _adopt_rule(change: ResourceChange) -> Rule | None:
    """The rule a change inside an instance being adopted breaks (None: it is allowed)."""
    if change.action in (Action.DELETE, Action.REPLACE):
        return Rule.ADOPT_NEVER_DESTROYS
    if change.action == Action.CREATE and not change.address.endswith(
        tuple("." + part for part in ADOPT_CREATES)
    ):
        return Rule.ADOPT_NEVER_CREATES
    return None


def _put_again(change: ResourceChange, configured: set[str]) -> bool:
    """The replacement of a part of a live repository that holds no data (its lifecycle rule)."""
    return (
        change.action == Action.REPLACE
        and change.instance is not None
        and change.instance in configured
        and any(
            change.address == f"{module_address(change.instance)}.{part}" for part in REPLACEABLE
        )
    )


def _policy_removed(change: ResourceChange, without_policy: set[str] | frozenset[str]) -> bool:
    """The delete of a repository policy whose last principal the request removed."""
    return (
        change.action == Action.DELETE
        and change.instance is not None
        and change.instance in without_policy
        and change.address == f"{module_address(change.instance)}.{POLICY_RESOURCE}"
    )


def judge(plan: PlanResult) -> list[Violation]:
    """The guard's verdicts on a plan, against what it was planned with: the named
    repositories, those configured in its tfvars, and those left without a policy."""
    return violations(
        plan.changes, set(plan.repositories), set(plan.configured), set(plan.without_policy)
    )


def check(
    changes: Iterable[ResourceChange],
    requested: set[str],
    configured: set[str],
    without_policy: set[str] | frozenset[str] = frozenset(),
) -> None:
    changes = list(changes)
    found = violations(changes, requested, configured, without_policy)
    if found:
        raise refusal_of(changes, found, requested)


def refusal_of(
    changes: Iterable[ResourceChange],
    found: list[Violation],
    requested: set[str],
    hint: str | None = None,
    result: object = None,
) -> PlanRefused:
    """The refusal of a plan with the guard's verdicts `found` on its `changes`."""
    # Terraform lists deletes of instances removed from the tfvars even in a plan targeted
    # elsewhere (hashicorp/terraform#29116): point at the unfinished decommission.
    pending = sorted(
        {c.instance for c in changes if c.action == Action.DELETE and c.instance} - requested
    )
    if pending:
        hint = (
            f"{', '.join(pending)} left the tfvars but still exist: finish that first"
            " (ecrctl decommission NAME --env ENV) or plan them together"
        )
    return refusal(found, hint=hint, result=result)
