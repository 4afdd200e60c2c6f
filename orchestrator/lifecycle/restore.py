"""restore: bring a decommissioned repository back from a verified backup bundle (lifecycle/backup.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from orchestrator.adapters import ecr
from orchestrator.context import Environment, Session
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
from orchestrator.models import (
    ApplyResult,
    CatalogEntry,
    PlanResult,
    RegistryRequest,
    Status,
)


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
            **(self.apply.outcome() if self.apply else {"applied": []}),
            "images": [o.to_dict() for o in self.images],
            "refused": len(self.refused),
            "differences": self.differences,
            "steps": [s.to_dict() for s in self.steps],
        }


def restore(
    session: Session,
    bundle_path: Path,
    env: str | None,
    confirm: Callable[[RestoreResult], bool],
    dry_run: bool = False,
    backend: Backend | None = None,
) -> RestoreResult:
    """Bring a decommissioned repository back from a verified bundle, or finish doing so.

    `env` defaults to the environment the bundle was taken in.
    """
    ws = session.workspace
    bundle = backup.load(bundle_path, session.tiers)
    env = env or bundle.entry.request.env
    ctx = session.at(env)
    moment = ctx.now()
    name = bundle.name
    wanted = backup.retarget(bundle, env)
    tfvars_path = ws.tfvars_file(env)
    cat = ctx.catalog
    tf = ctx.tfvars
    existing = cat.entries.get(name)
    resumed = _check_restorable(ws, cat, tf, wanted, existing)
    shown = ws.relative(bundle.path.resolve())
    result = RestoreResult(name, env, shown, dry_run, resumed)
    would = "would"

    history = {**(existing.history if existing else {}), **wanted.history}
    entry = catalog.with_status(
        replace(wanted, history=history),
        Status.ACTIVE,
        restored_at=moment.isoformat(),
        restored_from=shown,
    )
    restored = existing if resumed and existing is not None else entry
    # The files as they will be, rendered by the transaction that will write them.
    with ctx.transaction() as preview:
        preview.put(restored, wanted.request)
        new_catalog, new_tfvars = preview.render()
    assert new_tfvars is not None  # an environment's transaction renders its tfvars
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

    backend = backend or TerraformBackend(ctx)
    plan = guarded_plan(
        backend, ws, env, "restore", name, new_tfvars, "changes to the restored repository"
    )
    result.plan = plan
    result.steps.append(
        Step(
            "apply",
            would if plan.changes else "skipped",
            plan.counted() if plan.changes else "the repository is already there",
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
            _write_restored(ctx, restored, wanted.request, cat.text, tf.text, new_tfvars)
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
    mark_done(result.steps)
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
    if existing is not None and existing.status != Status.DECOMMISSIONED:
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
    ctx: Environment,
    restored: CatalogEntry,
    request: RegistryRequest,
    catalog_text: str,
    tfvars_text: str,
    new_tfvars: str,
) -> None:
    """The restored entry back in both files, unless either changed since it was planned."""
    with ctx.transaction() as txn:
        txn.check_unchanged(
            f"{restored.request.name!r} was being restored",
            tfvars_text=tfvars_text,
            catalog_text=catalog_text,
        )
        txn.put(restored, request)
        txn.commit(planned_tfvars=new_tfvars)


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
    after_tags = client.tags(live["repositoryArn"])
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
