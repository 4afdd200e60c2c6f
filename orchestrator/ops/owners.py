"""Owners that resolve: the Group entities a Backstage catalog holds, as ecrctl can know them.

A platform tells ecrctl where its Groups live in one of two ways (docs/BACKSTAGE.md):

- `catalog/groups/*.yaml` in this repository: Group entities that the root Location
  (`catalog/all.yaml`) lists, so Backstage ingests them from here;
- `ECRCTL_BACKSTAGE_GROUPS`: files or directories (separated by the path separator, relative
  paths from the repository root) holding the Groups Backstage gets from elsewhere, such as a
  checkout of the organisation's groups repository, or an export of Backstage's own API
  (`GET /api/catalog/entities?filter=kind=group`, JSON: YAML reads it as it is).

Both may be used together. With neither, owners cannot be checked and the sync says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import UserError
from orchestrator.files import yaml_strict
from orchestrator.files.workspace import Workspace

GROUPS_VARIABLE = "ECRCTL_BACKSTAGE_GROUPS"
GROUPS_DIR = "groups"


@dataclass(frozen=True)
class Groups:
    """The Group entity refs found (`group:namespace/name`, lower case) and where they came from."""

    refs: frozenset[str]
    sources: tuple[str, ...]
    catalog_files: tuple[Path, ...]  # those under catalog/groups/, listed by the root Location

    def resolves(self, owner_ref: str) -> bool:
        return normalise(owner_ref) in self.refs


def normalise(ref: str, default_kind: str = "group") -> str:
    """An entity ref as Backstage compares them: kind and namespace filled in, lower case."""
    kind, sep, rest = ref.partition(":")
    if not sep:
        kind, rest = default_kind, ref
    namespace, sep, name = rest.partition("/")
    if not sep:
        namespace, name = "default", rest
    return f"{kind}:{namespace}/{name}".lower()


def load(ws: Workspace, environ: Mapping[str, str] = os.environ) -> Groups | None:
    """The Groups of catalog/groups/ and ECRCTL_BACKSTAGE_GROUPS; None when neither is there."""
    in_catalog = ws.catalog_dir / GROUPS_DIR
    catalog_files = tuple(_yaml_files(in_catalog)) if in_catalog.is_dir() else ()
    files = [*catalog_files]
    sources = [ws.relative(in_catalog) + "/"] if in_catalog.is_dir() else []
    setting = environ.get(GROUPS_VARIABLE, "").strip()
    for raw in (p for p in setting.split(os.pathsep) if p.strip()):
        path = Path(raw.strip())
        path = path if path.is_absolute() else ws.root / path
        if path.is_dir():
            files += _yaml_files(path)
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(
                f"{GROUPS_VARIABLE}: {raw.strip()} is neither a file nor a directory",
                "list the files or directories that hold your Backstage Group entities"
                f" (separated by {os.pathsep!r}), or unset it",
            )
        sources.append(raw.strip())
    if not sources:
        return None
    refs: set[str] = set()
    for path in files:
        refs |= _group_refs(path)
    return Groups(frozenset(refs), tuple(sources), catalog_files)


def _yaml_files(directory: Path) -> list[Path]:
    return sorted(
        p for p in directory.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml", ".json")
    )


def _group_refs(path: Path) -> set[str]:
    hint = f"fix the Group entity file, or remove it from catalog/groups/ or {GROUPS_VARIABLE}"
    text = yaml_strict.read_file(path, "Group entity file", hint)
    docs = yaml_strict.load_all(text, path, "a Group entity file", hint)
    return {
        normalise(f"group:{namespace}/{name}")
        for entity in _entities(docs)
        if str(entity.get("kind", "")).lower() == "group"
        for name, namespace in [_name(entity)]
        if name
    }


def _entities(docs: Iterable[Any]) -> Iterable[dict[str, Any]]:
    """Entities from YAML documents, a JSON array of them, or a by-query answer ({items})."""
    for doc in docs:
        if isinstance(doc, dict) and isinstance(doc.get("items"), list):
            doc = doc["items"]
        for item in doc if isinstance(doc, list) else [doc]:
            if isinstance(item, dict):
                yield item


def _name(entity: dict[str, Any]) -> tuple[str, str]:
    metadata = entity.get("metadata")
    if not isinstance(metadata, dict):
        return "", ""
    name = metadata.get("name")
    namespace = metadata.get("namespace") or "default"
    return (name if isinstance(name, str) else ""), str(namespace)
