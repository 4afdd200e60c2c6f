"""create: record a validated request in the catalog and the environment's tfvars, both or neither. Runs no terraform."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.errors import UserError
from orchestrator.files import catalog, tfvars, transaction
from orchestrator.files.workspace import Workspace
from orchestrator.models import (
    CatalogEntry,
    RegistryRequest,
    RiskTier,
    Status,
)
from orchestrator.rules import limits, scanning


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
    with transaction.begin(ws, request.env) as txn:
        cat, tf = txn.catalog, txn.tfvars
        assert tf is not None
        check_request(request, txn.tiers)
        _check_conflicts(cat, tf, request)
        in_catalog = request.name in cat.entries
        new_catalog = cat.text if in_catalog else cat.with_entry(CatalogEntry(request), txn.tiers)
        new_tfvars = tf.text
        if request.name not in tf.entries:
            new_tfvars = scanning.with_filters(
                tf.with_entry(request), tf.path, request.env, txn.tiers
            )
        written = txn.commit(
            catalog=new_catalog,
            tfvars=new_tfvars,
            expect=holds_request(request),
            dry_run=dry_run,
        )
        return CreateResult(request, written.catalog, written.tfvars, dry_run)


def check_request(request: RegistryRequest, tiers: dict[str, RiskTier]) -> None:
    """The checks of a whole request before it is written, shared by create and update.

    The field rules ran when the request was built (policy.build_request); these are the ones
    that depend on the tier: the tier exists, and every AWS limit holds (limits.check_limits).
    """
    if request.risk not in tiers:
        raise UserError(f"risk {request.risk!r} is not a tier of {', '.join(sorted(tiers))}")
    limits.check_limits(request, tiers)


def holds_request(request: RegistryRequest) -> transaction.Expect:
    """The read-back check of a write that records `request` in both files."""

    def expect(cat: catalog.Catalog, tf: tfvars.Tfvars | None) -> str | None:
        entry = cat.entries.get(request.name)
        in_tfvars = tf.entries.get(request.name) if tf is not None else None
        if in_tfvars != request or entry is None or entry.request != request:
            return f"{request.name!r} would not read back as requested"
        return None

    return expect


def _check_conflicts(cat: catalog.Catalog, tf: tfvars.Tfvars, request: RegistryRequest) -> None:
    existing = cat.entries.get(request.name)
    if existing is not None:
        if existing.status == Status.DECOMMISSIONED:
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
