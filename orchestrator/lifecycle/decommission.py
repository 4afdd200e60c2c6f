"""decommission as a sequence of the pieces (ADR-0092's lifecycle). Returns data.

A little over 400 lines: the steps below and the rules each one checks (active use, backups)
read best in one place.

active-use check -> destroy plan (made against a copy of the tfvars without the entry, so it changes
nothing) -> confirmation -> verified backup -> tfvars entry removed and catalog entry marked
decommissioned (together, under the lock) -> repository emptied (only what the backup holds, or with
--force --skip-backup) -> the saved plan applied.

Each step is safe to repeat: when a run stops after the files were changed, the catalog says
`decommissioned` while Terraform's state still holds the instance, and running the command again picks
up from there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.adapters import ecr
from orchestrator.adapters.state import instance_state
from orchestrator.context import Environment
from orchestrator.errors import EcrctlError, Incomplete, UserError
from orchestrator.files import catalog, tfvars
from orchestrator.files.workspace import Workspace
from orchestrator.lifecycle import backup
from orchestrator.lifecycle.backend import (
    Backend,
    Step,
    TerraformBackend,
    guarded_plan,
    mark_done,
)
from orchestrator.models import ApplyResult, CatalogEntry, PlanResult, RiskTier, Status
from orchestrator.models import module_address as target
from orchestrator.rules import policy

DECOMMISSIONED = Status.DECOMMISSIONED
SKIPPED_BACKUP = "none (--skip-backup)"
REASON_MAX = 500


@dataclass(frozen=True)
class Options:
    reason: str = ""
    backup_root: Path | None = None  # default: backups/ in the repository
    skip_backup: bool = False
    force: bool = False
    active_days: int = ecr.DEFAULT_ACTIVE_DAYS
    dry_run: bool = False


@dataclass
class DecommissionResult:
    name: str
    env: str
    risk: str
    dry_run: bool
    resumed: bool
    activity: ecr.Activity | None = None
    backup: str | None = None
    images: int = 0
    emptied: list[str] = field(default_factory=list)
    plan: PlanResult | None = None
    apply: ApplyResult | None = None
    steps: list[Step] = field(default_factory=list)

    @property
    def applied(self) -> tuple[str, ...]:
        return self.apply.applied if self.apply else ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "repository": self.name,
            "env": self.env,
            "risk": self.risk,
            "dry_run": self.dry_run,
            "resumed": self.resumed,
            "activity": self.activity.to_dict() if self.activity else None,
            "backup": self.backup,
            "images": self.images,
            "emptied": self.emptied,
            "plan": self.plan.to_dict() if self.plan else None,
            **(self.apply.outcome() if self.apply else {"applied": []}),
            "steps": [s.to_dict() for s in self.steps],
        }


def decommission(
    ctx: Environment,
    name: str,
    options: Options,
    confirm: Callable[[DecommissionResult], bool],
    backend: Backend | None = None,
) -> DecommissionResult:
    """Decommission one repository, or finish a decommission that stopped part-way."""
    ws, env = ctx.workspace, ctx.env
    name = policy.check_ecr_name(name)
    ws.env_dir(env)
    if len(options.reason) > REASON_MAX:
        raise UserError(f"--reason is longer than {REASON_MAX} characters")
    if options.active_days < 0:
        raise UserError("the active-use window must be 0 days or more")
    moment = ctx.now()
    tiers = ctx.tiers
    tfvars_path = ws.tfvars_file(env)
    cat = ctx.catalog
    tf = ctx.tfvars
    entry = _decommissionable(ws, cat, tf, env, name)
    resumed = entry.status == DECOMMISSIONED
    request = entry.request
    result = DecommissionResult(name, env, request.risk, options.dry_run, resumed)
    would = "would"  # until it is done: a dry run and the preview before confirmation show this

    backend = backend or TerraformBackend(ctx)
    state = backend.state()
    instance = instance_state(state, target(name))
    in_state = bool(instance["resources"])
    if resumed and name not in tf.entries and not in_state:
        raise UserError(
            f"{name!r} is already decommissioned in {env}"
            f" ({entry.history.get('decommissioned_at', 'date unknown')};"
            f" backup: {entry.history.get('backup', 'unknown')}); nothing to do",
            "bring it back with: ecrctl restore BACKUP_DIR",
        )
    repository = backend.ecr.repository(name)
    if repository is not None and not in_state:
        raise UserError(
            f"{name!r} exists in ECR but the Terraform state of {env} does not manage it;"
            " ecrctl destroys only what Terraform manages. Nothing was changed",
            "find out who created it; import it into the state or remove it by hand after a"
            " backup, then run ecrctl decommission again",
        )
    images = backend.ecr.images(name) if repository is not None else []
    result.images = len(images)

    # 1. Active-use check (done once: a rerun continues a decommission already recorded).
    result.steps.append(_active_use(entry, images, options, moment, result))

    # 2. Backup: is one needed, and is one allowed to be skipped?
    digests = [i.digest for i in images]
    need_backup = _backup_needed(ws, entry, options, tiers, digests, result)
    bundle_path = backup.bundle_dir(options.backup_root or ws.root / "backups", env, name, moment)
    if need_backup:
        result.backup = ws.relative(bundle_path.resolve())
        result.steps.append(
            Step(
                "backup",
                would,
                f"{result.backup}: catalog and tfvars entries,"
                f" Terraform state, policies, tags, {len(images)} manifest(s)",
            )
        )

    # 3. The managed files as they will be (rendered by the transaction that will write them),
    # and the destroy plan made against that tfvars.
    with ctx.transaction() as preview:
        preview.remove(name)
        _, new_tfvars = preview.render()
    assert new_tfvars is not None  # an environment's transaction renders its tfvars
    changes = [
        what
        for what, changed in (
            (f"remove the entry from {ws.relative(tfvars_path)}", name in tf.entries),
            (f"mark the catalog entry {DECOMMISSIONED}", not resumed),
        )
        if changed
    ]
    result.steps.append(
        Step("files", would if changes else "skipped", "; ".join(changes) or "already done")
    )
    if images:
        result.steps.append(
            Step(
                "empty",
                would,
                f"delete {len(images)} image(s) after the"
                f" {'backup' if not options.skip_backup else 'forced skip'}",
            )
        )
    plan: PlanResult | None = None
    if in_state:
        plan = guarded_plan(
            backend,
            ws,
            env,
            "decommission",
            name,
            new_tfvars,
            "deletes inside the repository's module instance",
        )
        result.plan = plan
        result.steps.append(Step("destroy", would, f"apply the targeted plan: {plan.counted()}"))
    else:
        result.steps.append(Step("destroy", "skipped", "nothing of it in the Terraform state"))
    if options.dry_run:
        return result
    if not confirm(result):
        raise UserError("decommission cancelled; nothing was changed")

    # 4. Backup, verified before anything else changes.
    if need_backup:
        contents = _gather(
            backend.ecr, entry, options.reason, tf.region, instance, repository, images, moment
        )
        backup.write(bundle_path, contents, tiers)
    # 5. From here on a failure leaves things part-way: say where, and let a rerun finish.
    done = [
        f"backup verified at {result.backup}"
        if need_backup
        else f"backup: {result.backup or SKIPPED_BACKUP}"
    ]
    rerun = f"ecrctl decommission {name} --env {env} --auto-approve"
    try:
        if changes or (need_backup and resumed):
            _write_decommissioned(
                ctx,
                entry,
                tf.text,
                new_tfvars,
                _history(entry, resumed, options.reason, result.backup, moment),
            )
            done.append(f"catalog marks {name} {DECOMMISSIONED} and the tfvars entry is removed")
        if images:
            result.emptied = backend.ecr.delete_images(name, digests)
            done.append(f"{len(result.emptied)} image(s) deleted from the repository")
        if plan is not None:
            result.apply = backend.apply(plan)
    except EcrctlError as exc:
        if plan is not None and not result.applied:
            done.append("the repository is not (fully) destroyed yet")
        raise Incomplete(exc, done, rerun) from exc
    mark_done(result.steps)
    return result


def _history(
    entry: CatalogEntry, resumed: bool, reason: str, backup_at: str | None, moment: datetime
) -> dict[str, str]:
    """What the catalog keeps about the decommission; a rerun keeps the first run's date."""
    if not resumed:
        return {
            "decommissioned_at": moment.isoformat(),
            "decommission_reason": reason or "not given",
            "backup": backup_at or SKIPPED_BACKUP,
        }
    old = entry.history
    return {
        "decommissioned_at": old.get("decommissioned_at", moment.isoformat()),
        "decommission_reason": reason or old.get("decommission_reason", "not given"),
        "backup": backup_at or old.get("backup", SKIPPED_BACKUP),
    }


def _active_use(
    entry: CatalogEntry,
    images: list[ecr.ImageInfo],
    options: Options,
    moment: datetime,
    result: DecommissionResult,
) -> Step:
    """Refuse a repository pushed to or pulled from within the window, unless --force."""
    name = entry.request.name
    if result.resumed:
        when = entry.history.get("decommissioned_at", "?")
        return Step("check", "skipped", f"decommission already recorded on {when}: continuing")
    activity = ecr.activity(images, moment, options.active_days)
    result.activity = activity
    if activity.active and not options.force:
        digest, event, when_used = activity.recent[0]
        raise UserError(
            f"{name!r} is in use: {len(activity.recent)} image push(es)/pull(s) in the last"
            f" {options.active_days} days (latest: {event} of {digest[:19]} at"
            f" {when_used.isoformat()}). Nothing was changed",
            "make sure nothing deploys from it any more, then pass --force (or wait)",
        )
    return Step("check", "done", _activity_text(activity))


def _backup_needed(
    ws: Workspace,
    entry: CatalogEntry,
    options: Options,
    tiers: dict[str, RiskTier],
    digests: list[str],
    result: DecommissionResult,
) -> bool:
    """Whether to take a backup now; refuses a skipped one where the rules forbid it.

    A first run backs up unless --skip-backup. A rerun backs up again only when images are left
    that the recorded backup does not hold (pushed since), and otherwise reuses it.
    """
    name, resumed = entry.request.name, result.resumed
    if options.skip_backup and entry.request.risk == "high":
        raise UserError(
            f"{name!r} is high risk: a verified backup is mandatory, --skip-backup is refused",
            "drop --skip-backup",
        )
    if options.skip_backup and digests and not options.force:
        raise UserError(
            f"{name!r} holds {len(digests)} image(s): --skip-backup would delete them with no"
            " backup. Nothing was changed",
            "keep the backup (drop --skip-backup), or confirm the loss with --force --skip-backup",
        )
    if options.skip_backup:
        result.steps.append(Step("backup", "skipped", "--skip-backup"))
        return False
    if not resumed:
        return True
    if not digests:
        result.steps.append(
            Step("backup", "skipped", "no images left and the backup was taken before")
        )
        return False
    covering = _covering_backup(ws, entry, tiers, set(digests))
    if covering is None:
        return True
    result.backup = covering
    result.steps.append(Step("backup", "skipped", f"{covering} already holds every image"))
    return False


def _decommissionable(
    ws: Workspace, cat: catalog.Catalog, tf: tfvars.Tfvars, env: str, name: str
) -> CatalogEntry:
    entry = cat.entries.get(name)
    if entry is None:
        where = f"; it is in {ws.relative(tf.path)} though" if name in tf.entries else ""
        raise UserError(
            f"no repository {name!r} in the catalog{where}. Nothing was changed",
            f"list what exists with: ecrctl list --env {env}; check the files with: ecrctl validate",
        )
    if entry.request.env != env:
        raise UserError(
            f"{name!r} belongs to environment {entry.request.env!r}, not {env!r}."
            " Nothing was changed",
            f"run: ecrctl decommission {name} --env {entry.request.env}",
        )
    in_tfvars = tf.entries.get(name)
    if in_tfvars is not None and not catalog.same_request(in_tfvars, entry.request):
        raise UserError(
            f"{ws.relative(tf.path)} and the catalog disagree about {name!r}: "
            + catalog.describe_difference(entry.request, in_tfvars)
            + ". Nothing was changed",
            "run: ecrctl validate, and fix the files first",
        )
    return entry


def _activity_text(activity: ecr.Activity) -> str:
    last = (
        f"last push {activity.last_push.isoformat() if activity.last_push else 'never'},"
        f" last recorded pull {activity.last_pull.isoformat() if activity.last_pull else 'never'}"
    )
    if activity.active:
        return f"in use within {activity.window_days} days ({last}); overridden by --force"
    return f"not used within {activity.window_days} days ({last})"


def _covering_backup(
    ws: Workspace, entry: CatalogEntry, tiers: dict[str, RiskTier], digests: set[str]
) -> str | None:
    """The recorded backup, if it verifies and holds every image still in the repository."""
    recorded = entry.history.get("backup", "")
    if not recorded or recorded == SKIPPED_BACKUP:
        return None
    path = Path(recorded) if Path(recorded).is_absolute() else ws.root / recorded
    with contextlib.suppress(UserError):
        bundle = backup.load(path, tiers)
        if bundle.name == entry.request.name and digests <= bundle.digests:
            return recorded
    return None


def _gather(
    client: ecr.Ecr,
    entry: CatalogEntry,
    reason: str,
    region: str | None,
    instance: dict[str, Any],
    repository: dict[str, Any] | None,
    images: list[ecr.ImageInfo],
    moment: datetime,
) -> backup.Contents:
    name = entry.request.name
    return backup.Contents(
        entry=entry,
        created_at=moment,
        reason=reason,
        region=region,
        state=instance,
        repository=repository,
        repository_policy=client.repository_policy(name) if repository else None,
        lifecycle_policy=client.lifecycle_policy(name) if repository else None,
        tags=_tag_list(client.tags(repository["repositoryArn"])) if repository else [],
        images=images,
        manifests=client.manifests(name, [i.digest for i in images]) if images else [],
    )


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    """Tags as the bundle's tags.json holds them: [{"Key": ..., "Value": ...}], sorted by key."""
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def _write_decommissioned(
    ctx: Environment,
    planned: CatalogEntry,
    planned_tfvars: str,
    new_tfvars: str,
    history: dict[str, str],
) -> None:
    """Catalog entry -> decommissioned (with history), tfvars entry removed: both or neither."""
    name = planned.request.name
    with ctx.transaction() as txn:
        txn.check_unchanged(
            f"{name!r} was being decommissioned", tfvars_text=planned_tfvars, entry=planned
        )
        txn.remove(name, **history)
        txn.commit(planned_tfvars=new_tfvars)
