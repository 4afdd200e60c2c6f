"""plan: one saved, targeted plan (`-target=module.ecr_repositories["NAME"]`) and the guard's verdicts on it.

The summary ecrctl writes beside a saved plan (PLAN.json: its sha256, the changes, the verdicts) is what
`apply --plan` checks before it applies anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from orchestrator.context import Environment
from orchestrator.errors import UserError
from orchestrator.files import tfvars
from orchestrator.files.workspace import Workspace, atomic_write
from orchestrator.models import (
    PlanResult,
    RegistryRequest,
    ResourceChange,
    Review,
    Violation,
    module_address,
)
from orchestrator.ops import review
from orchestrator.rules import guard, policy, scanning
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
    state = terraform.state_pull() if review.needs_state(changes, configured) else None
    reviews = review.reviews(names, requests, ctx.tiers, state)
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
    objections = guard.violations(
        changes, set(names), set(result.configured), set(result.without_policy)
    )
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
    """A plan `ecrctl plan` saved, with what it was planned against (for the guard)."""
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
    if saved.get("plan_sha256") != _sha256(plan_file):
        raise UserError(f"{plan_file} changed after ecrctl planned it", "plan again")
    if saved.get("env") != env:
        raise UserError(
            f"{plan_file} was planned for environment {saved.get('env')!r}, not {env!r}"
        )
    if names and sorted(set(names)) != saved["repositories"]:
        raise UserError(
            f"{plan_file} covers {', '.join(saved['repositories'])}, not {', '.join(sorted(set(names)))}"
        )
    return PlanResult(
        env,
        tuple(saved["targets"]),
        tuple(saved["repositories"]),
        plan_file,
        tuple(ResourceChange.from_dict(c) for c in saved["changes"]),
        tuple(Review.from_dict(r) for r in saved.get("settings", [])),
        configured=frozenset(saved["configured"]),
        without_policy=frozenset(saved.get("without_policy", [])),
    )
