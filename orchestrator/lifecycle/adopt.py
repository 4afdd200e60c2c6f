"""ecrctl adopt: bring repositories the registry already has under ecrctl, without recreating them.

Over 400 lines: the request file, the one all-or-nothing write of both files and the
`--scaffold` starting file share the item and request rules of this command.

Per repository: validate the request (ECR's name rule, ADR-0092's rules for the rest), read what
the registry holds (lifecycle/inventory.py), assess it against the tier (lifecycle/conformance.py),
and, unless it is refused, record it in the catalog (history.adopted_at) and in the tfvars with
its import markers (`adopt`, `adopt_kms_key`), which terraform/imports.tf turns into import
blocks. All or nothing by default; `skip_refused` writes the others. Runs no terraform.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from orchestrator.adapters import ecr
from orchestrator.context import Environment
from orchestrator.errors import UserError
from orchestrator.files import catalog, tfvars, yaml_strict
from orchestrator.lifecycle import conformance, inventory
from orchestrator.models import CatalogEntry, RegistryRequest, RiskTier
from orchestrator.rules import limits, policy, replication

FILE_KEYS = (
    "name",
    "owner",
    "risk",
    "id",
    "description",
    "push_principals",
    "pull_principals",
    "replicate",
)


@dataclass(frozen=True)
class Item:
    """One repository to adopt, as given on the command line or in the file."""

    name: str
    owner: str
    risk: str
    registry_id: str | None = None
    description: str = ""
    push_principals: tuple[str, ...] = ()
    pull_principals: tuple[str, ...] = ()
    where: str = ""  # "adopt.yaml item 3" for messages; "" on the command line
    replicate: bool = False  # asks for replication where the tier allows it


@dataclass(frozen=True)
class AdoptResult:
    env: str
    reports: tuple[conformance.Conformance, ...]
    adopted: tuple[str, ...]  # written (or, with dry_run, would be)
    unchanged: tuple[str, ...]  # adopted before with the same request: nothing to do
    dry_run: bool
    written: bool
    skip_refused: bool = False
    requests: dict[str, RegistryRequest] = field(default_factory=dict)

    @property
    def refused(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.reports if r.refused)

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "adopted": list(self.adopted),
            "unchanged": list(self.unchanged),
            "refused": list(self.refused),
            "dry_run": self.dry_run,
            "written": self.written,
            "repositories": [
                {
                    **r.to_dict(),
                    "id": self.requests[r.name].registry_id if r.name in self.requests else None,
                    "owner": self.requests[r.name].owner if r.name in self.requests else None,
                }
                for r in self.reports
            ],
            "next": (
                f"ecrctl plan {' '.join(self.adopted)} --env {self.env}"
                if self.adopted and len(self.adopted) <= 5
                else (f"ecrctl plan --env {self.env} NAME..." if self.adopted else None)
            ),
        }


def load_file(path: Path) -> list[Item]:
    """The YAML list of repositories to adopt; UserError naming the item and key at fault."""
    hint = "fix the file, or start one with: ecrctl adopt --env ENV --scaffold > adopt.yaml"
    text = yaml_strict.read_file(path, "adopt file", hint)
    data, _root = yaml_strict.load(text, path, "an adopt file", hint)
    if not isinstance(data, list) or not data:
        raise UserError(
            f"{path}: must be a non-empty YAML list of repositories",
            "start one with: ecrctl adopt --env ENV --scaffold > adopt.yaml",
        )
    items = []
    for index, raw in enumerate(data, 1):
        where = f"{path} item {index}"
        if not isinstance(raw, dict):
            raise UserError(f"{where}: must be a mapping with name, owner and risk")
        unknown = sorted(str(k) for k in set(raw) - set(FILE_KEYS))
        if unknown:
            raise UserError(
                f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(FILE_KEYS)})"
            )
        for key in ("name", "owner", "risk"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                raise UserError(f"{where}: {key} must be a non-empty string")
        for key in ("id", "description"):
            if raw.get(key) is not None and not isinstance(raw[key], str):
                raise UserError(f"{where}: {key} must be a string")
        lists = {}
        for key in ("push_principals", "pull_principals"):
            value = raw.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise UserError(f"{where}: {key} must be a list of principals (strings)")
            lists[key] = tuple(value)
        if not isinstance(raw.get("replicate", False), bool):
            raise UserError(f"{where}: replicate must be true or false")
        items.append(
            Item(
                name=raw["name"],
                owner=raw["owner"],
                risk=raw["risk"],
                registry_id=raw.get("id") or None,
                description=raw.get("description") or "",
                push_principals=lists["push_principals"],
                pull_principals=lists["pull_principals"],
                where=f"{where} ({raw['name']})",
                replicate=raw.get("replicate", False),
            )
        )
    return items


def build_requests(items: Iterable[Item], env: str) -> list[RegistryRequest]:
    """Validate every item; names and IDs unique within the batch."""
    requests: list[RegistryRequest] = []
    names: dict[str, str] = {}
    ids: dict[str, str] = {}
    for item in items:
        at = f"{item.where}: " if item.where else ""
        try:
            request = policy.build_request(
                name=item.name,
                env=env,
                owner=item.owner,
                risk=item.risk,
                registry_id=item.registry_id,
                description=item.description,
                push_principals=item.push_principals,
                pull_principals=item.pull_principals,
                ecr_name=True,
                replicate=item.replicate,
            )
        except UserError as exc:
            raise UserError(at + exc.message, exc.hint) from None
        if request.name in names:
            raise UserError(f"{at}{request.name!r} is listed twice")
        if request.registry_id in ids:
            raise UserError(
                f"{at}registry ID {request.registry_id} would belong to both"
                f" {ids[request.registry_id]!r} and {request.name!r}",
                "give one of them its own ID (--id, or `id:` in the file), e.g."
                f" {request.registry_id}_2",
            )
        names[request.name] = request.registry_id
        ids[request.registry_id] = request.name
        requests.append(request)
    return requests


def check_requests(requests: list[RegistryRequest], tiers: dict[str, RiskTier]) -> None:
    """Every rule a request must pass before it is written, in one place."""
    for request in requests:
        policy.check_risk(request.risk)
        if request.risk not in tiers:
            raise UserError(f"{request.name!r}: risk {request.risk!r} is not in the tier table")
        replication.check_request(request, tiers[request.risk])
        limits.check_limits(request, tiers)


def adopt(
    ctx: Environment,
    items: list[Item],
    *,
    skip_refused: bool = False,
    dry_run: bool = False,
    connector: ecr.Connector | None = None,
) -> AdoptResult:
    """Assess every repository, then record the adoptable ones (all or none by default)."""
    ws, env = ctx.workspace, ctx.env
    ws.env_dir(env)
    if not items:
        raise UserError(
            "name at least one repository, or --from FILE",
            "e.g. ecrctl adopt old-service --env dev --owner app-team-x --risk low",
        )
    tiers = ctx.tiers
    requests = build_requests(items, env)
    check_requests(requests, tiers)
    tfvars_path = ws.tfvars_file(env)
    tf = tfvars.load(tfvars_path, env)
    cat = ctx.catalog
    pending, unchanged = _split_known(cat, tf, requests)
    reports: list[conformance.Conformance] = []
    adopted: dict[str, RegistryRequest] = {}
    if pending:
        reports = assess(ctx, pending, tiers, connector, tf.region)
        for request, report in zip(pending, reports, strict=True):
            if not report.refused:
                adopted[request.name] = replace(
                    request, adopt=report.adopt, adopt_kms_key=report.adopt_kms_key
                )
    refused = [r for r in reports if r.refused]
    result = AdoptResult(
        env=env,
        reports=tuple(reports),
        adopted=tuple(sorted(adopted)),
        unchanged=tuple(sorted(unchanged)),
        dry_run=dry_run,
        written=False,
        skip_refused=skip_refused,
        requests={r.name: r for r in requests},
    )
    if (refused and not skip_refused) or not adopted:
        return replace(result, adopted=() if refused and not skip_refused else result.adopted)
    if dry_run:
        return result
    _write(ctx, list(adopted.values()), ctx.now().isoformat())
    return replace(result, written=True)


def assess(
    ctx: Environment,
    requests: list[RegistryRequest],
    tiers: dict[str, RiskTier],
    connector: ecr.Connector | None = None,
    region: str | None = None,
) -> list[conformance.Conformance]:
    """The conformance of each request's existing repository (in order); UserError if missing."""
    env = ctx.env
    if region is None:
        region = ctx.region
    registry = connector(ctx.process_environ, region) if connector else ctx.ecr()
    observed = inventory.observe(registry, [r.name for r in requests])
    missing = [r.name for r in requests if r.name not in observed]
    if missing:
        raise UserError(
            f"not in the {env} registry: {', '.join(map(repr, missing[:10]))}"
            + (f" and {len(missing) - 10} more" if len(missing) > 10 else ""),
            "adopt only repositories that exist; new ones are requested with ecrctl create",
        )
    found = [conformance.assess(observed[r.name], r, tiers[r.risk]) for r in requests]
    return _with_replication(ctx, registry, requests, tiers, found)


def _with_replication(
    ctx: Environment,
    registry: ecr.Ecr,
    requests: list[RegistryRequest],
    tiers: dict[str, RiskTier],
    found: list[conformance.Conformance],
) -> list[conformance.Conformance]:
    """Each report with where the registry replicates the repository now and where its tier
    (and request) will have it replicated: one DescribeRegistry, only when the environment
    declares replication destinations."""
    destinations = ctx.tfvars.replication_destinations
    if not destinations:
        return found
    account, rules = registry.replication()
    wanted_places = ", ".join(str(d) for d in destinations)
    reports = []
    for request, report in zip(requests, found, strict=True):
        replicates = tiers[request.risk].replicates(request.replicate)
        now = replication.held_for(request.name, account, rules)
        wanted = wanted_places if replicates else "none"
        difference = conformance.replication_difference(now, wanted)
        if difference is not None:
            report = replace(report, differences=(*report.differences, difference))
        reports.append(report)
    return reports


def _split_known(
    cat: catalog.Catalog, tf: tfvars.Tfvars, requests: list[RegistryRequest]
) -> tuple[list[RegistryRequest], list[str]]:
    """Requests still to adopt, and names adopted before with the same request."""
    pending, unchanged = [], []
    for request in requests:
        entry = cat.entries.get(request.name)
        in_tf = tf.entries.get(request.name)
        if entry is None and in_tf is None:
            pending.append(request)
            continue
        if (
            entry is not None
            and in_tf is not None
            and entry.request.env == request.env
            and catalog.ADOPTED_AT in entry.history
            and entry.status != "decommissioned"
            and catalog.same_request(entry.request, request)
            and catalog.same_request(in_tf, request)
        ):
            unchanged.append(request.name)
            continue
        where = entry.request.env if entry is not None else request.env
        raise UserError(
            f"{request.name!r} is already managed by ecrctl (environment {where!r})"
            + (
                f" with other attributes: {catalog.describe_difference(entry.request, request)}"
                if entry is not None and not catalog.same_request(entry.request, request)
                else ""
            ),
            "adopt is for repositories ecrctl does not manage yet; see: ecrctl list --env " + where,
        )
    return pending, unchanged


def _write(ctx: Environment, requests: list[RegistryRequest], moment: str) -> None:
    """Catalog and tfvars entries for every request, both files or neither, read back first."""
    with ctx.transaction() as txn:
        # Again under the lock: another command may have written meanwhile.
        raced = sorted(
            r.name
            for r in requests
            if r.name in txn.catalog.entries or r.name in txn.tfvars_entries
        )
        if raced:
            raise UserError(
                f"{', '.join(map(repr, raced))} was recorded by another command meanwhile;"
                " nothing was written",
                "run the adopt again",
            )
        for request in requests:
            txn.put(CatalogEntry(_plain(request), history={catalog.ADOPTED_AT: moment}), request)
        txn.commit()


def _plain(request: RegistryRequest) -> RegistryRequest:
    """The request without its import markers, as the catalog holds it."""
    return replace(request, adopt=(), adopt_kms_key="")


# -- the starting file -----------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """An unmanaged repository, with what its tags suggest."""

    name: str
    owner: str
    risk: str
    registry_id: str
    encryption: str
    note: str = ""


def scaffold(
    ctx: Environment,
    connector: ecr.Connector | None = None,
    managed: Callable[[Environment], set[str]] | None = None,
) -> list[Candidate]:
    """The repositories `ecrctl drift` reports as unmanaged, owner and risk from their tags."""
    env, tiers, tf = ctx.env, ctx.tiers, ctx.tfvars
    cat = ctx.catalog
    known = set(tf.entries) | set(cat.entries) | (managed or _state_names)(ctx)
    registry = connector(ctx.process_environ, ctx.region) if connector else ctx.ecr()
    listing = registry.repositories()
    taken = {e.request.registry_id for e in cat.entries.values()}
    found: list[Candidate] = []
    for name in sorted(set(listing) - known):
        tags = registry.tags(listing[name]["repositoryArn"])
        if tags.get("ManagedBy") == "ecrctl" and tags.get("Environment") not in (None, env):
            continue  # another environment's repository in a shared account (as drift skips)
        owner = tags.get("Owner", "")
        risk = tags.get("RiskTier", "")
        notes = []
        if owner and not policy.OWNER.fullmatch(owner):
            notes.append(f"Owner tag {owner!r} is not app-team-NAME")
            owner = ""
        if risk and risk not in tiers:
            notes.append(f"RiskTier tag {risk!r} is not a tier")
            risk = ""
        registry_id = policy.derive_id(name)
        if registry_id in taken or not policy.REGISTRY_ID.fullmatch(registry_id):
            notes.append(f"{registry_id} is taken: choose another id")
        taken.add(registry_id)
        encryption = (listing[name].get("encryptionConfiguration") or {}).get(
            "encryptionType", "AES256"
        )
        found.append(Candidate(name, owner, risk, registry_id, encryption, "; ".join(notes)))
    return found


def _state_names(ctx: Environment) -> set[str]:
    from orchestrator.adapters.state import managed_repositories

    if ctx.shards > 1:  # every shard's state (GetObjects, no provider)
        return set(managed_repositories(ctx.held_together()))
    terraform = ctx.terraform()
    terraform.init()
    return set(managed_repositories(terraform.state_pull()))


def render_scaffold(env: str, candidates: list[Candidate]) -> str:
    """The adopt file for `candidates`: YAML that `load_file` reads, with comments to act on."""
    q = catalog.quote
    lines = [
        f"# Repositories in the {env} registry that ecrctl does not manage ({len(candidates)}).",
        "# Owner and risk come from the Owner and RiskTier tags where present; fill in the empty",
        "# ones (risk: low or medium keeps AES256, high needs the repository's own KMS key),",
        "# remove what should stay unmanaged, then:",
        f"#   ecrctl adopt --env {env} --from THIS_FILE --dry-run",
    ]
    if not candidates:
        lines.append("[]")
    for c in candidates:
        lines.append(f"- name: {q(c.name)}")
        if c.note:
            lines.append(f"  # {c.note}")
        lines.append(f"  owner: {q(c.owner)}" + ("" if c.owner else "  # no Owner tag"))
        risk_note = "" if c.risk else f"  # no RiskTier tag; encrypted {c.encryption}"
        lines.append(f"  risk: {q(c.risk)}{risk_note}")
        lines.append(f"  id: {q(c.registry_id)}")
        lines.append('  description: ""')
        lines.append("  push_principals: []")
        lines.append("  pull_principals: []")
    return "\n".join(lines) + "\n"
