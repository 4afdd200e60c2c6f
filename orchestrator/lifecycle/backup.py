"""The backup bundle of one repository: write it, verify it, read it back for a restore.

A bundle is a directory:

    bundle.json               what, where, when and why; the format version
    catalog-entry.yaml        the catalog entry, as ecrctl writes it
    tfvars-entry.tfvars       the ecr_repositories entry, as ecrctl writes it
    terraform-state.json      the state of module.ecr_repositories["NAME"] (its resources only)
    repository.json           describe_repositories: mutability, encryption, scanning, ARN, URI
    repository-policy.json    the repository policy text (absent when there is none)
    lifecycle-policy.json     the lifecycle policy text (absent when there is none)
    tags.json                 the repository's tags
    images/index.json         every image: digest, tags, push time, media type, manifest file
    images/sha256-HEX.json    each image manifest, byte for byte as ECR returned it
    manifest.json             the SHA-256 of every file above

It holds manifests, not layers: the image content lives in the layer blobs a manifest points
at, and those go when the repository is deleted (see docs/RB-0026-ecr-decommission.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.adapters.ecr import ImageInfo, Manifest
from orchestrator.errors import UserError
from orchestrator.files import catalog, tfvars
from orchestrator.models import CatalogEntry, RegistryRequest, RiskTier

FORMAT = "ecrctl-backup/1"
SUMS = "manifest.json"
INFO = "bundle.json"
CATALOG_ENTRY = "catalog-entry.yaml"
TFVARS_ENTRY = "tfvars-entry.tfvars"
STATE = "terraform-state.json"
REPOSITORY = "repository.json"
REPOSITORY_POLICY = "repository-policy.json"
LIFECYCLE_POLICY = "lifecycle-policy.json"
TAGS = "tags.json"
IMAGE_INDEX = "images/index.json"


class BackupError(UserError):
    """A bundle could not be written, or does not verify."""


@dataclass(frozen=True)
class Contents:
    """Everything a bundle holds, gathered before anything is written."""

    entry: CatalogEntry
    created_at: datetime
    reason: str
    region: str | None
    state: dict[str, Any]
    repository: dict[str, Any] | None
    repository_policy: str | None
    lifecycle_policy: str | None
    tags: list[dict[str, str]]
    images: list[ImageInfo]
    manifests: list[Manifest]

    @property
    def name(self) -> str:
        return self.entry.request.name


@dataclass(frozen=True)
class SavedImage:
    digest: str
    tags: tuple[str, ...]
    pushed_at: str | None
    manifest: Manifest


@dataclass(frozen=True)
class Bundle:
    """A verified bundle, read back."""

    path: Path
    info: dict[str, Any]
    entry: CatalogEntry
    repository: dict[str, Any] | None
    repository_policy: str | None
    lifecycle_policy: str | None
    tags: list[dict[str, str]]
    images: list[SavedImage]

    @property
    def name(self) -> str:
        return self.entry.request.name

    @property
    def digests(self) -> set[str]:
        return {i.digest for i in self.images}


def manifest_file(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    safe = "".join(c for c in f"{algorithm}-{hexdigest}" if c.isalnum() or c == "-")
    return f"images/{safe}.json"


def bundle_dir(root: Path, env: str, name: str, created_at: datetime) -> Path:
    """root/{env}/{name}/{UTC timestamp}, made unique if a bundle of that second exists."""
    base = root / env / name / created_at.strftime("%Y%m%dT%H%M%SZ")
    path, n = base, 1
    while path.exists() or _partial(path).exists():
        path = base.with_name(f"{base.name}-{n}")
        n += 1
    return path


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


def _json(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, default=_default) + "\n").encode()


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a backup")


def files_of(contents: Contents, tiers: dict[str, RiskTier]) -> dict[str, bytes]:
    """Every file of the bundle but manifest.json, as bytes."""
    entry, request = contents.entry, contents.entry.request
    by_digest = {m.digest: m for m in contents.manifests}
    files: dict[str, bytes] = {
        CATALOG_ENTRY: catalog.render_entry(entry, tiers[request.risk]).encode(),
        TFVARS_ENTRY: tfvars.render_entry(request).encode(),
        STATE: _json(contents.state),
        REPOSITORY: _json(contents.repository),
        TAGS: _json(contents.tags),
    }
    if contents.repository_policy is not None:
        files[REPOSITORY_POLICY] = contents.repository_policy.encode()
    if contents.lifecycle_policy is not None:
        files[LIFECYCLE_POLICY] = contents.lifecycle_policy.encode()
    index = []
    for image in contents.images:
        manifest = by_digest[image.digest]
        path = manifest_file(image.digest)
        files[path] = manifest.manifest.encode()
        index.append(
            {
                "digest": image.digest,
                "tags": list(image.tags),
                "pushed_at": image.pushed_at.isoformat() if image.pushed_at else None,
                "media_type": manifest.media_type,
                "manifest": path,
            }
        )
    files[IMAGE_INDEX] = _json(index)
    files[INFO] = _json(
        {
            "format": FORMAT,
            "repository": request.name,
            "environment": request.env,
            "risk": request.risk,
            "region": contents.region,
            "created_at": contents.created_at.isoformat(),
            "reason": contents.reason,
            "repository_arn": (contents.repository or {}).get("repositoryArn"),
            "repository_uri": (contents.repository or {}).get("repositoryUri"),
            "image_count": len(contents.images),
            "holds": "manifests, tags and digests of every image; not the image layers",
        }
    )
    return files


def write(path: Path, contents: Contents, tiers: dict[str, RiskTier]) -> Path:
    """Write the bundle to `path`, verify it, and only then give it its name.

    The files go to a hidden `.NAME.partial` directory first; anything that fails removes it,
    so a bundle directory that exists is a complete one.
    """
    files = files_of(contents, tiers)
    sums = {rel: hashlib.sha256(data).hexdigest() for rel, data in sorted(files.items())}
    files[SUMS] = _json({"algorithm": "sha256", "files": sums})
    partial = _partial(path)
    try:
        partial.mkdir(parents=True)
        for rel, data in files.items():
            _write_file(partial / rel, data)
        verify(partial)
        os.rename(partial, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            shutil.rmtree(partial)
        if isinstance(exc, OSError):
            raise BackupError(
                f"could not write the backup to {path}: {exc.strerror or exc}",
                "nothing was changed; free space or fix permissions, or choose --backup-dir",
            ) from None
        raise
    return path


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def verify(path: Path) -> dict[str, str]:
    """Check every file against manifest.json: present, unchanged, and nothing unlisted."""
    if not path.is_dir():
        raise BackupError(f"backup {path} does not exist or is not a directory")
    _refuse_symlinks(path)
    try:
        sums = json.loads((path / SUMS).read_bytes())["files"]
        if not isinstance(sums, dict):
            raise TypeError
    except FileNotFoundError:
        raise BackupError(f"{path} has no {SUMS}: not an ecrctl backup") from None
    except (OSError, ValueError, KeyError, TypeError):
        raise BackupError(f"{path / SUMS} is not readable") from None
    _refuse_escapes(path, sums)
    on_disk = {
        str(p.relative_to(path)) for p in path.rglob("*") if p.is_file() or p.is_symlink()
    } - {SUMS}
    extra = sorted(on_disk - set(sums))
    if extra:
        raise BackupError(f"backup {path} holds a file {SUMS} does not list: {extra[0]}")
    for rel, want in sorted(sums.items()):
        file = path / rel
        if file.is_symlink() or not file.is_file():
            raise BackupError(f"backup {path} is missing {rel}")
        got = hashlib.sha256(file.read_bytes()).hexdigest()
        if got != want:
            raise BackupError(
                f"backup {path}: {rel} does not match its checksum",
                "the bundle was changed or damaged after it was written; use another backup",
            )
    return dict(sums)


# ecrctl writes neither a symlink nor a path that leaves the bundle; either would have restore
# read (and push as an image) a file outside the bundle that its checksums cannot vouch for.
_FORGED = "ecrctl writes no such bundle: it was changed after it was written; use another backup"


def _refuse_symlinks(path: Path) -> None:
    """Refuse a bundle holding a symlink anywhere (manifest.json included)."""
    for dirpath, dirnames, filenames in os.walk(path):
        for name in (*dirnames, *filenames):
            entry = Path(dirpath) / name
            if entry.is_symlink():
                raise BackupError(f"backup {path}: {entry.relative_to(path)} is a symlink", _FORGED)


def _refuse_escapes(path: Path, sums: dict[str, Any]) -> None:
    """Refuse a manifest.json naming a path outside the bundle (absolute, or through `..`)."""
    for rel in sums:
        if not rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise BackupError(f"backup {path}: {SUMS} names {rel!r}, outside the bundle", _FORGED)


def load(path: Path, tiers: dict[str, RiskTier]) -> Bundle:
    """Verify a bundle and read it back into a catalog entry, settings and saved images."""
    path = path.resolve()
    sums = verify(path)
    info = _load_json(path, INFO)
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise BackupError(f"{path / INFO}: not an {FORMAT} bundle")
    env = str(info.get("environment", ""))
    request = _request(path, env, tiers)
    entry_text = (path / CATALOG_ENTRY).read_text(encoding="utf-8")
    document = f'version: "{catalog.VERSION}"\nrepositories:\n{entry_text}'
    try:
        entries = catalog.load_text(document, path / CATALOG_ENTRY, tiers).entries
    except UserError as exc:
        raise BackupError(f"{path / CATALOG_ENTRY}: {exc.message}") from None
    entry = entries.get(request.name)
    if entry is None or not catalog.same_request(entry.request, request):
        raise BackupError(
            f"backup {path}: the catalog entry and the tfvars entry describe different repositories"
        )
    images = []
    for item in _load_json(path, IMAGE_INDEX):
        if not isinstance(item, dict) or item.get("manifest") not in sums:
            raise BackupError(f"{path / IMAGE_INDEX} names a manifest the bundle does not list")
        manifest = (path / item["manifest"]).read_text(encoding="utf-8")
        images.append(
            SavedImage(
                item["digest"],
                tuple(item["tags"]),
                item.get("pushed_at"),
                Manifest(item["digest"], item.get("media_type") or "", manifest),
            )
        )
    return Bundle(
        path=path,
        info=info,
        entry=entry,
        repository=_load_json(path, REPOSITORY),
        repository_policy=_optional_text(path, REPOSITORY_POLICY),
        lifecycle_policy=_optional_text(path, LIFECYCLE_POLICY),
        tags=_load_json(path, TAGS),
        images=images,
    )


def _request(path: Path, env: str, tiers: dict[str, RiskTier]) -> RegistryRequest:
    text = (path / TFVARS_ENTRY).read_text(encoding="utf-8")
    try:
        entries = tfvars.parse(f"{tfvars.VARIABLE} = {{\n{text}}}\n", path / TFVARS_ENTRY, env)
    except UserError as exc:
        raise BackupError(f"{path / TFVARS_ENTRY}: {exc.message}") from None
    if len(entries.entries) != 1:
        raise BackupError(f"{path / TFVARS_ENTRY} must hold exactly one entry")
    # A restore creates the repository again: an adopted one's import markers stay behind.
    return replace(next(iter(entries.entries.values())), adopt=(), adopt_kms_key="")


def _load_json(path: Path, rel: str) -> Any:
    try:
        return json.loads((path / rel).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path / rel} is not readable JSON ({exc})") from None


def _optional_text(path: Path, rel: str) -> str | None:
    file = path / rel
    return file.read_text(encoding="utf-8") if file.exists() else None


def retarget(bundle: Bundle, env: str) -> CatalogEntry:
    """The bundle's catalog entry, moved to environment `env`; it comes back active (the push
    principals of a repository deprecated before its decommission get push access again)."""
    return replace(bundle.entry, request=replace(bundle.entry.request, env=env, status="active"))
