"""Backstage's own validator (@backstage/catalog-model, run by node) for the generated catalog.

The npm package is installed by the test set-up (`npm ci --prefix tests/backstage`, which
`make test` and .ci/run do); if it is missing, the first test that needs it installs it the
same way, from the lock file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

VALIDATOR_DIR = Path(__file__).resolve().parent / "backstage"
MODEL = VALIDATOR_DIR / "node_modules" / "@backstage" / "catalog-model" / "package.json"


def ensure_installed() -> None:
    if shutil.which("node") is None:
        pytest.fail("node is not installed: the Backstage validator runs on Node.js (>= 18)")
    if MODEL.is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed; run: npm ci --prefix tests/backstage")
    done = subprocess.run(
        [npm, "ci", "--prefix", str(VALIDATOR_DIR), "--no-audit", "--no-fund"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0 or not MODEL.is_file():
        pytest.fail(f"npm ci --prefix tests/backstage failed: {done.stderr[-2000:]}")


def validate(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Backstage's verdict on each entity: [{ref, error}], error None when valid."""
    ensure_installed()
    done = subprocess.run(
        ["node", str(VALIDATOR_DIR / "validate.js")],
        input=json.dumps(entities),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode not in (0, 1):
        pytest.fail(f"validate.js failed (exit {done.returncode}): {done.stderr}")
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def assert_valid(entities: list[dict[str, Any]]) -> list[str]:
    """Every entity valid and every entity ref unique; returns the refs."""
    assert entities, "no entities to validate"
    results = validate(entities)
    errors = [
        (e.get("kind"), e.get("metadata", {}).get("name"), r["error"])
        for e, r in zip(entities, results, strict=True)
        if r["error"]
    ]
    assert not errors, errors
    refs = [r["ref"] for r in results]
    assert len(refs) == len(set(refs)), f"duplicate entity refs: {refs}"
    return refs


def catalog_entities(catalog_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Every Backstage entity under catalog/, by file (the registry catalog is not one)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(catalog_dir.rglob("*.yaml")):
        if path.name == "ecr-catalog.yaml":
            continue
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
        found[str(path.relative_to(catalog_dir))] = docs
    return found


def all_entities(catalog_dir: Path) -> list[dict[str, Any]]:
    return [e for docs in catalog_entities(catalog_dir).values() for e in docs]


def assert_relations_resolve(entities: list[dict[str, Any]], refs: list[str]) -> None:
    """Every system, domain and dependency named exists in the catalog (owners live elsewhere)."""
    known = set(refs)
    for entity in entities:
        spec = entity.get("spec", {})
        wanted = [("system", spec["system"])] if "system" in spec else []
        wanted += [("domain", spec["domain"])] if "domain" in spec else []
        wanted += [("", r) for r in spec.get("dependsOn", []) + spec.get("dependencyOf", [])]
        for kind, ref in wanted:
            if ":" not in ref:
                ref = f"{kind}:{ref}"
            kind_part, name = ref.split(":", 1)
            full = f"{kind_part.lower()}:{name if '/' in name else 'default/' + name}"
            assert full in known, f"{entity['metadata']['name']} refers to missing {full}"


SCAFFOLDER = VALIDATOR_DIR / "node_modules" / "@backstage" / "plugin-scaffolder-common"


def validate_templates(templates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The scaffolder's verdict on each Template entity: [{ref, error}], error None when valid."""
    ensure_installed()
    if not (SCAFFOLDER / "package.json").is_file():
        pytest.fail(
            "@backstage/plugin-scaffolder-common is missing: npm ci --prefix tests/backstage"
        )
    done = subprocess.run(
        ["node", str(VALIDATOR_DIR / "validate-template.js")],
        input=json.dumps(templates),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode not in (0, 1):
        pytest.fail(f"validate-template.js failed (exit {done.returncode}): {done.stderr}")
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results
