"""plan: one saved, targeted plan (`-target=module.ecr_repositories["NAME"]`) and the guard's verdicts on it.

The summary ecrctl writes beside a saved plan (PLAN.json: its sha256, the changes, the verdicts) is what
`apply --plan` checks before it applies anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.adapters import ecr
from orchestrator.adapters.environments import process_environ
from orchestrator.context import Context
from orchestrator.errors import UserError
from orchestrator.files import tfvars
from orchestrator.files.workspace import Workspace, atomic_write
from orchestrator.models import (
    Action,
    PlanResult,
    RegistryRequest,
    ResourceChange,
    Violation,
)
from orchestrator.ops import review
from orchestrator.rules import guard, policy, scanning
from orchestrator.rules.scanning import OverScan

if TYPE_CHECKING:
    from orchestrator.adapters.terraform import Terraform


REGISTRY_TARGETS = sorted(guard.REGISTRY_SCOPE)


def terraform_for(ctx: Context) -> Terraform:
    """terraform for the context's environment, with the process environment it runs with."""
    from orchestrator.adapters.terraform import Terraform

    ws, env = ctx.workspace, ctx.env
    tf = tfvars.load(ws.tfvars_file(env), env)
    environ = process_environ(ws, env, tf.region, ctx.environ)
    return Terraform(ws, env, environ, progress=ctx.progress)


def scan_report(ctx: Context, plan: PlanResult, unmanaged: bool = False) -> OverScan | None:
    """Which repositories the plan's scanning filters scan more than their tier asks, and why.

    With `unmanaged`, also the registry's repositories ecrctl does not manage that a filter
    matches: one ECR DescribeRepositories call (paginated), no provider load.
    """
    ws, env = ctx.workspace, ctx.env
    tf = tfvars.load(ws.tfvars_file(env), env)
    registry = None
    if unmanaged:
        adapter = ecr.connect(process_environ(ws, env, tf.region, ctx.environ), tf.region)
        registry = list(adapter.repositories())
    return scanning.plan_report(tf, policy.load_tiers(ws.tiers_file), plan, registry)


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
    ctx: Context,
    names: list[str],
    out: Path | None = None,
    var_file: Path | None = None,
) -> tuple[PlanResult, list[Violation]]:
    """One saved, targeted plan for `names`; returns it with the guard's verdicts (if any).

    `var_file` plans against a copy of the tfvars (decommission and restore show their plan
    before they change the managed file); by default the environment's own tfvars.
    """
    from orchestrator.adapters.terraform import target

    ws, env = ctx.workspace, ctx.env
    names = _names(names)
    var_file = var_file or ws.tfvars_file(env)
    planned = tfvars.load(var_file, env)
    requests = planned.entries
    configured = set(requests)
    # Terraform would refuse it too (registry.tf), after a provider load: say it first.
    for problem in scanning.check_file(planned, policy.load_tiers(ws.tiers_file))[:1]:
        raise UserError(
            f"{var_file}: {problem}",
            "add NAME* (or a PREFIX* covering it) to registry_scan_filters, or delete that"
            " variable and let ecrctl write it again; then run: ecrctl validate",
        )
    out = (out or _default_plan_file(ws, env, names)).resolve()
    terraform = terraform_for(ctx)
    terraform.init()
    targets = [target(n) for n in names] + REGISTRY_TARGETS
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
    tiers = policy.load_tiers(ws.tiers_file)
    state = terraform.state_pull() if review.needs_state(changes, configured) else None
    reviews = review.reviews(names, requests, tiers, state)
    result = PlanResult(env, tuple(targets), tuple(names), out, tuple(changes), reviews)
    without_policy = without_policy_of(requests, names)
    objections = guard.violations(changes, set(names), configured & set(names), without_policy)
    atomic_write(
        _sidecar(out),
        json.dumps(
            {
                **result.to_dict(),
                "plan_sha256": _sha256(out),
                "configured": sorted(configured & set(names)),
                "without_policy": sorted(without_policy),
                "guard": [v.to_dict() for v in objections],
            },
            indent=2,
        ),
    )
    return result, objections


def without_policy_of(requests: dict[str, RegistryRequest], names: list[str]) -> set[str]:
    """The named, configured repositories whose request leaves no principal in the policy."""
    return {n for n in names if n in requests and not requests[n].has_policy}


def load_saved_plan(
    ctx: Context, plan_file: Path, names: list[str]
) -> tuple[PlanResult, set[str], set[str]]:
    """A plan `ecrctl plan` saved, with what it was planned against: the configured names and
    those whose request leaves no principal (both for the guard)."""
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
    changes = tuple(
        ResourceChange(
            c["address"],
            Action(c["action"]),
            c["repository"],
            c.get("reason"),
            c.get("importing", False),
        )
        for c in saved["changes"]
    )
    reviews = tuple(review.Review.from_dict(r) for r in saved.get("settings", []))
    result = PlanResult(
        env, tuple(saved["targets"]), tuple(saved["repositories"]), plan_file, changes, reviews
    )
    return result, set(saved["configured"]), set(saved.get("without_policy", []))
