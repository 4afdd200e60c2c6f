"""plan: one saved, targeted plan (`-target=module.ecr_repositories["NAME"]`) and the guard's verdicts on it.

The summary ecrctl writes beside a saved plan (PLAN.json: its sha256, the changes, the verdicts) is for
people and tools; `apply --plan` trusts nothing in it. It judges the plan file itself (adapters/planfile.py):
the changes Terraform will apply, the variables it was planned with, the prior state it refreshed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

from orchestrator.adapters import planfile
from orchestrator.adapters.terraform_output import changes_from_plan_json
from orchestrator.context import Environment
from orchestrator.errors import UserError
from orchestrator.files import tfvars
from orchestrator.files.workspace import Workspace, atomic_write
from orchestrator.models import (
    PlanResult,
    RegistryRequest,
    ResourceChange,
    Violation,
    instance_of,
    module_address,
)
from orchestrator.ops import review
from orchestrator.rules import guard, policy, replication, scanning
from orchestrator.rules.replication import Replication
from orchestrator.rules.scanning import OverScan

REGISTRY_TARGETS = sorted(guard.REGISTRY_SCOPE)


def scan_report(ctx: Environment, plan: PlanResult, unmanaged: bool = False) -> OverScan | None:
    """Which repositories the plan's scanning filters scan more than their tier asks, and why.

    With `unmanaged`, also the registry's repositories ecrctl does not manage that a filter
    matches: one ECR DescribeRepositories call (paginated), no provider load.
    """
    tf = ctx.tfvars
    registry = list(ctx.ecr().repositories()) if unmanaged else None
    return scanning.plan_report(tf.scan_filters, tf.entries, ctx.tiers, plan, registry)


def replication_report(
    ctx: Environment, plan: PlanResult, unmanaged: bool = False
) -> Replication | None:
    """What replicates where, and beyond what its tier asks, beside a plan that changes the
    replication configuration (always with `unmanaged`, which also lists the registry's
    repositories ecrctl does not manage that a filter matches: one DescribeRepositories)."""
    tf = ctx.tfvars
    registry = list(ctx.ecr().repositories()) if unmanaged else None
    return replication.plan_report(
        tf.replication_filters, tf.replication_destinations, tf.entries, ctx.tiers, plan, registry
    )


def _shown(destinations: tuple[replication.Destination, ...]) -> list[str]:
    return [str(d) for d in destinations]


def _default_plan_file(ws: Workspace, env: str, names: list[str]) -> Path:
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]
    path = ws.state_dir / "plans" / env / f"{digest}.tfplan"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _sidecar(plan_file: Path) -> Path:
    return plan_file.with_name(plan_file.name + ".json")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _names(names: list[str]) -> list[str]:
    if not names:
        raise UserError(
            "name at least one repository", "e.g. ecrctl plan payments-gateway --env dev"
        )
    return sorted({policy.check_ecr_name(n) for n in names})


def plan(
    ctx: Environment,
    names: list[str],
    out: Path | None = None,
    var_file: Path | None = None,
) -> tuple[PlanResult, list[Violation]]:
    """One saved, targeted plan for `names`; returns it with the guard's verdicts (if any).

    `var_file` plans against a copy of the tfvars (decommission and restore show their plan
    before they change the managed file); by default the environment's own tfvars.
    """
    ws, env = ctx.workspace, ctx.env
    names = _names(names)
    planned = tfvars.load(var_file, env) if var_file is not None else ctx.tfvars
    var_file = var_file or ctx.tfvars_file
    requests = planned.entries
    configured = set(requests)
    # Terraform would refuse it too (registry.tf), after a provider load: say it first.
    for problem in scanning.check_filters(planned.scan_filters, requests, ctx.tiers)[:1]:
        raise UserError(
            f"{var_file}: {problem}",
            "add NAME* (or a PREFIX* covering it) to registry_scan_filters, or delete that"
            " variable and let ecrctl write it again; then run: ecrctl validate",
        )
    # Terraform would refuse these too (registry.tf's preconditions), after a provider load.
    if planned.replication_destinations:
        for problem in replication.check_filters(planned.replication_filters, requests, ctx.tiers)[
            :1
        ]:
            raise UserError(
                f"{var_file}: {problem}",
                "delete registry_replication_filters and let ecrctl write it again; then run:"
                " ecrctl validate",
            )
    out = (out or _default_plan_file(ws, env, names)).resolve()
    terraform = ctx.terraform()
    terraform.init()
    targets = [module_address(n) for n in names] + REGISTRY_TARGETS
    changes = terraform.plan(targets, out, var_file)
    unmatched = [
        n for n in names if n not in configured and not any(c.instance == n for c in changes)
    ]
    if unmatched:
        with contextlib.suppress(FileNotFoundError):
            out.unlink()
        raise UserError(
            f"no repository {', '.join(map(repr, unmatched))} in envs/{env}/terraform.tfvars"
            " or in its Terraform state: the target matches nothing",
            f"list what exists with: ecrctl list --env {env}",
        )
    # The "now" of the review is what the plan found after its refresh, not the last apply's
    # state: a setting changed behind Terraform's back shows as the change the plan makes.
    state = _prior_state(ctx, out) if review.needs_state(changes, configured) else None
    reviews = review.reviews(
        names, requests, ctx.tiers, state, _shown(planned.replication_destinations)
    )
    result = PlanResult(
        env,
        tuple(targets),
        tuple(names),
        out,
        tuple(changes),
        reviews,
        configured=frozenset(configured & set(names)),
        without_policy=frozenset(without_policy_of(requests, names)),
    )
    objections = guard.judge(result)
    atomic_write(
        _sidecar(out),
        json.dumps(
            {
                **result.to_dict(),
                "plan_sha256": _sha256(out),
                "configured": sorted(result.configured),
                "without_policy": sorted(result.without_policy),
                "guard": [v.to_dict() for v in objections],
            },
            indent=2,
        ),
    )
    return result, objections


def checked_plan(ctx: Environment, names: list[str], out: Path | None = None) -> PlanResult:
    """`plan`, refused (PlanRefused, carrying the plan to show) when the guard objects."""
    result, objections = plan(ctx, names, out)
    if objections:
        raise guard.refusal_of(
            result.changes,
            objections,
            set(result.repositories),
            hint="fix the tfvars or the request, then plan again",
            result=result,
        )
    return result


def without_policy_of(requests: dict[str, RegistryRequest], names: list[str]) -> set[str]:
    """The named, configured repositories whose request leaves no principal in the policy."""
    return {n for n in names if n in requests and not requests[n].has_policy}


def load_saved_plan(ctx: Environment, plan_file: Path, names: list[str]) -> PlanResult:
    """A plan `ecrctl plan` saved, read from the plan file itself: what Terraform will apply.

    The summary beside it only says that ecrctl made it (its sha256 and environment must match);
    the changes, the repositories, what is configured and without a policy, and the review's
    "now" and "after" all come from the plan (its changes, targets, variables and prior state).
    """
    env = ctx.env
    if not plan_file.is_file():
        raise UserError(f"plan file {plan_file} does not exist", "make one with: ecrctl plan")
    try:
        saved = json.loads(_sidecar(plan_file).read_text())
    except (OSError, ValueError):
        raise UserError(
            f"{plan_file} has no readable ecrctl summary beside it ({_sidecar(plan_file).name})",
            "apply only plans made by `ecrctl plan`, or plan again",
        ) from None
    if not isinstance(saved, dict) or saved.get("plan_sha256") != _sha256(plan_file):
        raise UserError(f"{plan_file} changed after ecrctl planned it", "plan again")
    if saved.get("env") != env:
        raise UserError(
            f"{plan_file} was planned for environment {saved.get('env')!r}, not {env!r}"
        )
    changes, targets, variables = read_plan(ctx, plan_file, names)
    planned_env = variables.get("environment")
    if planned_env != env:
        raise UserError(
            f"{plan_file} was planned for environment {planned_env!r}, not {env!r}", "plan again"
        )
    if targets is None:  # terraform show -json does not give a plan's targets
        targets = [module_address(n) for n in _names(names)] + REGISTRY_TARGETS
    repositories = sorted({n for t in targets if (n := instance_of(t)) is not None})
    if names and sorted(set(names)) != repositories:
        raise UserError(
            f"{plan_file} covers {', '.join(repositories)}, not {', '.join(sorted(set(names)))}"
        )
    requests = requests_of(variables, plan_file, env)
    configured = set(requests) & set(repositories)
    state = _prior_state(ctx, plan_file) if review.needs_state(changes, configured) else None
    return PlanResult(
        env,
        tuple(targets),
        tuple(repositories),
        plan_file,
        tuple(changes),
        review.reviews(
            repositories,
            requests,
            ctx.tiers,
            state,
            _shown(replication.destinations_of(variables.get(replication.DESTINATIONS))),
        ),
        configured=frozenset(configured),
        without_policy=frozenset(without_policy_of(requests, repositories)),
    )


def read_plan(
    ctx: Environment, plan_file: Path, names: list[str] | None = None
) -> tuple[list[ResourceChange], list[str] | None, dict[str, Any]]:
    """The changes, targets and variables of a saved plan, read from the plan file.

    Its own format is read in-process for the Terraform release it was tested with; any other
    is read through `terraform show -json` (a provider load), never guessed at. That gives no
    targets (None): the caller names the repositories.
    """
    try:
        saved = planfile.read(plan_file)
    except planfile.UnknownPlanFormat as exc:
        if names is not None and not names:
            raise UserError(
                f"{exc.message}; terraform show -json reads it, but does not say which"
                " repositories it targets",
                f"name them: ecrctl apply NAME... --env {ctx.env} --plan {plan_file}",
            ) from None
        ctx.progress(f"{exc.message}: reading it with terraform show -json")
        terraform = ctx.terraform()
        terraform.init()
        shown = terraform.show_plan_json(plan_file)
        variables = {
            name: value.get("value")
            for name, value in (shown.get("variables") or {}).items()
            if isinstance(value, dict)
        }
        return changes_from_plan_json(shown), None, variables
    return list(saved.changes), list(saved.targets), saved.variables


def requests_of(variables: dict[str, Any], plan_file: Path, env: str) -> dict[str, RegistryRequest]:
    """The requests (ecr_repositories entries) a plan was made with, read as the tfvars are."""
    raw = variables.get(tfvars.VARIABLE) or {}
    if not isinstance(raw, dict):
        raise UserError(f"{plan_file}: its {tfvars.VARIABLE} is not a map", "plan again")
    found = {}
    for name, value in raw.items():
        try:
            found[str(name)] = tfvars.request_of(str(name), value, env)
        except UserError as exc:
            raise UserError(
                f"{plan_file}: its entry {name!r} is not one ecrctl reads: {exc.message}",
                "plan again",
            ) from None
    return found


def _prior_state(ctx: Environment, plan_file: Path) -> dict[str, Any]:
    """What the plan found after its refresh; the backend's state if the plan does not say."""
    try:
        return planfile.prior_state(plan_file)
    except UserError:
        return ctx.terraform().state_pull()
