"""The plan guard: refuse any plan that reaches outside what was requested.

Rules, per change in the plan:
- it lies inside a requested module instance module.ecr_repositories["NAME"], or it is the
  registry-wide scanning configuration, which may be created or updated but never destroyed;
- inside an instance whose repository is being created, every change is a create, or the
  replacement of a part an interrupted create left tainted (the repository does not exist yet);
- a tainted registry-wide scanning configuration may be replaced (it is put whole again);
- inside an instance still in the tfvars, nothing is deleted or replaced (that loses images),
  except its repository policy, when the request (an update, a deprecation) leaves no principal
  in it: the module then has no policy to write, and its lifecycle policy, which Terraform
  replaces to change the retention (it holds no images; ECR keeps one per repository);
- inside an instance removed from the tfvars (a decommission), every change is a delete.
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.errors import PlanRefused
from orchestrator.models import ResourceChange

REGISTRY_SCOPE = {"aws_ecr_registry_scanning_configuration.this": {"create", "update"}}
REPOSITORY_RESOURCE = "aws_ecr_repository.this"
POLICY_RESOURCE = "aws_ecr_repository_policy.this[0]"
# Parts of a live repository that hold no data: the provider replaces them to change them.
REPLACEABLE = ("aws_ecr_lifecycle_policy.this",)


def violations(
    changes: Iterable[ResourceChange],
    requested: set[str],
    configured: set[str],
    without_policy: set[str] | frozenset[str] = frozenset(),
) -> list[str]:
    """`without_policy`: configured repositories whose request grants no principal any access."""
    """Each offending change as 'ADDRESS (action): reason'; empty when the plan is acceptable."""
    changes = list(changes)
    creating = {
        c.instance
        for c in changes
        if c.action == "create" and c.address.endswith("." + REPOSITORY_RESOURCE)
    }
    found = []
    for change in changes:
        reason = _reason(change, requested, configured, creating)
        live = configured - creating
        if reason and (_policy_removed(change, without_policy) or _put_again(change, live)):
            reason = None
        if reason:
            found.append(f"{change.address} ({change.action}): {reason}")
    return found


def _reason(
    change: ResourceChange, requested: set[str], configured: set[str], creating: set[str | None]
) -> str | None:
    # Terraform replaces what an interrupted apply left half-created ("tainted").
    tainted = change.action == "replace" and change.reason == "tainted"
    if change.instance is None:
        allowed = REGISTRY_SCOPE.get(change.address)
        if allowed is None:
            return "outside the requested repositories"
        if change.action in allowed or tainted:
            return None
        return "registry-wide settings are never destroyed"
    if change.instance not in requested:
        return "belongs to a repository that was not requested"
    if change.instance not in configured:
        return None if change.action == "delete" else "a decommission may only delete"
    if change.instance in creating:
        if change.action == "create" or tainted:
            return None
        return "a create request may only create"
    if change.action in ("delete", "replace"):
        return "would destroy part of a live repository"
    return None


def _put_again(change: ResourceChange, configured: set[str]) -> bool:
    """The replacement of a part of a live repository that holds no data (its lifecycle rule)."""
    return (
        change.action == "replace"
        and change.instance in configured
        and any(
            change.address == f'module.ecr_repositories["{change.instance}"].{part}'
            for part in REPLACEABLE
        )
    )


def _policy_removed(change: ResourceChange, without_policy: set[str] | frozenset[str]) -> bool:
    """The delete of a repository policy whose last principal the request removed."""
    return (
        change.action == "delete"
        and change.instance in without_policy
        and change.address == f'module.ecr_repositories["{change.instance}"].{POLICY_RESOURCE}'
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
        # Terraform lists deletes of instances removed from the tfvars even in a plan targeted
        # elsewhere (hashicorp/terraform#29116): point at the unfinished decommission.
        pending = sorted(
            {c.instance for c in changes if c.action == "delete" and c.instance} - requested
        )
        hint = (
            f"{', '.join(pending)} left the tfvars but still exist: finish that first"
            " (ecrctl decommission NAME --env ENV) or plan them together"
            if pending
            else "fix the tfvars or the request so that the plan touches only the named repositories"
        )
        raise PlanRefused(
            f"plan refused: {len(found)} change(s) outside what was requested: " + "; ".join(found),
            [f.split(" ", 1)[0] for f in found],
            hint,
        )
