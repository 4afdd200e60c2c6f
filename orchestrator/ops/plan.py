"""plan: one saved, targeted plan (`-target=module.ecr_repositories["NAME"]`) and the guard's verdicts on it.

A registry-only plan (`registry`, no names) targets the registry-wide resources of
terraform/registry.tf alone: a change of the environment's registry-wide settings that changes
no entry (ci plan of such a pull request, `ecrctl plan --env ENV --registry`).

On a sharded environment (rules/shards.py) the plan is a plan set: one saved plan per touched
state (the shards of the named repositories, and the registry state when the registry-wide
settings move), planned side by side. The file ecrctl names is then the set's manifest (JSON:
each part's state, file and sha256); the summary beside it covers every part, and the guard
judges every part's changes together.

The summary ecrctl writes beside a saved plan (PLAN.json: its sha256, the changes, the verdicts) is for
people and tools; `apply --plan` trusts nothing in it. It judges the plan file itself (adapters/planfile.py):
the changes Terraform will apply, the variables it was planned with, the prior state it refreshed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from orchestrator.adapters import planfile
from orchestrator.adapters.terraform_output import changes_from_plan_json
from orchestrator.context import Environment, State
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
from orchestrator.ops import layout, review
from orchestrator.rules import guard, policy, replication, scanning, shards
from orchestrator.rules.replication import Replication
from orchestrator.rules.scanning import OverScan

REGISTRY_TARGETS = sorted(guard.REGISTRY_RESOURCES)
SET_FORMAT = "ecrctl-plan-set/1"
T = TypeVar("T")
R = TypeVar("R")


def side_by_side(run: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`run` over `items` in threads, at most one per core (each is a terraform process); the
    results in the order of `items`, the first failure raised once all have finished."""
    items = list(items)
    if len(items) <= 1:
        return [run(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(len(items), os.cpu_count() or 1)) as pool:
        futures = [pool.submit(run, item) for item in items]
        return [future.result() for future in futures]


def registry_moves(ctx: Environment, planned: tfvars.Tfvars) -> bool:
    """Whether the registry state's resources would change with `planned`: what it holds
    (scanning configuration, replication configuration, registry policy) differs from what the
    tfvars ask for, or it holds anything else, or nothing yet. Read from the registry state (a
    GetObject), so a request that leaves the registry-wide settings be plans its shard alone."""
    held: dict[str, dict[str, Any]] = {}
    for r in ctx.held(ctx.registry_state).get("resources") or []:
        if not isinstance(r, dict) or r.get("mode") != "managed" or r.get("module"):
            continue
        instances = r.get("instances") or []
        if len(instances) != 1 or instances[0].get("status") == "tainted":
            return True
        held[str(r.get("type"))] = instances[0].get("attributes") or {}
    want = replication.replication(
        planned.replication_filters, planned.replication_destinations, planned.entries, ctx.tiers
    )
    return held.keys() != _registry_wanted(planned, want) or _registry_differs(
        ctx, planned, want, held
    )


def _registry_wanted(planned: tfvars.Tfvars, want: Replication) -> set[str]:
    """The registry-wide resource types registry.tf writes for `planned`."""
    wanted = {"aws_ecr_registry_scanning_configuration"}
    if want.filters:
        wanted.add("aws_ecr_replication_configuration")
    if planned.document.values.get(replication.SOURCES):
        wanted.add("aws_ecr_registry_policy")
    return wanted


def _registry_differs(
    ctx: Environment, planned: tfvars.Tfvars, want: Replication, held: dict[str, dict[str, Any]]
) -> bool:
    scan = held["aws_ecr_registry_scanning_configuration"]
    wanted = planned.scan_filters
    if wanted is None:
        names = scanning.continuous_names(planned.entries, ctx.tiers)[0]
        wanted = [f"{n[:254]}*" for n in names]
    held_filters = [
        f.get("filter")
        for rule in scan.get("rule") or []
        if rule.get("scan_frequency") == "CONTINUOUS_SCAN"
        for f in rule.get("repository_filter") or []
    ]
    scan_type = planned.document.values.get("registry_scan_type", "ENHANCED")
    if scan.get("scan_type") != scan_type or sorted(held_filters) != sorted(wanted):
        return True
    config = held.get("aws_ecr_replication_configuration")
    if config is not None:
        rules = [
            (
                sorted((d.get("region"), d.get("registry_id")) for d in r.get("destination") or []),
                sorted(f.get("filter") for f in r.get("repository_filter") or []),
            )
            for c in config.get("replication_configuration") or []
            for r in c.get("rule") or []
        ]
        if rules != replication.rules_of(want, str(config.get("registry_id") or "")):
            return True
    registry_policy = held.get("aws_ecr_registry_policy")
    if registry_policy is not None:
        sources = sorted(planned.document.values.get(replication.SOURCES) or [])
        return replication.policy_accounts(registry_policy.get("policy")) != sources
    return False


def touched_states(
    ctx: Environment,
    names: list[str],
    planned: tfvars.Tfvars,
    registry: bool = False,
) -> list[State]:
    """The states a plan of `names` plans: the one state, or their shards (and the registry's
    when its settings move, or always with `registry`), the registry's first."""
    if ctx.shards == 1:
        return [ctx.registry_state]
    wanted = {ctx.state_of(n).name for n in names}
    if registry or registry_moves(ctx, planned):
        wanted.add(shards.REGISTRY)
    return [state for state in ctx.states if state.name in wanted]


def targets_of(state: State, names: Iterable[str]) -> list[str]:
    """What a plan of `names` targets in `state`."""
    found = [module_address(n) for n in names if state.holds(n)]
    return found + (REGISTRY_TARGETS if state.holds_registry else [])


def part_file(out: Path, state: State) -> Path:
    """Where the plan set `out` keeps its part for `state`."""
    return out.with_name(f"{out.stem}.{state.name}.tfplan")


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
    if not names:  # a registry-only plan
        path = ws.state_dir / "plans" / env / "registry.tfplan"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]
    path = ws.state_dir / "plans" / env / f"{digest}.tfplan"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _sidecar(plan_file: Path) -> Path:
    return plan_file.with_name(plan_file.name + ".json")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _names(names: list[str], registry: bool = False) -> list[str]:
    if not names and not registry:
        raise UserError(
            "name at least one repository, or pass --registry for the registry-wide settings",
            "e.g. ecrctl plan payments-gateway --env dev; ecrctl plan --env dev --registry",
        )
    return sorted({policy.check_ecr_name(n) for n in names})


def plan(
    ctx: Environment,
    names: list[str],
    out: Path | None = None,
    var_file: Path | None = None,
    only: str | None = None,
    registry: bool = False,
) -> tuple[PlanResult, list[Violation]]:
    """One saved, targeted plan for `names`; returns it with the guard's verdicts (if any).

    `var_file` plans against a copy of the tfvars (decommission and restore show their plan
    before they change the managed file); by default the environment's own tfvars. `only`
    plans one state (a CI matrix job): its part of the plan of `names`, nothing else.
    `registry` plans the registry-wide resources (registry.tf) too, whether or not the registry
    state says they move; with no names, them alone (judged with no requested repository).
    """
    ws, env = ctx.workspace, ctx.env
    names = _names(names, registry)
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
    states = [ctx.state_named(only)] if only else touched_states(ctx, names, planned, registry)
    layout.check(ctx, states)
    sharded = ctx.shards > 1

    def plan_state(state: State) -> list[ResourceChange]:
        terraform = ctx.terraform(state)
        terraform.init()
        return terraform.plan(
            targets_of(state, names), part_file(out, state) if sharded else out, var_file
        )

    if sharded:  # a former plan of the same names may have had other parts
        for other in ctx.states:
            if other not in states:
                part_file(out, other).unlink(missing_ok=True)
    changes = [c for part in side_by_side(plan_state, states) for c in part]
    targets = [t for state in states for t in targets_of(state, names)]
    if not sharded:
        try:
            layout.check(ctx, states, changes)
        except UserError:
            out.unlink(missing_ok=True)
            raise
    unmatched = [
        n
        for n in names
        if n not in configured
        and any(s.holds(n) for s in states)  # another state's repository is not planned here
        and not any(c.instance == n for c in changes)
    ]
    if unmatched:
        for path in [out] + [part_file(out, state) for state in states]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
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
    parts: list[dict[str, str]] = []
    if sharded:
        parts = [
            {
                "state": state.name,
                "key": state.key,
                "plan_file": part_file(out, state).name,
                "plan_sha256": _sha256(part_file(out, state)),
            }
            for state in states
        ]
        atomic_write(
            out, json.dumps({"format": SET_FORMAT, "env": env, "parts": parts}, indent=2) + "\n"
        )
    atomic_write(
        _sidecar(out),
        json.dumps(
            {
                **result.to_dict(),
                "parts": parts,
                "plan_sha256": _sha256(out),
                "configured": sorted(result.configured),
                "without_policy": sorted(result.without_policy),
                "guard": [v.to_dict() for v in objections],
            },
            indent=2,
        ),
    )
    return result, objections


def plan_text(ctx: Environment, result: PlanResult) -> str:
    """The plan as terraform prints it for people: each part of a plan set under its state."""
    if ctx.shards == 1:
        return ctx.terraform().show_plan_text(result.plan_file)
    texts = []
    for state in ctx.states:
        path = part_file(result.plan_file, state)
        if path.is_file():
            shown = ctx.terraform(state).show_plan_text(path)
            texts.append(f"# state {state.name} ({state.key})\n{shown}")
    return "\n".join(texts)


def checked_plan(
    ctx: Environment, names: list[str], out: Path | None = None, registry: bool = False
) -> PlanResult:
    """`plan`, refused (PlanRefused, carrying the plan to show) when the guard objects."""
    result, objections = plan(ctx, names, out, registry=registry)
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
    parts = set_parts(ctx, plan_file, saved)
    if parts is None:
        changes, targets, variables = read_plan(ctx, plan_file, names)
        _check_planned_for(plan_file, variables, env, ctx.registry_state, ctx.shards)
    else:
        changes, targets = [], []
        for part_state, part in parts:
            part_changes, part_targets, variables = read_plan(ctx, part, names)
            _check_planned_for(part, variables, env, part_state, ctx.shards)
            changes += part_changes
            targets = None if part_targets is None or targets is None else targets + part_targets
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


def _check_planned_for(
    plan_file: Path, variables: Mapping[str, Any], env: str, state: State, count: int
) -> None:
    """A saved plan's variables must be those of `state` of `env` at today's shard count."""
    planned_env = variables.get("environment")
    if planned_env != env:
        raise UserError(
            f"{plan_file} was planned for environment {planned_env!r}, not {env!r}", "plan again"
        )
    planned = (variables.get("state_name", shards.MAIN), variables.get("state_shards", 1))
    if planned != (state.name, count):
        raise UserError(
            f"{plan_file} was planned for state {planned[0]} of {planned[1]} shard(s), not"
            f" {state.name} of {count}",
            "plan again",
        )


def set_parts(
    ctx: Environment, plan_file: Path, saved: Mapping[str, Any]
) -> list[tuple[State, Path]] | None:
    """The (state, plan file) parts of a plan set, each checked against its sha256; None for
    a plan of one state."""
    listed = saved.get("parts")
    if not listed:
        if ctx.shards > 1:
            raise UserError(
                f"{plan_file} is a plan of one state, but {ctx.env} is split into"
                f" {ctx.shards} shards",
                "plan again",
            )
        return None
    try:
        manifest = json.loads(plan_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != SET_FORMAT:
        raise UserError(f"{plan_file} is not a plan set ecrctl wrote", "plan again")
    if manifest.get("parts") != listed or not isinstance(listed, list):
        raise UserError(f"{plan_file} lists other parts than its summary", "plan again")
    found = []
    for part in listed:
        if not isinstance(part, dict):
            raise UserError(f"{plan_file} lists a part ecrctl does not read", "plan again")
        state = ctx.state_named(str(part.get("state")))
        path = plan_file.with_name(str(part.get("plan_file")))
        if part.get("key") != state.key or path != part_file(plan_file, state):
            raise UserError(
                f"{plan_file}: its part {state.name} is not where it belongs", "plan again"
            )
        if not path.is_file() or _sha256(path) != part.get("plan_sha256"):
            raise UserError(f"{path} changed or went missing after ecrctl planned it", "plan again")
        found.append((state, path))
    return found


def listed_parts(ctx: Environment, plan_file: Path) -> list[tuple[State, Path]]:
    """The (state, file) parts a plan set's manifest lists (none for a plan of one state)."""
    if ctx.shards == 1:
        return []
    manifest = json.loads(plan_file.read_text(encoding="utf-8"))
    return [
        (state, part_file(plan_file, state))
        for part in manifest["parts"]
        for state in [ctx.state_named(str(part["state"]))]
    ]


def is_fresh(prior: Mapping[str, Any], held: Mapping[str, Any]) -> bool:
    """Whether a plan whose prior state is `prior` still applies to the state `held` now: the
    same lineage and serial, or (a state never written) no managed resource in the plan's
    prior state (the data sources the plan read are in it) nor in the backend."""
    if not held.get("lineage"):
        return not any(
            isinstance(r, dict) and r.get("mode") == "managed"
            for r in [*(prior.get("resources") or []), *(held.get("resources") or [])]
        )
    return (prior.get("lineage"), prior.get("serial")) == (held.get("lineage"), held.get("serial"))


def check_fresh(ctx: Environment, parts: list[tuple[State, Path]]) -> None:
    """Refuse a plan set if any state changed since it was planned (before applying any part:
    terraform would refuse that part alone, after the others were applied)."""
    for state, path in parts:
        if not is_fresh(planfile.prior_state(path), ctx.held(state)):
            raise UserError(
                f"the saved plan of {ctx.env}/{state.name} is stale: its state changed since it"
                " was planned; nothing was applied",
                "plan again",
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
    """What the plan found after its refresh; the backend's state if the plan does not say.
    For a plan set, every part's resources in one state."""
    if ctx.shards > 1:
        found: dict[str, Any] = {"resources": []}
        for state in ctx.states:
            path = part_file(plan_file, state)
            if path.is_file():
                found["resources"] += _prior_state_of(ctx, state, path).get("resources") or []
        return found
    return _prior_state_of(ctx, ctx.registry_state, plan_file)


def _prior_state_of(ctx: Environment, state: State, plan_file: Path) -> dict[str, Any]:
    try:
        return planfile.prior_state(plan_file)
    except UserError:
        return ctx.held(state)
