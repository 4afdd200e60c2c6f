"""What the registry holds for the repositories being adopted, read through the ECR adapter.

One describe_repositories listing for the whole registry (pages of 1000, as `ecrctl drift`
reads it), then per repository what ECR has no batch call for (lifecycle policy, repository
policy, tags), a few at a time; per distinct KMS key one describe_key and one get_key_policy, and the aliases once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from orchestrator.adapters.ecr import Ecr
from orchestrator.lifecycle.conformance import KeyInfo, Observed

WORKERS = 8  # concurrent per-repository reads; boto3 clients are thread-safe


def observe(
    ecr: Ecr, names: Iterable[str], listing: dict[str, dict[str, Any]] | None = None
) -> dict[str, Observed]:
    """What the registry holds for each of `names` that exists (missing names are left out)."""
    listing = ecr.repositories() if listing is None else listing
    found = [listing[n] for n in names if n in listing]

    def detail(repo: dict[str, Any]) -> tuple[str | None, str | None, dict[str, str]]:
        name = repo["repositoryName"]
        return (
            ecr.lifecycle_policy(name),
            ecr.repository_policy(name),
            ecr.tags(repo["repositoryArn"]),
        )

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        details = list(pool.map(detail, found))
    key_arns = {_kms_key(r) for r in found} - {None}
    keys = _keys(ecr, sorted(k for k in key_arns if k))
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        policies = dict(zip(keys, pool.map(ecr.key_policy, list(keys)), strict=True))
    aliases = ecr.aliases() if key_arns else set()
    users = Counter(_kms_key(r) for r in listing.values() if _kms_key(r))
    by_key: dict[str, list[str]] = {}
    for repo in listing.values():
        arn = _kms_key(repo)
        if arn and users[arn] > 1:
            by_key.setdefault(arn, []).append(repo["repositoryName"])
    observed: dict[str, Observed] = {}
    for repo, (lifecycle, policy_text, tags) in zip(found, details, strict=True):
        name = repo["repositoryName"]
        arn = _kms_key(repo)
        observed[name] = Observed(
            name=name,
            arn=repo["repositoryArn"],
            uri=repo.get("repositoryUri", ""),
            mutability=repo.get("imageTagMutability", "MUTABLE"),
            encryption_type=(repo.get("encryptionConfiguration") or {}).get(
                "encryptionType", "AES256"
            ),
            kms_key_arn=arn,
            scan_on_push=bool(
                (repo.get("imageScanningConfiguration") or {}).get("scanOnPush", False)
            ),
            lifecycle_policy=lifecycle,
            repository_policy=policy_text,
            tags=tags,
            key=keys.get(arn) if arn else None,
            alias_exists=("alias/ecr/" + name.replace(".", "_")) in aliases,
            key_shared_with=tuple(sorted(n for n in by_key.get(arn or "", []) if n != name)),
            key_policy=policies.get(arn) if arn else None,
        )
    return observed


def _keys(ecr: Ecr, arns: list[str]) -> dict[str, KeyInfo]:
    """One describe_key per key, a few at a time; a key that cannot be read is left out."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        metas = list(pool.map(ecr.key, arns))
    return {arn: _key_info(meta) for arn, meta in zip(arns, metas, strict=True) if meta is not None}


def _key_info(meta: dict[str, Any]) -> KeyInfo:
    return KeyInfo(
        key_id=meta["KeyId"],
        arn=meta["Arn"],
        manager=meta.get("KeyManager", "CUSTOMER"),
        spec=meta.get("KeySpec") or meta.get("CustomerMasterKeySpec", ""),
        usage=meta.get("KeyUsage", ""),
        state=meta.get("KeyState", ""),
        multi_region=bool(meta.get("MultiRegion", False)),
        origin=meta.get("Origin", "AWS_KMS"),
    )


def _kms_key(repo: dict[str, Any]) -> str | None:
    config = repo.get("encryptionConfiguration") or {}
    key = config.get("kmsKey") if config.get("encryptionType") == "KMS" else None
    return str(key) if key else None
