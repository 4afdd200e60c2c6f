"""decommission and restore as sequences of the pieces (ADR-0092's lifecycle). Return data.

decommission: active-use check -> destroy plan (made against a copy of the tfvars without the
entry, so it changes nothing) -> confirmation -> verified backup -> tfvars entry removed and
catalog entry marked decommissioned (together, under the lock) -> repository emptied (only what
the backup holds, or with --force --skip-backup) -> the saved plan applied.

Each step is safe to repeat: when a run stops after the files were changed, the catalog says
`decommissioned` while Terraform's state still holds the instance, and running the command again
picks up from there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from orchestrator.adapters import ecr
from orchestrator.adapters.terraform import Progress, target
from orchestrator.errors import EcrctlError, PlanRefused, UserError
from orchestrator.files import catalog, tfvars
from orchestrator.files.workspace import Workspace, atomic_write, write_together
from orchestrator.lifecycle import backup
from orchestrator.models import ApplyResult, CatalogEntry, PlanResult, RiskTier
from orchestrator.ops import workflows
from orchestrator.rules import policy

DECOMMISSIONED = "decommissioned"
SKIPPED_BACKUP = "none (--skip-backup)"
REASON_MAX = 500


class Backend(Protocol):
    """What a decommission or a restore talks to: Terraform and ECR. Tests pass fakes."""

    @property
    def ecr(self) -> ecr.Ecr: ...

    def state(self) -> dict[str, Any]: ...

    def plan(self, name: str, var_file: Path, out: Path) -> tuple[PlanResult, list[str]]: ...

    def apply(self, plan: PlanResult) -> ApplyResult: ...


class TerraformBackend:
    """The real one: workflows.plan/apply (the plan guard, the saved-plan checks) and boto3."""

    def __init__(self, ws: Workspace, env: str, progress: Progress | None = None) -> None:
        self.ws, self.env, self.progress = ws, env, progress
        self._ecr: ecr.Ecr | None = None

    @property
    def ecr(self) -> ecr.Ecr:
        if self._ecr is None:
            region = tfvars.load(self.ws.tfvars_file(self.env), self.env).region
            self._ecr = ecr.connect(self.ws, self.env, region)
        return self._ecr

    def state(self) -> dict[str, Any]:
        terraform = workflows.terraform_for(self.ws, self.env, self.progress)
        terraform.init()
        return terraform.state_pull()

    def plan(self, name: str, var_file: Path, out: Path) -> tuple[PlanResult, list[str]]:
        return workflows.plan(
            self.ws, self.env, [name], out, progress=self.progress, var_file=var_file
        )

    def apply(self, plan: PlanResult) -> ApplyResult:
        # Confirmation happened before anything was changed; the guard checks the plan again.
        return workflows.apply(
            self.ws,
            self.env,
            list(plan.repositories),
            plan.plan_file,
            lambda _plan: True,
            progress=self.progress,
        )


class Incomplete(EcrctlError):
    """A decommission or restore stopped after it had changed something; rerunning finishes it."""

    def __init__(self, cause: EcrctlError, done: list[str], rerun: str) -> None:
        super().__init__(
            f"{cause.message}; stopped part-way, so far: {'; '.join(done)}",
            f"{cause.hint + '; ' if cause.hint else ''}fix the cause, then run again to finish:"
            f" {rerun}",
        )
        self.exit_code = cause.exit_code
        self.cause = cause
        self.done = done


@dataclass(frozen=True)
class Step:
    step: str  # check | backup | files | empty | destroy | apply | restore-images
    status: str  # done | would (a dry run, or a preview before confirmation) | skipped
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"step": self.step, "status": self.status, "detail": self.detail}


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
            **_apply_dict(self.apply),
            "steps": [s.to_dict() for s in self.steps],
        }


def _apply_dict(apply: ApplyResult | None) -> dict[str, Any]:
    """What the apply reported (applied addresses, and whatever follows an apply), less the plan."""
    if apply is None:
        return {"applied": []}
    return {k: v for k, v in apply.to_dict().items() if k != "plan"}


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)


def _guarded_plan(
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
        raise PlanRefused(
            f"{kind} plan refused by the guard: {'; '.join(objections)}. Nothing was changed",
            [o.split(" ", 1)[0] for o in objections],
            f"the plan must hold only {allowed}",
        )
    return plan


def _display(ws: Workspace, path: Path) -> str:
    return ws.relative(path.resolve())


# -- decommission ---------------------------------------------------------------------------


def decommission(
    ws: Workspace,
    env: str,
    name: str,
    options: Options,
    confirm: Callable[[DecommissionResult], bool],
    progress: Progress | None = None,
    backend: Backend | None = None,
    now: datetime | None = None,
) -> DecommissionResult:
    """Decommission one repository, or finish a decommission that stopped part-way."""
    name = policy.check_ecr_name(name)
    ws.env_dir(env)
    if len(options.reason) > REASON_MAX:
        raise UserError(f"--reason is longer than {REASON_MAX} characters")
    if options.active_days < 0:
        raise UserError("the active-use window must be 0 days or more")
    moment = _now(now)
    tiers = policy.load_tiers(ws.tiers_file)
    tfvars_path = ws.tfvars_file(env)
    cat = catalog.load(ws.catalog_file, tiers)
    tf = tfvars.load(tfvars_path, env)
    entry = _decommissionable(ws, cat, tf, env, name)
    resumed = entry.status == DECOMMISSIONED
    request = entry.request
    result = DecommissionResult(name, env, request.risk, options.dry_run, resumed)
    would = "would"  # until it is done: a dry run and the preview before confirmation show this

    backend = backend or TerraformBackend(ws, env, progress)
    state = backend.state()
    instance = backup.instance_state(state, target(name))
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
        result.backup = _display(ws, bundle_path)
        result.steps.append(
            Step(
                "backup",
                would,
                f"{result.backup}: catalog and tfvars entries,"
                f" Terraform state, policies, tags, {len(images)} manifest(s)",
            )
        )

    # 3. The managed files as they will be, and the destroy plan made against that tfvars.
    new_tfvars = tf.without_entry(name) if name in tf.entries else tf.text
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
        plan = _guarded_plan(
            backend,
            ws,
            env,
            "decommission",
            name,
            new_tfvars,
            "deletes inside the repository's module instance",
        )
        result.plan = plan
        result.steps.append(Step("destroy", would, f"apply the targeted plan: {_counted(plan)}"))
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
                ws,
                env,
                name,
                entry,
                tf.text,
                new_tfvars,
                tiers,
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
    _mark_done(result.steps)
    return result


def _counted(plan: PlanResult) -> str:
    return ", ".join(f"{n} to {action}" for action, n in plan.counts().items() if n) or "no changes"


def _mark_done(steps: list[Step]) -> None:
    for index, step in enumerate(steps):
        if step.status == "would":
            steps[index] = replace(step, status="done")


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
        tags=client.tags(repository["repositoryArn"]) if repository else [],
        images=images,
        manifests=client.manifests(name, [i.digest for i in images]) if images else [],
    )


def _write_decommissioned(
    ws: Workspace,
    env: str,
    name: str,
    planned: CatalogEntry,
    planned_tfvars: str,
    new_tfvars: str,
    tiers: dict[str, RiskTier],
    history: dict[str, str],
) -> None:
    """Catalog entry -> decommissioned (with history), tfvars entry removed: both or neither."""
    tfvars_path = ws.tfvars_file(env)
    with ws.lock():
        cat = catalog.load(ws.catalog_file, tiers)
        tf = tfvars.load(tfvars_path, env)
        if cat.entries.get(name) != planned or tf.text != planned_tfvars:
            raise UserError(
                f"the catalog or {ws.relative(tfvars_path)} changed while {name!r} was being"
                " decommissioned; files left as they are",
            )
        entry = catalog.with_status(planned, DECOMMISSIONED, **history)
        new_catalog = cat.with_entry(entry, tiers)
        reread = catalog.load_text(new_catalog, ws.catalog_file, tiers).entries.get(name)
        if (
            reread is None
            or reread.status != DECOMMISSIONED
            or (name in tfvars.parse(new_tfvars, tfvars_path, env).entries)
        ):
            raise UserError(f"internal error: {name!r} would not read back as decommissioned")
        write_together(
            [(ws.catalog_file, cat.text, new_catalog), (tfvars_path, tf.text, new_tfvars)]
        )


# -- restore --------------------------------------------------------------------------------


@dataclass
class RestoreResult:
    name: str
    env: str
    bundle: str
    dry_run: bool
    resumed: bool
    plan: PlanResult | None = None
    apply: ApplyResult | None = None
    images: list[ecr.PutOutcome] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    @property
    def applied(self) -> tuple[str, ...]:
        return self.apply.applied if self.apply else ()

    @property
    def refused(self) -> list[ecr.PutOutcome]:
        return [o for o in self.images if o.outcome == "refused"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "repository": self.name,
            "env": self.env,
            "bundle": self.bundle,
            "dry_run": self.dry_run,
            "resumed": self.resumed,
            "plan": self.plan.to_dict() if self.plan else None,
            **_apply_dict(self.apply),
            "images": [o.to_dict() for o in self.images],
            "refused": len(self.refused),
            "differences": self.differences,
            "steps": [s.to_dict() for s in self.steps],
        }


def restore(
    ws: Workspace,
    bundle_path: Path,
    env: str | None,
    confirm: Callable[[RestoreResult], bool],
    dry_run: bool = False,
    progress: Progress | None = None,
    backend: Backend | None = None,
    now: datetime | None = None,
) -> RestoreResult:
    """Bring a decommissioned repository back from a verified bundle, or finish doing so."""
    tiers = policy.load_tiers(ws.tiers_file)
    bundle = backup.load(bundle_path, tiers)
    env = env or bundle.entry.request.env
    ws.env_dir(env)
    moment = _now(now)
    name = bundle.name
    wanted = backup.retarget(bundle, env)
    tfvars_path = ws.tfvars_file(env)
    cat = catalog.load(ws.catalog_file, tiers)
    tf = tfvars.load(tfvars_path, env)
    existing = cat.entries.get(name)
    resumed = _check_restorable(ws, cat, tf, wanted, existing)
    shown = _display(ws, bundle.path)
    result = RestoreResult(name, env, shown, dry_run, resumed)
    would = "would"

    history = {**(existing.history if existing else {}), **wanted.history}
    entry = catalog.with_status(
        replace(wanted, history=history),
        "active",
        restored_at=moment.isoformat(),
        restored_from=shown,
    )
    new_catalog = cat.text if resumed else cat.with_entry(entry, tiers)
    new_tfvars = tf.text if name in tf.entries else tf.with_entry(wanted.request)
    reread = tfvars.parse(new_tfvars, tfvars_path, env).entries.get(name)
    recat = catalog.load_text(new_catalog, ws.catalog_file, tiers).entries.get(name)
    if reread != wanted.request or recat is None or recat.request != wanted.request:
        raise UserError(f"internal error: {name!r} would not read back as the backup holds it")
    files = [
        what
        for what, changed in (
            (
                f"catalog entry back to active ({ws.relative(ws.catalog_file)})",
                new_catalog != cat.text,
            ),
            (f"entry back in {ws.relative(tfvars_path)}", new_tfvars != tf.text),
        )
        if changed
    ]
    result.steps.append(
        Step("files", would if files else "skipped", "; ".join(files) or "already done")
    )

    backend = backend or TerraformBackend(ws, env, progress)
    plan = _guarded_plan(
        backend, ws, env, "restore", name, new_tfvars, "changes to the restored repository"
    )
    result.plan = plan
    result.steps.append(
        Step(
            "apply",
            would if plan.changes else "skipped",
            _counted(plan) if plan.changes else "the repository is already there",
        )
    )
    tags = sum(len(i.tags) or 1 for i in bundle.images)
    result.steps.append(
        Step(
            "restore-images",
            would if bundle.images else "skipped",
            f"put back {len(bundle.images)} manifest(s) under {tags} tag(s)"
            " where the registry accepts them",
        )
    )
    if dry_run:
        return result
    if not confirm(result):
        raise UserError("restore cancelled; nothing was changed")

    done: list[str] = []
    rerun = f"ecrctl restore {shown} --env {env} --auto-approve"
    try:
        if files:
            _write_restored(ws, env, name, cat.text, tf.text, new_catalog, new_tfvars, tiers)
            done.append(f"catalog and tfvars hold {name} again")
        if plan.changes:
            result.apply = backend.apply(plan)
            done.append("the repository is created")
        for image in sorted(bundle.images, key=lambda i: (i.pushed_at or "", i.digest)):
            for tag in image.tags or (None,):
                result.images.append(backend.ecr.put_image(name, image.manifest, tag))
        result.differences = _differences(backend.ecr, bundle, name, env)
    except EcrctlError as exc:
        raise Incomplete(exc, done or ["nothing"], rerun) from exc
    _mark_done(result.steps)
    return result


def _check_restorable(
    ws: Workspace,
    cat: catalog.Catalog,
    tf: tfvars.Tfvars,
    wanted: CatalogEntry,
    existing: CatalogEntry | None,
) -> bool:
    """True when a restore of the same bundle already wrote the files (a rerun)."""
    request = wanted.request
    name = request.name
    resumed = False
    if existing is not None and existing.status != DECOMMISSIONED:
        if not catalog.same_request(existing.request, request):
            raise UserError(
                f"{name!r} is {existing.status} in the catalog with other attributes: "
                + catalog.describe_difference(existing.request, request)
                + ". Nothing was changed",
                "restore brings back a decommissioned repository; decommission this one first",
            )
        resumed = True
    in_tfvars = tf.entries.get(name)
    if in_tfvars is not None and not catalog.same_request(in_tfvars, request):
        raise UserError(
            f"{ws.relative(tf.path)} already holds {name!r} with other attributes: "
            + catalog.describe_difference(in_tfvars, request)
            + ". Nothing was changed",
            "run: ecrctl validate",
        )
    for other in cat.entries.values():
        if other.request.registry_id == request.registry_id and other.request.name != name:
            raise UserError(
                f"registry ID {request.registry_id} now belongs to {other.request.name!r}."
                " Nothing was changed",
            )
    return resumed


def _write_restored(
    ws: Workspace,
    env: str,
    name: str,
    catalog_text: str,
    tfvars_text: str,
    new_catalog: str,
    new_tfvars: str,
    tiers: dict[str, RiskTier],
) -> None:
    tfvars_path = ws.tfvars_file(env)
    with ws.lock():
        cat = catalog.load(ws.catalog_file, tiers)
        tf = tfvars.load(tfvars_path, env)
        if cat.text != catalog_text or tf.text != tfvars_text:
            raise UserError(
                f"the catalog or {ws.relative(tfvars_path)} changed while {name!r} was being"
                " restored; files left as they are",
            )
        old_catalog = cat.text if ws.catalog_file.exists() else None
        write_together(
            [(ws.catalog_file, old_catalog, new_catalog), (tfvars_path, tf.text, new_tfvars)]
        )


def _differences(client: ecr.Ecr, bundle: backup.Bundle, name: str, env: str) -> list[str]:
    """How the restored repository differs from the one backed up (a new KMS key is expected)."""
    import json

    saved = bundle.repository
    if saved is None:
        return []
    live = client.repository(name)
    if live is None:
        return ["the repository does not exist after the apply"]
    found = []
    for key, path in (
        ("tag mutability", ("imageTagMutability",)),
        ("encryption", ("encryptionConfiguration", "encryptionType")),
        ("scan on push", ("imageScanningConfiguration", "scanOnPush")),
    ):
        before, after = _dig(saved, path), _dig(live, path)
        if before != after:
            found.append(f"{key}: {before} -> {after}")

    def normal(text: str | None) -> Any:
        return json.loads(text) if text else None

    for key, before, after in (
        ("lifecycle policy", bundle.lifecycle_policy, client.lifecycle_policy(name)),
        ("repository policy", bundle.repository_policy, client.repository_policy(name)),
    ):
        if normal(before) != normal(after):
            found.append(f"{key} differs")
    retargeted = env != bundle.info.get("environment")
    before_tags = {t["Key"]: t["Value"] for t in bundle.tags}
    after_tags = {t["Key"]: t["Value"] for t in client.tags(live["repositoryArn"])}
    for key in sorted(set(before_tags) | set(after_tags)):
        if key == "Environment" and retargeted:
            continue
        if before_tags.get(key) != after_tags.get(key):
            found.append(f"tag {key}: {before_tags.get(key)} -> {after_tags.get(key)}")
    return found


def _dig(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value
