"""The one way ecrctl changes its request files: lock -> read -> entry verbs -> read back -> write.

    with env.transaction() as txn:          # the lock is held; both files read afresh
        entry = txn.live_entry(name)        # in this environment, live, the same in both files
        txn.put(replace(entry, ...))        # staged: the catalog entry and its tfvars entry
        txn.commit(dry_run=...)             # render, recompute the scan filters, read back, write

Every writer goes through the verbs, so the checks a record needs are written once: a live entry
is in this environment, not decommissioned and the same in the catalog and the tfvars; a put
keeps registry IDs unique; `commit` renders both files, rewrites the tfvars'
registry_scan_filters from its entries, and parses the new texts back with the readers a later
command uses. What reads back must be exactly the entries as they were with the staged ones
applied; anything else is ecrctl's own bug (exit 70) and nothing is written. Otherwise the
catalog, the tfvars and any other files (the Backstage entities of a catalog sync) are written
together: each atomically, all restored if one write fails, and, when more than one changes,
under a journal of the intent (files/journal.py) that the next command, any command, uses to
complete or roll back a write a crash interrupted between two renames.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import InternalError, UserError
from orchestrator.files import catalog as catalog_file
from orchestrator.files import edits, entry_cache, journal, scan_filters
from orchestrator.files import tfvars as tfvars_file
from orchestrator.files import tiers as tiers_file
from orchestrator.files.workspace import Workspace, read_text, write_together
from orchestrator.models import CatalogEntry, RegistryRequest, RiskTier, Status


@dataclass(frozen=True)
class Written:
    """What a commit changed (or, with dry_run, would change)."""

    catalog: bool
    tfvars: bool
    others: tuple[Path, ...] = ()

    @property
    def changed(self) -> bool:
        return self.catalog or self.tfvars or bool(self.others)


# A staged entry: the catalog's, and the tfvars' (None: not in the tfvars).
_Staged = tuple[CatalogEntry, RegistryRequest | None]


class Transaction:
    """The request files of the workspace (and of one environment), read under its lock."""

    def __init__(
        self,
        ws: Workspace,
        env: str | None,
        tiers: dict[str, RiskTier],
        known: tuple[catalog_file.Catalog | None, tfvars_file.Tfvars | None] = (None, None),
    ) -> None:
        self.ws = ws
        self.env = env
        self.tiers = tiers
        self.catalog = _reread_catalog(ws.catalog_file, tiers, known[0])
        self.tfvars = (
            _reread_tfvars(ws.tfvars_file(env), env, known[1]) if env is not None else None
        )
        self.staged: dict[str, _Staged] = {}
        self.shards: int | None = None  # a new state_shards (ecrctl shards migrate)
        self._ids: dict[str, str] | None = None
        # The files as read back after a commit that wrote them: (catalog, tfvars or None).
        self.written: tuple[catalog_file.Catalog, tfvars_file.Tfvars | None] | None = None

    # -- reading ----------------------------------------------------------------------------

    @property
    def tfvars_entries(self) -> dict[str, RegistryRequest]:
        """The environment's tfvars entries (none without an environment)."""
        return self.tfvars.entries if self.tfvars is not None else {}

    def live_entry(self, name: str) -> CatalogEntry:
        """`name`'s catalog entry: in this environment, not decommissioned, and the same request
        in the catalog and the tfvars. Refused otherwise, with what to do."""
        env, tf = self._env()
        entry = self.catalog.entries.get(name)
        if entry is None or entry.request.env != env:
            where = f" (it is in {entry.request.env!r})" if entry is not None else ""
            raise UserError(
                f"no repository {name!r} in environment {env!r}{where}; nothing was changed",
                f"list what exists with: ecrctl list --env {env}, or request it with: ecrctl create",
            )
        if entry.status == Status.DECOMMISSIONED:
            raise UserError(
                f"{name!r} was decommissioned"
                f" ({entry.history.get('decommissioned_at', 'date unknown')}); nothing was changed",
                "bring it back first with: ecrctl restore BACKUP_DIR",
            )
        in_tf = tf.entries.get(name)
        if in_tf is None or not catalog_file.same_request(in_tf, entry.request):
            problem = "is missing from" if in_tf is None else "differs between the catalog and"
            raise UserError(
                f"{name!r} {problem} {self.ws.relative(tf.path)}; nothing was changed",
                "run: ecrctl validate, and fix the files first",
            )
        return entry

    def check_unchanged(
        self,
        doing: str,
        *,
        tfvars_text: str,
        catalog_text: str | None = None,
        entry: CatalogEntry | None = None,
    ) -> None:
        """Refuse when the tfvars (and the catalog, or just `entry` in it) changed since a step
        read them and planned against them."""
        tf_text = self.tfvars.text if self.tfvars is not None else None
        catalog_moved = (catalog_text is not None and self.catalog.text != catalog_text) or (
            entry is not None and self.catalog.entries.get(entry.request.name) != entry
        )
        if catalog_moved or tf_text != tfvars_text:
            where = self.ws.relative(self.ws.tfvars_file(self.env)) if self.env else "the tfvars"
            raise UserError(f"the catalog or {where} changed while {doing}; files left as they are")

    # -- the entry verbs ---------------------------------------------------------------------

    def put(self, entry: CatalogEntry, in_tfvars: RegistryRequest | None = None) -> None:
        """Stage `entry` in the catalog and its request in the tfvars (`in_tfvars` when the
        tfvars entry carries more, such as adopt's import markers; none once decommissioned).

        A registry ID belongs to one repository: refused when another entry holds it.
        """
        name, registry_id = entry.request.name, entry.request.registry_id
        holders = self._holders()
        other = holders.get(registry_id)
        if other is not None and other != name:
            raise UserError(
                f"registry ID {registry_id} already belongs to {other!r}; nothing was changed",
                f"give {name!r} its own ID (--id, or `id:` in an adopt file)",
            )
        if name in self.staged:  # its former ID is free again
            holders.pop(self.staged[name][0].request.registry_id, None)
        elif name in self.catalog.entries:
            holders.pop(self.catalog.entries[name].request.registry_id, None)
        holders[registry_id] = name
        if entry.status == Status.DECOMMISSIONED:
            self.staged[name] = (entry, None)
        else:
            self.staged[name] = (entry, in_tfvars or entry.request)

    def set_shards(self, count: int) -> None:
        """Stage the environment's `state_shards` (ecrctl shards migrate, with its states)."""
        self.shards = count

    def remove(self, name: str, **history: str) -> CatalogEntry:
        """Stage the retirement of `name`: its catalog entry marked decommissioned (with
        `history`), its tfvars entry taken out. Returns the entry as it will read."""
        current = self.staged[name][0] if name in self.staged else self.catalog.entries[name]
        retired = catalog_file.with_status(current, Status.DECOMMISSIONED, **history)
        self.staged[name] = (retired, None)
        return retired

    # -- writing -----------------------------------------------------------------------------

    def render(self) -> tuple[str, str | None]:
        """The catalog and tfvars texts with what is staged (the tfvars' scan filters redone)."""
        cat = self.catalog
        replaced = [e for n, (e, _) in self.staged.items() if n in cat.spans]
        added = [e for n, (e, _) in self.staged.items() if n not in cat.spans]
        changed = [e for e in replaced if cat.entries.get(e.request.name) != e]
        catalog_text = cat.with_replaced(changed, self.tiers) if changed else cat.text
        if added:
            if changed:
                cat = catalog_file.load_text(catalog_text, cat.path, self.tiers)
            catalog_text = edits.catalog_with(cat, added, self.tiers)
        if self.tfvars is None:
            return catalog_text, None
        tf = self.tfvars
        if self.shards is not None and self.shards != tf.shards:
            tf = tfvars_file.parse(tf.with_shards(self.shards), tf.path, tf.env)
        wanted = {n: r for n, (_, r) in self.staged.items()}
        dropped = {n for n, r in wanted.items() if n in tf.entries and tf.entries[n] != r}
        added_requests = [r for n, r in wanted.items() if r is not None and tf.entries.get(n) != r]
        if not dropped and not added_requests:
            return catalog_text, tf.text
        text = tf.without_entries(dropped) if dropped else tf.text
        if added_requests:
            base = tfvars_file.parse(text, tf.path, tf.env) if dropped else tf
            text = edits.tfvars_with(base, added_requests)
        return catalog_text, scan_filters.with_filters(text, tf.path, tf.env, self.tiers)

    def commit(
        self,
        *,
        dry_run: bool = False,
        others: tuple[tuple[Path, str | None, str], ...] = (),
        planned_tfvars: str | None = None,
    ) -> Written:
        """Render what is staged, read it back, and write both files (and `others`: path, old
        text or None if absent, new text) together. With `dry_run`, only say what would change.

        `planned_tfvars` is the tfvars text a plan was made against (decommission, restore):
        writing any other text would apply what nobody planned, so that is refused.
        """
        catalog_text, tfvars_text = self.render()
        if planned_tfvars is not None and tfvars_text != planned_tfvars:
            raise InternalError(
                "nothing was written: the tfvars would differ from what was planned"
            )
        files: list[tuple[Path, str | None, str]] = []
        reread_catalog, reread_tfvars = self.catalog, self.tfvars
        if catalog_text != self.catalog.text:
            reread_catalog = catalog_file.load_text(catalog_text, self.ws.catalog_file, self.tiers)
            old = self.catalog.text if self.ws.catalog_file.exists() else None
            files.append((self.ws.catalog_file, old, catalog_text))
        if self.tfvars is not None and tfvars_text is not None and tfvars_text != self.tfvars.text:
            reread_tfvars = tfvars_file.parse(tfvars_text, self.tfvars.path, self.tfvars.env)
            files.append((self.tfvars.path, self.tfvars.text, tfvars_text))
        self._check_read_back(reread_catalog, reread_tfvars)
        changed_others = tuple(o for o in others if o[1] != o[2])
        if not dry_run:
            writes = [*files, *changed_others]
            with journal.kept(self.ws, writes):
                write_together(writes)
            self.written = (reread_catalog, reread_tfvars)
        return Written(
            catalog=reread_catalog is not self.catalog,
            tfvars=reread_tfvars is not self.tfvars,
            others=tuple(o[0] for o in changed_others),
        )

    def _check_read_back(self, cat: catalog_file.Catalog, tf: tfvars_file.Tfvars | None) -> None:
        wanted = {**self.catalog.entries, **{n: e for n, (e, _) in self.staged.items()}}
        _must_read_back(cat.entries, wanted, "the catalog")
        if self.tfvars is None or tf is None:
            return
        in_tfvars: dict[str, RegistryRequest | None] = {**self.tfvars.entries}
        in_tfvars.update({n: r for n, (_, r) in self.staged.items()})
        wanted_tf = {n: r for n, r in in_tfvars.items() if r is not None}
        _must_read_back(tf.entries, wanted_tf, str(tf.path))

    def _holders(self) -> dict[str, str]:
        """Registry ID -> the repository holding it, as staged so far (built on first use)."""
        if self._ids is None:
            self._ids = {e.request.registry_id: n for n, e in self.catalog.entries.items()}
        return self._ids

    def _env(self) -> tuple[str, tfvars_file.Tfvars]:
        if self.env is None or self.tfvars is None:
            raise InternalError("an entry verb was used without an environment")
        return self.env, self.tfvars


def _must_read_back(got: Mapping[str, object], wanted: Mapping[str, object], what: str) -> None:
    """InternalError naming the first entry whose read-back differs from what was meant."""
    if got != wanted:
        wrong = min(n for n in {*wanted, *got} if got.get(n) != wanted.get(n))
        raise InternalError(f"nothing was written: {what} would not read back ({wrong!r})")


def _reread_catalog(
    path: Path, tiers: dict[str, RiskTier], known: catalog_file.Catalog | None
) -> catalog_file.Catalog:
    """The catalog as it is now: what was parsed before when the text is the same."""
    if known is None:
        return catalog_file.load(path, tiers)
    text = catalog_file.read(path)
    return known if text == known.text else catalog_file.load_text(text, path, tiers)


def _reread_tfvars(path: Path, env: str, known: tfvars_file.Tfvars | None) -> tfvars_file.Tfvars:
    text = read_text(path, "tfvars file")
    return known if known is not None and text == known.text else tfvars_file.parse(text, path, env)


@contextlib.contextmanager
def begin(
    ws: Workspace,
    env: str | None = None,
    tiers: dict[str, RiskTier] | None = None,
    known: tuple[catalog_file.Catalog | None, tfvars_file.Tfvars | None] = (None, None),
) -> Iterator[Transaction]:
    """Hold the workspace lock and read the catalog (and `env`'s tfvars) afresh.

    Entries whose text was read before come from the entry cache (files/entry_cache.py).
    """
    tiers = tiers or tiers_file.load(ws.tiers_file)
    with ws.lock(), entry_cache.used(ws, tiers):
        yield Transaction(ws, env, tiers, known)
