"""What decommission and restore run against: terraform through ops/ (the plan guard, saved plans) and ECR.

`Backend` is the seam the unit tests fake; `guarded_plan` is the targeted plan both commands show before
any managed file changes (made against a scratch copy of the tfvars).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from orchestrator.adapters import ecr
from orchestrator.context import Environment
from orchestrator.files.workspace import Workspace, atomic_write
from orchestrator.models import ApplyResult, PlanResult, Violation
from orchestrator.ops import apply as apply_op
from orchestrator.ops import plan as plan_op
from orchestrator.rules import guard


class Backend(Protocol):
    """What a decommission or a restore talks to: Terraform and ECR. Tests pass fakes."""

    @property
    def ecr(self) -> ecr.Ecr: ...

    def state(self) -> dict[str, Any]: ...

    def plan(self, name: str, var_file: Path, out: Path) -> tuple[PlanResult, list[Violation]]: ...

    def apply(self, plan: PlanResult) -> ApplyResult: ...


class TerraformBackend:
    """The real one: plan_op.plan/apply (the plan guard, the saved-plan checks) and boto3."""

    def __init__(self, ctx: Environment) -> None:
        self.ctx = ctx
        self._ecr: ecr.Ecr | None = None

    @property
    def ecr(self) -> ecr.Ecr:
        if self._ecr is None:
            self._ecr = self.ctx.ecr()
        return self._ecr

    def state(self) -> dict[str, Any]:
        if self.ctx.shards > 1:  # every state's resources (GetObjects, no provider)
            return self.ctx.held_together()
        terraform = self.ctx.terraform()
        terraform.init()
        return terraform.state_pull()

    def plan(self, name: str, var_file: Path, out: Path) -> tuple[PlanResult, list[Violation]]:
        return plan_op.plan(self.ctx, [name], out, var_file=var_file)

    def apply(self, plan: PlanResult) -> ApplyResult:
        # Confirmation happened before anything was changed; the guard checks the plan again.
        return apply_op.apply(self.ctx, list(plan.repositories), plan.plan_file, lambda _p: True)


@dataclass(frozen=True)
class Step:
    step: str  # check | backup | files | empty | destroy | apply | restore-images
    status: str  # done | would (a dry run, or a preview before confirmation) | skipped
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"step": self.step, "status": self.status, "detail": self.detail}


def guarded_plan(
    backend: Backend, ws: Workspace, env: str, kind: str, name: str, text: str, allowed: str
) -> PlanResult:
    """The targeted plan of `name` against `text` as the tfvars, refused unless the guard passes.

    It plans against a var-file copy in .ecrctl/, so the plan is shown before any managed file
    changes. `allowed` says what the plan may hold, for the refusal.
    """
    directory = ws.state_dir / "plans" / env
    directory.mkdir(parents=True, exist_ok=True)
    var_file = directory / f"{kind}-{name}.tfvars"
    atomic_write(var_file, text)
    plan, objections = backend.plan(name, var_file, directory / f"{kind}-{name}.tfplan")
    if objections:
        raise guard.refusal(
            objections, f"{kind} plan", f"nothing was changed; the plan must hold only {allowed}"
        )
    return plan


def mark_done(steps: list[Step]) -> None:
    for index, step in enumerate(steps):
        if step.status == "would":
            steps[index] = replace(step, status="done")
