"""Day-2 changes of a request: update, deprecate, reactivate. Return data, never print.

Each edits the catalog entry and the tfvars entry of one repository, both or neither, under the
workspace lock, after reading back what it is about to write (as `create` does). None runs
terraform: the next step is `ecrctl plan NAME --env ENV`, whose guard allows in-place updates
of that repository (and the deletion of its policy once no principal is left), nothing else.

The catalog entry's `history` keeps every change as three keys, numbered in order:
`change_NNN` (what changed), `change_NNN_at` (when, UTC) and `change_NNN_reason` (why).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from orchestrator.context import Environment
from orchestrator.errors import UserError
from orchestrator.models import (
    CatalogEntry,
    RegistryRequest,
    Review,
    RiskTier,
    Status,
    principal_label,
    settings_of_request,
)
from orchestrator.ops.create import check_request
from orchestrator.rules import policy

REASON_MAX = 500
_CHANGE_KEY = re.compile(r"^change_([0-9]+)$")


@dataclass(frozen=True)
class Update:
    """What `ecrctl update` asks for; None / empty leaves a field as it is."""

    owner: str | None = None
    description: str | None = None
    risk: str | None = None
    add_push: tuple[str, ...] = ()
    remove_push: tuple[str, ...] = ()
    add_pull: tuple[str, ...] = ()
    remove_pull: tuple[str, ...] = ()
    replicate: bool | None = None


@dataclass(frozen=True)
class ChangeResult:
    action: str  # update | deprecate | reactivate
    before: CatalogEntry
    after: CatalogEntry
    catalog_changed: bool
    tfvars_changed: bool
    dry_run: bool
    differences: tuple[str, ...] = ()
    settings: Review | None = field(default=None, compare=False)

    @property
    def changed(self) -> bool:
        return self.catalog_changed or self.tfvars_changed

    def to_dict(self) -> dict[str, Any]:
        request = self.after.request
        return {
            "action": self.action,
            "repository": request.name,
            "env": request.env,
            "status": {"before": self.before.status, "after": self.after.status},
            "before": self.before.request.attributes(),
            "after": request.attributes(),
            "changes": list(self.differences),
            "settings": self.settings.to_dict() if self.settings else None,
            "catalog_changed": self.catalog_changed,
            "tfvars_changed": self.tfvars_changed,
            "dry_run": self.dry_run,
        }


def update(
    ctx: Environment,
    name: str,
    change: Update,
    reason: str = "",
    dry_run: bool = False,
) -> ChangeResult:
    """Change owner, description, risk tier or principals of a live repository."""
    if change == Update():
        raise UserError(
            "nothing to update: pass at least one of --owner, --description, --risk,"
            " --add-push-principal, --remove-push-principal, --add-pull-principal,"
            " --remove-pull-principal, --replicate/--no-replicate",
            f"e.g. ecrctl update {name} --env {ctx.env} --owner app-team-payments",
        )

    def edit(entry: CatalogEntry, tiers: dict[str, RiskTier]) -> CatalogEntry:
        old = entry.request
        _check_principals(old, change)
        new = policy.build_request(
            name=old.name,
            env=old.env,
            owner=old.owner if change.owner is None else change.owner,
            risk=old.risk if change.risk is None else change.risk,
            registry_id=old.registry_id,
            description=old.description if change.description is None else change.description,
            push_principals=_edited(old.push_principals, change.add_push, change.remove_push),
            pull_principals=_edited(old.pull_principals, change.add_pull, change.remove_pull),
            status=old.status,
            replicate=old.replicate if change.replicate is None else change.replicate,
        )
        _check_encryption(old, new, tiers)
        return replace(entry, request=new)

    return _change(ctx, name, "update", edit, reason, dry_run)


def deprecate(
    ctx: Environment,
    name: str,
    reason: str,
    dry_run: bool = False,
) -> ChangeResult:
    """Mark a repository deprecated: pull-only after the apply, push principals kept on record."""
    if not reason.strip():
        raise UserError(
            "deprecate needs a --reason", "e.g. --reason 'replaced by payments-api, see ADR-0101'"
        )
    moment = ctx.now().isoformat(timespec="seconds")

    def edit(entry: CatalogEntry, _tiers: dict[str, RiskTier]) -> CatalogEntry:
        if entry.status == Status.DEPRECATED:
            return entry
        request = replace(entry.request, status=Status.DEPRECATED)
        history = {**entry.history, "deprecated_at": moment, "deprecation_reason": reason}
        return replace(entry, request=request, status=Status.DEPRECATED, history=history)

    return _change(ctx, name, "deprecate", edit, reason, dry_run)


def reactivate(
    ctx: Environment,
    name: str,
    reason: str = "",
    dry_run: bool = False,
) -> ChangeResult:
    """Undo a deprecation: the recorded push principals get push access back after the apply."""

    def edit(entry: CatalogEntry, _tiers: dict[str, RiskTier]) -> CatalogEntry:
        if entry.status == Status.ACTIVE:
            return entry
        history = {
            k: v
            for k, v in entry.history.items()
            if k not in ("deprecated_at", "deprecation_reason")
        }
        request = replace(entry.request, status=Status.ACTIVE)
        return replace(entry, request=request, status=Status.ACTIVE, history=history)

    return _change(ctx, name, "reactivate", edit, reason, dry_run)


def _edited(current: Iterable[str], add: Iterable[str], remove: Iterable[str]) -> list[str]:
    removed = set(remove)
    return [p for p in [*current, *add] if p not in removed]


def _check_principals(old: RegistryRequest, change: Update) -> None:
    """Removing a principal the request does not hold is a typo: say so, change nothing."""
    for kind, held, removing, adding in (
        ("push", old.push_principals, change.remove_push, change.add_push),
        ("pull", old.pull_principals, change.remove_pull, change.add_pull),
    ):
        policy.check_principals([*removing, *adding], kind)
        missing = [p for p in removing if p not in held]
        if missing:
            raise UserError(
                f"{old.name!r} has no {kind} principal {missing[0]!r}; nothing was changed",
                f"its {kind} principals: {', '.join(held) or '(none)'}",
            )
        both = sorted(set(removing) & set(adding))
        if both:
            raise UserError(f"{kind} principal {both[0]!r} is both added and removed")


def _check_encryption(
    old: RegistryRequest, new: RegistryRequest, tiers: dict[str, RiskTier]
) -> None:
    before, after = tiers[old.risk].encryption_type, tiers[new.risk].encryption_type
    if before != after:
        raise UserError(
            f"{old.name!r} cannot move from the {old.risk} to the {new.risk} risk tier in place:"
            f" its encryption would change from {before} to {after}, which ECR cannot do to an"
            " existing repository. Nothing was changed",
            f"create a new repository at the {new.risk} tier (ecrctl create NAME-v2 --env"
            f" {old.env} --risk {new.risk} ...), move the images to it, then retire this one"
            f" with: ecrctl decommission {old.name} --env {old.env}",
        )


def _next_change(history: dict[str, str]) -> int:
    numbers = [int(m.group(1)) for k in history if (m := _CHANGE_KEY.match(k))]
    return max(numbers, default=0) + 1


def _change(
    ctx: Environment,
    name: str,
    action: str,
    edit: Any,
    reason: str,
    dry_run: bool,
) -> ChangeResult:
    name = policy.check_ecr_name(name)
    if len(reason) > REASON_MAX:
        raise UserError(f"--reason is longer than {REASON_MAX} characters")
    with ctx.transaction() as txn:
        tiers = txn.tiers
        entry = txn.live_entry(name)
        edited: CatalogEntry = edit(entry, tiers)
        check_request(edited.request, tiers)
        differences = _differences(entry, edited)
        where = [str(d) for d in txn.tfvars.replication_destinations] if txn.tfvars else []
        settings = Review(
            name,
            settings_of_request(entry.request, tiers, where),
            settings_of_request(edited.request, tiers, where),
        )
        if not differences:
            return ChangeResult(action, entry, entry, False, False, dry_run, (), settings)
        number = f"change_{_next_change(entry.history):03d}"
        history = {
            **edited.history,
            number: f"{action}: " + "; ".join(differences),
            f"{number}_at": ctx.now().isoformat(timespec="seconds"),
            f"{number}_reason": reason or "not given",
        }
        edited = replace(edited, history=history)
        # An adopted entry keeps its import markers (a no-op once the import is applied).
        in_tfvars = txn.tfvars_entries[name]
        txn.put(
            edited,
            replace(edited.request, adopt=in_tfvars.adopt, adopt_kms_key=in_tfvars.adopt_kms_key),
        )
        written = txn.commit(dry_run=dry_run)
        return ChangeResult(
            action,
            entry,
            edited,
            written.catalog,
            written.tfvars,
            dry_run,
            tuple(differences),
            settings,
        )


def _differences(old: CatalogEntry, new: CatalogEntry) -> list[str]:
    found = []
    if old.status != new.status:
        found.append(f"status {old.status} -> {new.status}")
    a, b = old.request, new.request
    for label, before, after in (
        ("owner", a.owner, b.owner),
        ("risk", a.risk, b.risk),
        ("description", a.description, b.description),
    ):
        if before != after:
            found.append(f"{label} {before!r} -> {after!r}")
    if a.replicate != b.replicate:
        found.append("asks for replication" if b.replicate else "no longer asks for replication")
    for kind, before_p, after_p in (
        ("push", a.push_principals, b.push_principals),
        ("pull", a.pull_principals, b.pull_principals),
    ):
        found += [f"grant {kind} {principal_label(p)}" for p in after_p if p not in before_p]
        found += [f"revoke {kind} {principal_label(p)}" for p in before_p if p not in after_p]
    return found
