"""The one way ecrctl changes its managed files: lock -> reload -> render -> read back -> write.

    with transaction.begin(ws, env) as txn:       # the lock is held; both files freshly read
        text = txn.catalog.with_entry(...)       # render the new texts from what was read
        txn.commit(catalog=text, tfvars=..., expect=...)

`commit` parses every new text back with the same readers a later command uses and hands the
result to `expect`, which says what would be wrong with it. A mismatch is ecrctl's own bug
(exit 70), never the user's input: nothing is written. Otherwise the catalog, the tfvars and any
other files (the Backstage entities of a catalog sync) are written together: each atomically,
and all restored if one write fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import InternalError
from orchestrator.files import catalog as catalog_file
from orchestrator.files import entry_cache
from orchestrator.files import tfvars as tfvars_file
from orchestrator.files.workspace import Workspace, write_together
from orchestrator.models import RiskTier
from orchestrator.rules import policy

# Says what is wrong with the files as they would read back, or None when they are right.
Expect = Callable[[catalog_file.Catalog, tfvars_file.Tfvars | None], str | None]


@dataclass(frozen=True)
class Written:
    """What a commit changed (or, with dry_run, would change)."""

    catalog: bool
    tfvars: bool
    others: tuple[Path, ...] = ()

    @property
    def changed(self) -> bool:
        return self.catalog or self.tfvars or bool(self.others)


class Transaction:
    """The managed files of one environment, read under the workspace lock."""

    def __init__(self, ws: Workspace, env: str | None) -> None:
        self.ws = ws
        self.env = env
        self.tiers: dict[str, RiskTier] = policy.load_tiers(ws.tiers_file)
        self.catalog = catalog_file.load(ws.catalog_file, self.tiers)
        self.tfvars = tfvars_file.load(ws.tfvars_file(env), env) if env is not None else None

    def commit(
        self,
        *,
        catalog: str | None = None,
        tfvars: str | None = None,
        others: tuple[tuple[Path, str | None, str], ...] = (),
        expect: Expect,
        dry_run: bool = False,
    ) -> Written:
        """Read the new texts back, check them with `expect`, then write them together.

        `catalog` / `tfvars` are the new texts (None: unchanged); `others` are (path, old text or
        None if absent, new text) of files outside the two managed ones.
        """
        if self.tfvars is None and tfvars is not None:
            raise InternalError("a tfvars text was rendered without an environment")
        new_catalog = self.catalog.text if catalog is None else catalog
        catalog_changed = new_catalog != self.catalog.text
        reread_catalog = (
            catalog_file.load_text(new_catalog, self.ws.catalog_file, self.tiers)
            if catalog_changed
            else self.catalog
        )
        reread_tfvars = self.tfvars
        files: list[tuple[Path, str | None, str]] = []
        if catalog_changed:
            old = self.catalog.text if self.ws.catalog_file.exists() else None
            files.append((self.ws.catalog_file, old, new_catalog))
        if self.tfvars is not None and tfvars is not None and tfvars != self.tfvars.text:
            reread_tfvars = tfvars_file.parse(tfvars, self.tfvars.path, self.tfvars.env)
            files.append((self.tfvars.path, self.tfvars.text, tfvars))
        wrong = expect(reread_catalog, reread_tfvars)
        if wrong is not None:
            raise InternalError(f"nothing was written: {wrong}")
        changed_others = tuple(o for o in others if o[1] != o[2])
        if not dry_run:
            write_together([*files, *changed_others])
        return Written(
            catalog=catalog_changed,
            tfvars=reread_tfvars is not self.tfvars,
            others=tuple(o[0] for o in changed_others),
        )


@contextlib.contextmanager
def begin(ws: Workspace, env: str | None = None) -> Iterator[Transaction]:
    """Hold the workspace lock and read the catalog (and `env`'s tfvars) afresh.

    Entries whose text was read before come from the entry cache (files/entry_cache.py).
    """
    with ws.lock(), entry_cache.used(ws):
        yield Transaction(ws, env)
