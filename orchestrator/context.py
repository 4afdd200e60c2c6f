"""The one value every step of a command receives: where ecrctl works and what it knows.

`Session` is where ecrctl works (the workspace), how it reports progress, the process environment
it starts from and its clock, plus the workspace's own facts (the tier table, the catalog).
`Environment` is a session bound to one environment (`Session.at(env)`): its tfvars, region and
backend, the one `Terraform` for it and the one ECR adapter, and its transaction over the two
request files. Each fact is loaded the first time a step asks for it and kept for the rest of the
command; a transaction's write replaces what it changed, so no step ever reads a stale file and
no file is parsed twice. The CLI makes one per command; tests make one with a fixed clock or a
fake process environment.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from orchestrator.errors import FileError, UserError
from orchestrator.files import catalog as catalog_file
from orchestrator.files import hcl
from orchestrator.files import tfvars as tfvars_io
from orchestrator.files import tiers as tiers_file
from orchestrator.files import transaction as transaction_file
from orchestrator.files.workspace import Workspace
from orchestrator.models import Progress, RiskTier, quiet
from orchestrator.rules import shards as shards_rule
from orchestrator.rules.shards import State

if TYPE_CHECKING:
    from orchestrator.adapters.ecr import Ecr
    from orchestrator.adapters.terraform import Terraform

T = TypeVar("T")

__all__ = ["Environment", "Progress", "Session", "State", "quiet"]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Session:
    workspace: Workspace
    progress: Progress = quiet
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    clock: Callable[[], datetime] = utc_now
    # What this command loaded so far, shared by the session and every environment made from it.
    loaded: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def now(self) -> datetime:
        """The clock's time in UTC, to the second (as the catalog records it)."""
        return self.clock().astimezone(UTC).replace(microsecond=0)

    def at(self, env: str) -> Environment:
        """This session bound to `env`, refusing a name that is not a directory under envs/."""
        self.workspace.env_dir(env)
        return Environment(
            self.workspace, self.progress, self.environ, self.clock, self.loaded, env=env
        )

    def _once(self, key: str, load: Callable[[], T]) -> T:
        if key not in self.loaded:
            self.loaded[key] = load()
        found: T = self.loaded[key]
        return found

    @property
    def tiers(self) -> dict[str, RiskTier]:
        """The risk-tier table (terraform/modules/ecr/risk-tiers.json)."""
        return self._once("tiers", lambda: tiers_file.load(self.workspace.tiers_file))

    @property
    def catalog(self) -> catalog_file.Catalog:
        """The registry catalog as this command last read or wrote it."""
        return self._once(
            "catalog", lambda: catalog_file.load(self.workspace.catalog_file, self.tiers)
        )

    def tfvars_of(self, env: str) -> tfvars_io.Tfvars:
        """An environment's tfvars as this command last read or wrote it."""
        return self._once(
            f"tfvars:{env}", lambda: tfvars_io.load(self.workspace.tfvars_file(env), env)
        )

    def catalog_transaction(
        self,
    ) -> contextlib.AbstractContextManager[transaction_file.Transaction]:
        """A transaction over the catalog alone: no tfvars is read or written (catalog sync)."""
        return self._transaction(None)

    @contextlib.contextmanager
    def _transaction(self, env: str | None) -> Iterator[transaction_file.Transaction]:
        """The workspace lock, the request files read afresh (reusing what was parsed when the
        text is the same), and what the transaction wrote remembered for the next step."""
        known = (self.loaded.get("catalog"), self.loaded.get(f"tfvars:{env}"))
        with transaction_file.begin(self.workspace, env, self.tiers, known) as txn:
            self.loaded["catalog"] = txn.catalog
            if txn.tfvars is not None:
                self.loaded[f"tfvars:{env}"] = txn.tfvars
            try:
                yield txn
            finally:
                written = txn.written
                if written is not None:
                    self.loaded["catalog"] = written[0]
                    if written[1] is not None:
                        self.loaded[f"tfvars:{env}"] = written[1]


@dataclass(frozen=True)
class Environment(Session):
    env: str = field(kw_only=True)

    @property
    def tfvars_file(self) -> Path:
        return self.workspace.tfvars_file(self.env)

    @property
    def backend_file(self) -> Path:
        return self.workspace.backend_file(self.env)

    @property
    def tfvars(self) -> tfvars_io.Tfvars:
        """envs/ENV/terraform.tfvars as this command last read or wrote it."""
        return self.tfvars_of(self.env)

    @property
    def region(self) -> str | None:
        """The environment's region: `aws_region` in its tfvars."""
        return self.tfvars.region

    @property
    def process_environ(self) -> dict[str, str]:
        """What terraform and boto3 run with for this environment (region, emulator endpoint)."""
        from orchestrator.adapters.environments import process_environ  # not for create

        return self._once(
            f"environ:{self.env}",
            lambda: process_environ(self.workspace, self.env, self.region, self.environ),
        )

    @property
    def shards(self) -> int:
        """How many state shards the environment's repositories are split into (state_shards)."""
        return self.tfvars.shards

    @property
    def backend_key(self) -> str:
        """backend.hcl's `key`: the one state's key, and the root of a sharded layout's keys."""

        def load() -> str:
            path = self.backend_file
            try:
                parsed = hcl.parse(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise FileError(path, 1, f"cannot read the backend config: {exc}") from None
            except hcl.HclSyntaxError as exc:
                raise FileError(path, exc.line, exc.reason) from None
            key = parsed.values.get("key")
            if not isinstance(key, str) or not key:
                raise FileError(
                    path,
                    parsed.attr_lines.get("key", 1),
                    "the backend config needs a key (the state's object key)",
                    f'add: key = "ecr/{self.env}/terraform.tfstate"',
                )
            return key

        return self._once(f"backend-key:{self.env}", load)

    @property
    def states(self) -> list[State]:
        """Every state of the environment, the one holding the registry first."""
        return shards_rule.states(self.backend_key, self.shards)

    @property
    def registry_state(self) -> State:
        """The state holding the registry-wide resources (the only state when unsharded)."""
        return self.states[0]

    def state_of(self, repository: str) -> State:
        """The state holding `repository`'s module instance."""
        return shards_rule.state_of(repository, self.backend_key, self.shards)

    def state_named(self, name: str) -> State:
        """The state called `name` (main, registry, shard-NN, or a shard's number)."""
        wanted = shards_rule.shard_name(int(name)) if name.isdigit() else name
        for state in self.states:
            if state.name == wanted:
                return state
        raise UserError(
            f"{self.env} has no state {name!r}: it has {', '.join(s.name for s in self.states)}",
            f"state_shards is {self.shards} in envs/{self.env}/terraform.tfvars",
        )

    def terraform(self, state: State | None = None) -> Terraform:
        """The one Terraform of `state` (by default the state holding the registry: the
        environment's only state when it is not sharded)."""
        from orchestrator.adapters.terraform import Terraform  # deferred: create runs none

        state = state or self.registry_state
        return self._once(
            f"terraform:{self.env}:{state.name}",
            lambda: Terraform(
                self.workspace,
                self.env,
                self.process_environ,
                progress=self.progress,
                state=state.name,
                key=state.key,
            ),
        )

    def held(self, state: State) -> dict[str, Any]:
        """The raw state `state` holds now (an S3 GetObject, no provider load)."""
        return self.terraform(state).state_pull()

    def held_together(self) -> dict[str, Any]:
        """Every state's resources in one raw state (the registry state's outputs): what a
        reader of the whole environment (catalog sync, drift, adopt) reads as one state."""
        held = [self.held(state) for state in self.states]
        if len(held) == 1:
            return held[0]
        merged = dict(next((h for h in held if h), {}))
        merged["resources"] = [r for h in held for r in h.get("resources") or []]
        return merged

    def ecr(self) -> Ecr:
        """The one ECR adapter of this environment (its region, endpoint and credentials)."""
        from orchestrator.adapters import ecr  # deferred: boto3 is slow to import

        return self._once(f"ecr:{self.env}", lambda: ecr.connect(self.process_environ, self.region))

    def transaction(self) -> contextlib.AbstractContextManager[transaction_file.Transaction]:
        """This environment's transaction over the catalog and its tfvars."""
        return self._transaction(self.env)
