"""The states of an environment: one (S = 1), or a registry state plus S shards.

An environment declares its shard count S in its tfvars (`state_shards`, default 1). A
repository's shard is `shard_of(name, S)`: the first 32 bits of sha256(name), mod S. Terraform
computes the same in terraform/main.tf (`parseint(substr(sha256(name), 0, 8), 16) % S`), so one
root configuration serves every state: it keeps the repositories of the state it plans
(`-var state_name=...`) and the registry-wide resources only in the state that holds them.

Why a hash and not a prefix: a hash spreads any naming scheme evenly and depends on the name
alone, so a repository never moves while S stays; the price is that a new S moves most
repositories (`ecrctl shards migrate` does that without an AWS change). 32 bits keep the value
inside Terraform's exact number range and Python's int alike.

With S = 1 the one state is "main", at backend.hcl's own key: an environment that never asks
for shards keeps exactly the state it has. With S > 1 the registry state sits at
`<dir of the key>/registry/terraform.tfstate` and shard N at `<dir>/shards/NN/terraform.tfstate`.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.models import instance_of

MAIN, REGISTRY = "main", "registry"
MAX_SHARDS = 99  # two digits in the key and the state's name
SETTING = "state_shards"
# The registry-wide resources' types: whatever registry.tf gates with local.holds_registry.
REGISTRY_TYPES = frozenset(
    {
        "aws_ecr_registry_scanning_configuration",
        "aws_ecr_replication_configuration",
        "aws_ecr_registry_policy",
        "aws_ecr_pull_through_cache_rule",
    }
)


def shard_of(name: str, shards: int) -> int:
    """The shard of repository `name` among `shards`; the same as terraform/main.tf computes."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % shards


def shard_name(index: int) -> str:
    return f"shard-{index:02d}"


@dataclass(frozen=True)
class State:
    """One state of an environment: its name (the `state_name` Terraform gets) and backend key."""

    name: str
    key: str
    shards: int

    @property
    def holds_registry(self) -> bool:
        return self.name in (MAIN, REGISTRY)

    @property
    def shard(self) -> int | None:
        return int(self.name.removeprefix("shard-")) if self.name.startswith("shard-") else None

    def holds(self, repository: str) -> bool:
        """Whether `repository`'s module instance belongs in this state."""
        if self.name == MAIN:
            return True
        return self.shard is not None and shard_of(repository, self.shards) == self.shard


def states(base_key: str, shards: int) -> list[State]:
    """Every state of an environment whose backend.hcl key is `base_key`, the registry's first."""
    if shards == 1:
        return [State(MAIN, base_key, 1)]
    root = posixpath.dirname(base_key)
    return [State(REGISTRY, posixpath.join(root, REGISTRY, "terraform.tfstate"), shards)] + [
        State(
            shard_name(i), posixpath.join(root, "shards", f"{i:02d}", "terraform.tfstate"), shards
        )
        for i in range(shards)
    ]


def state_of(repository: str, base_key: str, shards: int) -> State:
    """The state holding `repository`'s module instance."""
    if shards == 1:
        return states(base_key, 1)[0]
    return states(base_key, shards)[1 + shard_of(repository, shards)]


def check_setting(value: Any) -> str | None:
    """What is wrong with a `state_shards` value, or None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SHARDS:
        return (
            f"{SETTING} must be a whole number from 1 to {MAX_SHARDS}, not {value!r}"
            " (change it only with: ecrctl shards migrate)"
        )
    return None


def held_repositories(state: Mapping[str, Any]) -> set[str]:
    """The repositories whose module instance a raw state holds resources of."""
    return {
        name
        for resource in state.get("resources") or []
        if isinstance(resource, dict)
        and (name := instance_of(str(resource.get("module", "")) + ".x")) is not None
    }


def holds_registry_resources(state: Mapping[str, Any]) -> bool:
    return any(
        isinstance(r, dict)
        and r.get("mode") == "managed"
        and not r.get("module")
        and r.get("type") in REGISTRY_TYPES
        and r.get("instances")
        for r in state.get("resources") or []
    )


def misplaced(state: State, held: Mapping[str, Any], requested: Iterable[str]) -> list[str]:
    """What `held` (the raw state at `state.key`) holds that does not belong in `state`.

    A requested repository in the wrong state, or the registry's resources in a shard, would be
    planned for deletion there: the sign that `state_shards` changed without a migration.
    """
    requested = set(requested)
    found = sorted(n for n in held_repositories(held) & requested if not state.holds(n))
    if not state.holds_registry and holds_registry_resources(held):
        found.append("the registry-wide resources")
    return found
