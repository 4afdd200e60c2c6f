"""list: the repositories catalogued for an environment (reads files only)."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.context import Environment
from orchestrator.models import (
    CatalogEntry,
)


@dataclass(frozen=True)
class Listing:
    env: str
    entries: list[CatalogEntry]
    in_tfvars: set[str]

    def to_dict(self) -> dict[str, object]:
        return {
            "env": self.env,
            "repositories": [
                {
                    "name": e.request.name,
                    **e.request.attributes(),
                    "status": e.status,
                    "repository_url": e.repository_url,
                    "in_tfvars": e.request.name in self.in_tfvars,
                }
                for e in self.entries
            ],
        }


def list_repositories(ctx: Environment) -> Listing:
    env, tf, cat = ctx.env, ctx.tfvars, ctx.catalog
    entries = sorted(
        (e for e in cat.entries.values() if e.request.env == env), key=lambda e: e.request.name
    )
    return Listing(env, entries, set(tf.entries))
