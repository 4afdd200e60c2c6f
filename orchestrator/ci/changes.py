"""What a change (two git revisions) does to the registry: which repositories it adds, changes
or removes in which environment, and which environments' registry-wide resources it moves.

An environment's registry-wide settings (`replication_destinations`, `replication_sources`, the
scan type and the filters ecrctl writes) may change in a pull request that changes no entry:
that environment is planned all the same, with the registry-wide targets alone (RegistryMove).

The catalog and each environment's tfvars are read at both revisions (`git show REV:path`) with
the same parsers ecrctl edits them with. The tfvars decide what Terraform will do; the catalog
is checked to agree (`ecrctl validate` on the checked-out head). A change that touches any other
file is not a registry change and is refused: it needs its own review, not a targeted plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.adapters.git import Git
from orchestrator.errors import UserError
from orchestrator.files import catalog, tfvars
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace
from orchestrator.models import CatalogEntry, RegistryRequest
from orchestrator.ops import validate as validate_op
from orchestrator.rules import replication, scanning, shards
from orchestrator.rules import settings as settings_rules

CATALOG = "catalog/ecr-catalog.yaml"
TFVARS = re.compile(r"^envs/([^/]+)/terraform\.tfvars$")
# Files under catalog/ that ecrctl writes (the registry catalog and the Backstage entities of
# `ecrctl catalog sync`); the Software Templates there are written by people.
CATALOG_DIR, HAND_WRITTEN = "catalog/", "catalog/templates/"
# adopt: an existing repository added with import markers (ecrctl adopt); change: an update of a
# live repository's request (owner, tier, principals ...); deprecate and reactivate: its status
# changes (with whatever else changed at the same time).
KINDS = ("add", "change", "deprecate", "reactivate", "remove", "catalog", "adopt")


def managed(path: str) -> bool:
    """Whether ecrctl writes `path` (relative to the workspace root)."""
    if TFVARS.match(path):
        return True
    return path.startswith(CATALOG_DIR) and not path.startswith(HAND_WRITTEN)


@dataclass(frozen=True)
class EntryChange:
    """One repository in one environment that the change adds, changes or removes.

    `catalog` marks a catalog-only change (status, description ...) that Terraform does not see.
    """

    env: str
    name: str
    kind: str  # add | change | deprecate | reactivate | remove | catalog | adopt
    request: RegistryRequest  # as the head has it (as the base had it, for a remove)
    detail: str = ""

    @property
    def planned(self) -> bool:
        return self.kind != "catalog"

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "name": self.name,
            "change": self.kind,
            "risk": self.request.risk,
            "owner": self.request.owner,
            "id": self.request.registry_id,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class StateChange:
    """One state of one environment that the change plans (a CI matrix cell)."""

    env: str
    state: str  # main | registry | shard-NN (rules/shards.py)
    repositories: tuple[str, ...]  # the planned repositories it holds

    def to_dict(self) -> dict[str, Any]:
        return {"env": self.env, "state": self.state, "repositories": list(self.repositories)}


# The tfvars settings terraform/registry.tf's resources are made of (beside the entries' tiers).
REGISTRY_SETTINGS = (
    settings_rules.SCAN_TYPE,
    settings_rules.SCAN_FILTERS,
    settings_rules.DESTINATIONS,
    settings_rules.REPLICATION_FILTERS,
    settings_rules.SOURCES,
)


SHOWN = 10  # values of a list setting shown to a reviewer


@dataclass(frozen=True)
class RegistryMove:
    """An environment whose registry-wide resources the change would move (its scanning or
    replication configuration, its registry policy), with the settings that changed: (setting,
    as the base shows it, as the head shows it). No setting when only the entries move them."""

    env: str
    settings: tuple[tuple[str, str, str], ...]

    def lines(self) -> list[str]:
        return [f"{name}: {now} -> {after}" for name, now, after in self.settings]

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "settings": [{"setting": n, "now": b, "after": a} for n, b, a in self.settings],
        }


@dataclass(frozen=True)
class ChangeSet:
    base: str  # the commit compared against: the merge base of --base and --head
    head: str
    paths: tuple[str, ...]  # every changed path, relative to the workspace root
    entries: tuple[EntryChange, ...]
    # The (environment, state) pairs the change plans, the registry state's first in each
    # environment when the registry-wide settings move (read from the two revisions only).
    states: tuple[StateChange, ...] = ()
    # The environments whose registry-wide resources move, entries changed there or not.
    registry: tuple[RegistryMove, ...] = ()

    def environments(self) -> list[str]:
        """Environments with something to plan: an entry, or the registry-wide resources."""
        return sorted({e.env for e in self.entries if e.planned} | {m.env for m in self.registry})

    def planned(self, env: str) -> list[EntryChange]:
        return [e for e in self.entries if e.env == env and e.planned]

    def registry_move(self, env: str) -> RegistryMove | None:
        """How the change moves `env`'s registry-wide resources (None: it does not)."""
        return next((m for m in self.registry if m.env == env), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "head": self.head,
            "paths": list(self.paths),
            "environments": self.environments(),
            "entries": [e.to_dict() for e in self.entries],
            "states": [s.to_dict() for s in self.states],
            "registry_moves": sorted({s.env for s in self.states if s.state == shards.REGISTRY}),
            "registry": [m.to_dict() for m in self.registry],
        }


@dataclass(frozen=True)
class _Revision:
    tfvars: dict[str, dict[str, RegistryRequest]]  # env -> name -> request
    catalog: dict[str, CatalogEntry]
    # env -> the top-level settings of its tfvars (aws_region ...), held to rules/settings.py
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)


def compare(ws: Workspace, base_ref: str, head_ref: str = "HEAD") -> ChangeSet:
    """The registry change between the merge base of two revisions and the head.

    Refuses (UserError, nothing planned) a change touching files ecrctl does not manage, and a
    work tree whose managed files are not those of the head (what is planned must be what was
    committed). `ecrctl validate` is the caller's next check.
    """
    git = Git(ws.root)
    prefix = git.prefix()
    head = git.commit(head_ref)
    base = git.merge_base(git.commit(base_ref), head)
    changed = git.changed_paths(base, head)
    outside = [p for p in changed if not p.startswith(prefix) or not managed(p[len(prefix) :])]
    if outside:
        shown = ", ".join(outside[:8]) + (
            f" and {len(outside) - 8} more" if len(outside) > 8 else ""
        )
        raise UserError(
            f"this change touches {len(outside)} file(s) that ecrctl does not manage: {shown}",
            "a registry change may only touch catalog/ecr-catalog.yaml, envs/*/terraform.tfvars"
            " and the Backstage entities ecrctl writes under catalog/; open a separate pull"
            " request for the rest",
        )
    paths = tuple(p[len(prefix) :] for p in changed)
    _check_work_tree(ws, git, prefix, head)
    tiers = tiers_file.load(ws.tiers_file)
    envs = sorted(
        {m.group(1) for p in paths if (m := TFVARS.match(p))} | {e for e in ws.environments()}
    )
    before = _read(ws, git, prefix, base, envs, tiers, "base")
    after = _read(ws, git, prefix, head, envs, tiers, "head")
    # A registry-wide setting that changes would reach AWS with the next plan of any
    # repository, shown nowhere: refused here (the others are held to their rules by validate).
    refused = [
        problem
        for env in envs
        for problem in settings_rules.changes(
            before.settings.get(env, {}), after.settings.get(env, {}), env
        )
    ]
    if refused:
        raise UserError(
            "this change moves a registry-wide setting: " + "; ".join(refused),
            "a pull request of registry changes may not change aws_region or environment;"
            " open a separate pull request for a new environment",
        )
    entries = tuple(_entries(before, after))
    moves = tuple(
        RegistryMove(env, _changed_settings(before, after, env))
        for env in envs
        if env in after.settings and _registry(before, env, tiers) != _registry(after, env, tiers)
    )
    states = tuple(_states(after, entries, moves))
    return ChangeSet(base, head, paths, entries, states, moves)


def _states(
    after: _Revision, entries: tuple[EntryChange, ...], moves: tuple[RegistryMove, ...]
) -> list[StateChange]:
    """The states each environment's plan touches: its one state (with the planned names, or
    none when only the registry-wide settings move), or its shards of the planned repositories
    and the registry state when the registry-wide resources move between the revisions (what
    `ecrctl plan` decides from the registry state itself, known here from git)."""
    found = []
    moved = {m.env for m in moves}
    for env in sorted({e.env for e in entries if e.planned} | moved):
        names = sorted(e.name for e in entries if e.env == env and e.planned)
        count = after.settings.get(env, {}).get(shards.SETTING, 1)
        count = count if shards.check_setting(count) is None else 1
        if count == 1:
            found.append(StateChange(env, shards.MAIN, tuple(names)))
            continue
        if env in moved:
            found.append(StateChange(env, shards.REGISTRY, ()))
        by_shard: dict[int, list[str]] = {}
        for name in names:
            by_shard.setdefault(shards.shard_of(name, count), []).append(name)
        found += [
            StateChange(env, shards.shard_name(i), tuple(n)) for i, n in sorted(by_shard.items())
        ]
    return found


def _registry(rev: _Revision, env: str, tiers: dict[str, Any]) -> tuple[Any, ...]:
    """What the registry-wide resources of `env` (terraform/registry.tf) are made of at one
    revision: the scanning facts (scan type, filters, the repositories scanned continuously),
    the replication facts (destinations, filters, the repositories that replicate) and the
    sources the registry policy lets in. An environment absent at the revision has none."""
    if env not in rev.settings:
        return ()
    values, entries = rev.settings[env], rev.tfvars.get(env, {})
    continuous = scanning.continuous_names(entries, tiers)[0]
    destinations = replication.destinations_of(values.get(settings_rules.DESTINATIONS))
    # Nothing replicates without a destination (registry.tf writes no configuration then).
    replicated = replication.replicated_names(entries, tiers)[0] if destinations else []
    return (
        values.get(settings_rules.SCAN_TYPE, "ENHANCED"),
        values.get(settings_rules.SCAN_FILTERS),
        tuple(sorted(continuous)),
        values.get(settings_rules.DESTINATIONS) or [],
        values.get(settings_rules.REPLICATION_FILTERS),
        tuple(sorted(replicated)),
        values.get(settings_rules.SOURCES) or [],
    )


def _changed_settings(
    before: _Revision, after: _Revision, env: str
) -> tuple[tuple[str, str, str], ...]:
    """(setting, now, after) for each registry-wide setting of `env` the change edits."""
    old, new = before.settings.get(env, {}), after.settings.get(env, {})
    return tuple(
        (name, _shown(name, old.get(name)), _shown(name, new.get(name)))
        for name in REGISTRY_SETTINGS
        if old.get(name) != new.get(name)
    )


def _shown(setting: str, value: Any) -> str:
    """A registry-wide setting's value, one line for a reviewer."""
    if value is None and setting == settings_rules.SCAN_TYPE:
        return "ENHANCED (default)"
    if setting == settings_rules.DESTINATIONS:
        value = [str(d) for d in replication.destinations_of(value)] if value else []
    if isinstance(value, list):  # up to 100 filters: the first ones and the count
        more = f" ... ({len(value)} in all)" if len(value) > SHOWN else ""
        return ", ".join(map(str, value[:SHOWN])) + more or "none"
    return "none" if value is None else str(value)


def _check_work_tree(ws: Workspace, git: Git, prefix: str, head: str) -> None:
    files = [CATALOG, *(f"envs/{env}/terraform.tfvars" for env in ws.environments())]
    differ = []
    for rel in files:
        committed = git.show(head, prefix + rel)
        path = ws.root / rel
        on_disk = path.read_text(encoding="utf-8") if path.is_file() else None
        if committed != on_disk:
            differ.append(rel)
    if differ:
        raise UserError(
            f"the work tree is not the head revision {head[:12]}: {', '.join(differ)} differ",
            "check out the head revision (or commit the change) before planning it",
        )


def _read(
    ws: Workspace,
    git: Git,
    prefix: str,
    rev: str,
    envs: list[str],
    tiers: dict[str, Any],
    which: str,
) -> _Revision:
    entries: dict[str, dict[str, RegistryRequest]] = {}
    values: dict[str, dict[str, Any]] = {}
    for env in envs:
        rel = f"envs/{env}/terraform.tfvars"
        text = git.show(rev, prefix + rel)
        if text is None:
            entries[env] = {}
            continue
        try:
            parsed = tfvars.parse(text, Path(f"{rev[:12]}:{rel}"), env)
        except UserError as exc:
            raise UserError(f"the {which} revision's {exc.message}", exc.hint) from None
        entries[env] = parsed.entries
        values[env] = dict(parsed.document.values)
    text = git.show(rev, prefix + CATALOG)
    cat: dict[str, CatalogEntry] = {}
    if text is not None:
        try:
            cat = catalog.load_text(text, Path(f"{rev[:12]}:{CATALOG}"), tiers).entries
        except UserError as exc:
            raise UserError(f"the {which} revision's {exc.message}", exc.hint) from None
    return _Revision(entries, cat, values)


def _entries(before: _Revision, after: _Revision) -> list[EntryChange]:
    found: list[EntryChange] = []
    for env in sorted(set(before.tfvars) | set(after.tfvars)):
        old, new = before.tfvars.get(env, {}), after.tfvars.get(env, {})
        for name in sorted(set(old) | set(new)):
            if name not in old:
                kind = "adopt" if new[name].adopt else "add"
                found.append(EntryChange(env, name, kind, new[name]))
            elif name not in new:
                found.append(EntryChange(env, name, "remove", old[name]))
            elif not catalog.same_request(old[name], new[name]):
                detail = catalog.describe_difference(old[name], new[name])
                found.append(EntryChange(env, name, _kind(old[name], new[name]), new[name], detail))
    seen = {(e.env, e.name) for e in found}
    for name in sorted(set(before.catalog) | set(after.catalog)):
        old_entry, new_entry = before.catalog.get(name), after.catalog.get(name)
        entry = new_entry or old_entry
        assert entry is not None
        if (entry.request.env, name) in seen or old_entry == new_entry:
            continue
        if old_entry and new_entry and _only_sync_fields(old_entry, new_entry):
            continue  # the catalog sync filled in what Terraform created: nothing to review
        detail = _catalog_detail(old_entry, new_entry)
        found.append(EntryChange(entry.request.env, name, "catalog", entry.request, detail))
    return found


def _kind(old: RegistryRequest, new: RegistryRequest) -> str:
    if old.status != new.status:
        return "deprecate" if new.deprecated else "reactivate"
    return "change"


def _only_sync_fields(old: CatalogEntry, new: CatalogEntry) -> bool:
    return old.request == new.request and old.status == new.status and old.history == new.history


def _catalog_detail(old: CatalogEntry | None, new: CatalogEntry | None) -> str:
    if old is None:
        return f"catalogued ({new.status if new else '?'})"
    if new is None:
        return "removed from the catalog"
    parts = []
    if old.status != new.status:
        parts.append(f"status {old.status} -> {new.status}")
    if not catalog.same_request(old.request, new.request):
        parts.append(catalog.describe_difference(old.request, new.request))
    return "; ".join(parts) or "history updated"


def validate_head(ws: Workspace) -> None:
    """`ecrctl validate` on the work tree (the head): hand edits must pass it to be planned."""
    problems = validate_op.validate(ws)
    if problems:
        listed = "; ".join(str(p) for p in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise UserError(
            f"the change does not pass ecrctl validate: {listed}{more}",
            "run ecrctl validate locally, fix the files (or make the change with ecrctl create /"
            " decommission), and push again",
        )
