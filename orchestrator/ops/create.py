"""create: record a validated request in the catalog and the environment's tfvars, both or neither. Runs no terraform."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.context import Session
from orchestrator.errors import UserError
from orchestrator.files import catalog, transaction
from orchestrator.models import CatalogEntry, RegistryRequest, RiskTier, Status
from orchestrator.rules import limits, replication


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


def create(session: Session, request: RegistryRequest, dry_run: bool = False) -> CreateResult:
    """Record the request in the catalog and its environment's tfvars, both or neither."""
    with session.at(request.env).transaction() as txn:
        check_request(request, txn.tiers)
        _check_conflicts(txn, request)
        in_catalog = txn.catalog.entries.get(request.name)
        in_tfvars = txn.tfvars_entries.get(request.name)
        if in_catalog is None or in_tfvars is None:  # else: the same request again, a no-op
            txn.put(in_catalog or CatalogEntry(request), in_tfvars or request)
        written = txn.commit(dry_run=dry_run)
        return CreateResult(request, written.catalog, written.tfvars, dry_run)


def check_request(request: RegistryRequest, tiers: dict[str, RiskTier]) -> None:
    """The checks of a whole request before it is written, shared by create and update.

    The field rules ran when the request was built (policy.build_request); these are the ones
    that depend on the tier: the tier exists, it allows the replication asked for, and every
    AWS limit holds (limits.check_limits).
    """
    if request.risk not in tiers:
        raise UserError(f"risk {request.risk!r} is not a tier of {', '.join(sorted(tiers))}")
    replication.check_request(request, tiers[request.risk])
    limits.check_limits(request, tiers)


def _check_conflicts(txn: transaction.Transaction, request: RegistryRequest) -> None:
    cat = txn.catalog
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
    in_tfvars = txn.tfvars_entries.get(request.name)
    if in_tfvars is not None and not catalog.same_request(in_tfvars, request):
        raise UserError(
            f"{txn.ws.relative(txn.ws.tfvars_file(request.env))} already holds"
            f" {request.name!r} with different attributes: "
            + catalog.describe_difference(in_tfvars, request),
            "run: ecrctl validate",
        )
