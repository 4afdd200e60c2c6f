"""create / plan / apply / list / validate as sequences of the pieces. Return data, never print.

terraform and the catalog sync are imported where they are used: `create` runs no terraform.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.adapters.environments import process_environ
from orchestrator.errors import EcrctlError, PlanRefused, TerraformError, UserError
from orchestrator.files import catalog, tfvars
from orchestrator.files.workspace import Workspace, atomic_write, write_together
from orchestrator.models import (
    ApplyResult,
    CatalogEntry,
    PlanResult,
    Problem,
    RegistryRequest,
    ResourceChange,
    RiskTier,
)
from orchestrator.ops import review
from orchestrator.rules import guard, policy

if TYPE_CHECKING:
    from orchestrator.adapters.terraform import Progress, Terraform

REGISTRY_TARGETS = sorted(guard.REGISTRY_SCOPE)
Confirm = Callable[[PlanResult], bool]


@dataclass(frozen=True)
class CreateResult:
    request: RegistryRequest
    catalog_changed: bool
    tfvars_changed: bool
    dry_run: bool

    @property
    def changed(self) -> bool:
        return self.catalog_changed or self.tfvars_changed

    def to_dict(self) -> dict[str, object]:
        return {
            "repository": self.request.name,
            "env": self.request.env,
            "request": self.request.attributes(),
            "catalog_changed": self.catalog_changed,
            "tfvars_changed": self.tfvars_changed,
            "dry_run": self.dry_run,
        }


def create(ws: Workspace, request: RegistryRequest, dry_run: bool = False) -> CreateResult:
    """Record the request in the catalog and the environment's tfvars, both or neither."""
    tfvars_path = ws.tfvars_file(request.env)
    with ws.lock():
        tiers = policy.load_tiers(ws.tiers_file)
        cat = catalog.load(ws.catalog_file, tiers)
        tf = tfvars.load(tfvars_path, request.env)
        check_request(request, tiers)
        _check_conflicts(cat, tf, request)
        in_catalog = request.name in cat.entries
        new_catalog = cat.text if in_catalog else cat.with_entry(CatalogEntry(request), tiers)
        new_tfvars = tf.text if request.name in tf.entries else tf.with_entry(request)
        # Read back what is about to be written: it must hold exactly the request.
        reread = tfvars.parse(new_tfvars, tfvars_path, request.env).entries.get(request.name)
        recat = catalog.load_text(new_catalog, ws.catalog_file, tiers).entries.get(request.name)
        if reread != request or recat is None or recat.request != request:
            raise UserError(f"internal error: {request.name!r} would not read back as requested")
        result = CreateResult(request, new_catalog != cat.text, new_tfvars != tf.text, dry_run)
        if not dry_run:
            old_catalog = cat.text if ws.catalog_file.exists() else None
            write_together(
                [(ws.catalog_file, old_catalog, new_catalog), (tfvars_path, tf.text, new_tfvars)]
            )
        return result


def check_request(request: RegistryRequest, tiers: dict[str, RiskTier]) -> None:
    """The checks of a whole request before it is written, shared by create and update.

    The field rules ran when the request was built (policy.build_request); AWS limits that
    depend on the tier (policy.check_limits, issue 12) belong here too.
    """
    if request.risk not in tiers:
        raise UserError(f"risk {request.risk!r} is not a tier of {', '.join(sorted(tiers))}")


def _check_conflicts(cat: catalog.Catalog, tf: tfvars.Tfvars, request: RegistryRequest) -> None:
    existing = cat.entries.get(request.name)
    if existing is not None:
        if existing.status == "decommissioned":
            raise UserError(
                f"{request.name!r} was decommissioned"
                f" ({existing.history.get('decommissioned_at', 'date unknown')})",
                "bring it back with: ecrctl restore BACKUP_DIR, or choose another name",
            )
        if existing.request.env != request.env:
            raise UserError(
                f"{request.name!r} already exists in environment {existing.request.env!r}",
                "repository names are unique across the catalog; choose another name",
            )
        if not catalog.same_request(existing.request, request):
            raise UserError(
                f"{request.name!r} already exists with different attributes: "
                + catalog.describe_difference(existing.request, request),
                "repeat the original request, or change the entry through review",
            )
    in_tfvars = tf.entries.get(request.name)
    if in_tfvars is not None and not catalog.same_request(in_tfvars, request):
        raise UserError(
            f"{tf.path} already holds {request.name!r} with different attributes: "
            + catalog.describe_difference(in_tfvars, request),
            "run: ecrctl validate",
        )
    for other in cat.entries.values():
        if other.request.registry_id == request.registry_id and other.request.name != request.name:
            raise UserError(
                f"registry ID {request.registry_id} already belongs to {other.request.name!r}",
                "pass a distinct --id",
            )


def terraform_for(ws: Workspace, env: str, progress: Progress | None = None) -> Terraform:
    from orchestrator.adapters.terraform import Terraform

    tf = tfvars.load(ws.tfvars_file(env), env)
    return Terraform(ws, env, process_environ(ws, env, tf.region), progress=progress)


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
    return sorted({policy.check_name(n) for n in names})


def plan(
    ws: Workspace,
    env: str,
    names: list[str],
    out: Path | None = None,
    progress: Progress | None = None,
    var_file: Path | None = None,
) -> tuple[PlanResult, list[str]]:
    """One saved, targeted plan for `names`; returns it with the guard's objections (if any).

    `var_file` plans against a copy of the tfvars (decommission and restore show their plan
    before they change the managed file); by default the environment's own tfvars.
    """
    from orchestrator.adapters.terraform import target

    names = _names(names)
    var_file = var_file or ws.tfvars_file(env)
    requests = tfvars.load(var_file, env).entries
    configured = set(requests)
    out = (out or _default_plan_file(ws, env, names)).resolve()
    terraform = terraform_for(ws, env, progress)
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
    without_policy = _without_policy(requests, names)
    objections = guard.violations(changes, set(names), configured & set(names), without_policy)
    atomic_write(
        _sidecar(out),
        json.dumps(
            {
                **result.to_dict(),
                "plan_sha256": _sha256(out),
                "configured": sorted(configured & set(names)),
                "without_policy": sorted(without_policy),
                "guard": objections,
            },
            indent=2,
        ),
    )
    return result, objections


def _without_policy(requests: dict[str, RegistryRequest], names: list[str]) -> set[str]:
    """The named, configured repositories whose request leaves no principal in the policy."""
    return {n for n in names if n in requests and not requests[n].has_policy}


def _load_saved_plan(
    ws: Workspace, env: str, plan_file: Path, names: list[str]
) -> tuple[PlanResult, set[str], set[str]]:
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
        ResourceChange(c["address"], c["action"], c["repository"], c.get("reason"))
        for c in saved["changes"]
    )
    reviews = tuple(review.Review.from_dict(r) for r in saved.get("settings", []))
    result = PlanResult(
        env, tuple(saved["targets"]), tuple(saved["repositories"]), plan_file, changes, reviews
    )
    return result, set(saved["configured"]), set(saved.get("without_policy", []))


def apply(
    ws: Workspace,
    env: str,
    names: list[str],
    plan_file: Path | None,
    confirm: Confirm,
    progress: Progress | None = None,
    sync: bool = True,
) -> ApplyResult:
    """Apply a saved plan (or plan now), after the guard and a confirmation have passed it.

    Then, unless `sync` is off, write the Backstage catalog from the new state (even when there
    was nothing to apply, so that the catalog never lags the registry).
    """
    if plan_file is not None:
        result, configured, without_policy = _load_saved_plan(ws, env, plan_file.resolve(), names)
    else:
        result, _ = plan(ws, env, names, progress=progress)
        requests = tfvars.load(ws.tfvars_file(env), env).entries
        configured = set(requests) & set(result.repositories)
        without_policy = _without_policy(requests, list(result.repositories))
    guard.check(result.changes, set(result.repositories), configured, without_policy)
    _refuse_live_deletes(ws, env, result)
    terraform = terraform_for(ws, env, progress)
    if not result.changes:
        return _synced(ApplyResult(result, ()), ws, env, terraform, sync, progress)
    if not confirm(result):
        raise UserError("apply cancelled; nothing was changed")
    terraform.init()
    try:
        applied = terraform.apply(result.plan_file, [c.address for c in result.changes])
    except TerraformError as exc:
        # A partial apply still changed the registry: record what exists, then report the failure.
        # Unless the backend never got the state: it has nothing new, and it may be down (retries).
        if exc.state_saved:
            _synced(ApplyResult(result, ()), ws, env, terraform, sync, progress)
        raise
    return _synced(ApplyResult(result, tuple(applied)), ws, env, terraform, sync, progress)


def _refuse_live_deletes(ws: Workspace, env: str, plan: PlanResult) -> None:
    """A repository leaves Terraform through a decommission, which backs it up first.

    The guard lets a plan delete a requested repository whose tfvars entry is gone; a hand edit
    removes one as well. Refuse while the catalog still lists the repository as live.
    """
    deleting = {
        c.instance
        for c in plan.changes
        if c.action == "delete"
        and c.instance
        and c.address.endswith("." + guard.REPOSITORY_RESOURCE)
    }
    if not deleting:
        return
    entries = catalog.load(ws.catalog_file, policy.load_tiers(ws.tiers_file)).entries
    live = sorted(
        name
        for name in deleting
        if name in entries
        and entries[name].request.env == env
        and entries[name].status != "decommissioned"
    )
    if live:
        addresses = [c.address for c in plan.changes if c.instance in live and c.action == "delete"]
        raise PlanRefused(
            f"plan refused: it deletes {', '.join(live)}, which the catalog lists as"
            f" {entries[live[0]].status} (its tfvars entry is gone, but it was not decommissioned):"
            f" {', '.join(addresses)}",
            addresses,
            f"restore the tfvars entry, or retire it with: ecrctl decommission {live[0]} --env {env}"
            " (which backs it up first)",
        )


def _synced(
    result: ApplyResult,
    ws: Workspace,
    env: str,
    terraform: Terraform,
    sync: bool,
    progress: Progress | None,
) -> ApplyResult:
    """`result` with the catalog sync that follows an apply; its failure leaves the apply be."""
    from orchestrator.ops import sync as catalog_sync

    if not sync:
        return result
    # The region the apply just ran in, not the shell's: a stray AWS_REGION must not fail it.
    region = tfvars.load(ws.tfvars_file(env), env).region
    try:
        done = catalog_sync.sync(
            ws,
            env,
            region,
            terraform=terraform,
            progress=progress,
            region_source=f"envs/{env}/terraform.tfvars, as applied",
        )
    except EcrctlError as exc:
        return replace(result, sync_error=exc)
    return replace(result, sync=done)


def repository_urls(ws: Workspace, names: Iterable[str]) -> dict[str, str]:
    """Each repository's URL as the catalog sync after an apply recorded it (from the state)."""
    entries = catalog.load(ws.catalog_file, policy.load_tiers(ws.tiers_file)).entries
    return {
        n: entries[n].repository_url
        for n in sorted(names)
        if n in entries and entries[n].repository_url
    }


@dataclass(frozen=True)
class Listing:
    env: str
    entries: list[CatalogEntry]
    in_tfvars: set[str]

    def to_dict(self) -> dict[str, object]:
        return {
            "env": self.env,
            "repositories": [
                {
                    "name": e.request.name,
                    **e.request.attributes(),
                    "status": e.status,
                    "repository_url": e.repository_url,
                    "in_tfvars": e.request.name in self.in_tfvars,
                }
                for e in self.entries
            ],
        }


def list_repositories(ws: Workspace, env: str) -> Listing:
    tiers = policy.load_tiers(ws.tiers_file)
    tf = tfvars.load(ws.tfvars_file(env), env)
    cat = catalog.load(ws.catalog_file, tiers)
    entries = sorted(
        (e for e in cat.entries.values() if e.request.env == env), key=lambda e: e.request.name
    )
    return Listing(env, entries, set(tf.entries))


def validate(ws: Workspace, env: str | None = None) -> list[Problem]:
    """Every problem in the catalog and the tfvars of `env` (or of every environment)."""
    import hcl2  # deferred: only validate needs the second, independent HCL reader

    problems: list[Problem] = []
    tiers = policy.load_tiers(ws.tiers_file)
    envs = [env] if env else ws.environments()
    if env:
        ws.env_dir(env)
    cat_path = ws.relative(ws.catalog_file)
    cat: catalog.Catalog | None = None
    try:
        cat, entry_problems = catalog.parse_file(ws.catalog_file, tiers)
        problems += entry_problems
    except UserError as exc:
        problems.append(Problem(cat_path, _line(exc.message), exc.message))
    known_envs = set(ws.environments())
    all_tfvars: dict[str, tfvars.Tfvars] = {}
    for name in envs:
        path = ws.tfvars_file(name)
        rel = ws.relative(path)
        try:
            all_tfvars[name] = tfvars.load(path, name)
        except UserError as exc:
            problems.append(Problem(rel, _line(exc.message), exc.message))
            continue
        try:
            hcl2.loads(path.read_text(encoding="utf-8"))
        except Exception as exc:  # python-hcl2 raises lark errors of many kinds
            problems.append(
                Problem(rel, 1, f"python-hcl2 cannot parse it: {str(exc).splitlines()[0]}")
            )
    if cat is None:
        return problems
    ids: dict[str, str] = {}
    for entry in cat.entries.values():
        req = entry.request
        line = cat.lines.get(req.name, 1)
        if req.registry_id in ids:
            problems.append(
                Problem(
                    cat_path,
                    line,
                    f"registry ID {req.registry_id} is used by"
                    f" both {ids[req.registry_id]!r} and {req.name!r}",
                )
            )
        ids[req.registry_id] = req.name
        if req.env not in known_envs:
            problems.append(
                Problem(
                    cat_path,
                    line,
                    f"{req.name!r}: environment {req.env!r} does not exist under envs/",
                )
            )
            continue
        tf = all_tfvars.get(req.env)
        if tf is None:
            continue
        rel = ws.relative(tf.path)
        in_tf = tf.entries.get(req.name)
        if entry.status == "decommissioned":
            if in_tf is not None:
                problems.append(
                    Problem(
                        rel,
                        _tf_line(tf, req.name),
                        f"{req.name!r} is decommissioned in the catalog but still in the tfvars",
                    )
                )
        elif in_tf is None:
            problems.append(
                Problem(cat_path, line, f"{req.name!r} ({entry.status}) is missing from {rel}")
            )
        elif not catalog.same_request(in_tf, req):
            problems.append(
                Problem(
                    rel,
                    _tf_line(tf, req.name),
                    f"{req.name!r} differs from the"
                    " catalog: " + catalog.describe_difference(req, in_tf),
                )
            )
    for name, tf in all_tfvars.items():
        for repo in tf.entries:
            if repo not in cat.entries:
                problems.append(
                    Problem(
                        ws.relative(tf.path), _tf_line(tf, repo), f"{repo!r} is not in {cat_path}"
                    )
                )
            elif cat.entries[repo].request.env != name:
                problems.append(
                    Problem(
                        ws.relative(tf.path),
                        _tf_line(tf, repo),
                        f"{repo!r} is catalogued for environment {cat.entries[repo].request.env!r}",
                    )
                )
    return problems


def _tf_line(tf: tfvars.Tfvars, name: str) -> int:
    spans = tf.document.spans.get(tfvars.VARIABLE)
    return spans.lines.get(name, 1) if spans else 1


def _line(message: str) -> int:
    parts = message.split(":")
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 1
