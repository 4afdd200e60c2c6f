"""What the registry holds for the repositories being adopted (boto3, read only).

One describe_repositories listing for the whole registry (pages of 1000, as `ecrctl drift`
reads it), then per repository what ECR has no batch call for (lifecycle policy, repository
policy, tags), a few at a time; per distinct KMS key one describe_key, and the aliases once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from orchestrator.adapters import aws
from orchestrator.adapters import ecr as ecr_adapter
from orchestrator.adapters.environments import process_environ
from orchestrator.context import Environment
from orchestrator.lifecycle.conformance import KeyInfo, Observed
from orchestrator.ops import drift

WORKERS = 8  # concurrent per-repository reads; boto3 clients are thread-safe


class Inventory:
    """Registry reads for one environment."""

    def __init__(self, ecr: Any, kms: Any) -> None:
        self.ecr = ecr
        self.kms = kms

    def listing(self) -> dict[str, dict[str, Any]]:
        """Every repository of the registry: name -> describe_repositories item."""
        return drift.Registry(self.ecr).repositories()

    def tags(self, arn: str) -> dict[str, str]:
        return drift.Registry(self.ecr).tags(arn)

    def observe(
        self, names: Iterable[str], listing: dict[str, dict[str, Any]] | None = None
    ) -> dict[str, Observed]:
        """What the registry holds for each of `names` that exists (missing names are left out)."""
        listing = self.listing() if listing is None else listing
        found = [listing[n] for n in names if n in listing]
        reader = ecr_adapter.Ecr(self.ecr)

        def detail(repo: dict[str, Any]) -> tuple[str | None, str | None, dict[str, str]]:
            name = repo["repositoryName"]
            return (
                reader.lifecycle_policy(name),
                reader.repository_policy(name),
                self.tags(repo["repositoryArn"]),
            )

        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            details = list(pool.map(detail, found))
        key_arns = {_kms_key(r) for r in found} - {None}
        keys = self._keys(sorted(k for k in key_arns if k))
        aliases = self._aliases() if key_arns else set()
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
            )
        return observed

    def _keys(self, arns: list[str]) -> dict[str, KeyInfo]:
        def describe(arn: str) -> tuple[str, KeyInfo | None]:
            try:
                meta = self.kms.describe_key(KeyId=arn)["KeyMetadata"]
            except Exception as exc:
                if aws.error_code(exc) in ("NotFoundException", "AccessDeniedException"):
                    return arn, None  # reported as "could not be read" for that repository
                raise aws.error("DescribeKey", arn, exc, service="KMS") from None
            return arn, KeyInfo(
                key_id=meta["KeyId"],
                arn=meta["Arn"],
                manager=meta.get("KeyManager", "CUSTOMER"),
                spec=meta.get("KeySpec") or meta.get("CustomerMasterKeySpec", ""),
                usage=meta.get("KeyUsage", ""),
                state=meta.get("KeyState", ""),
                multi_region=bool(meta.get("MultiRegion", False)),
                origin=meta.get("Origin", "AWS_KMS"),
            )

        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            return {arn: info for arn, info in pool.map(describe, arns) if info is not None}

    def _aliases(self) -> set[str]:
        try:
            return {
                alias["AliasName"]
                for page in self.kms.get_paginator("list_aliases").paginate()
                for alias in page.get("Aliases", [])
            }
        except Exception as exc:
            raise aws.error("ListAliases", "the account", exc, service="KMS") from None


def _kms_key(repo: dict[str, Any]) -> str | None:
    config = repo.get("encryptionConfiguration") or {}
    key = config.get("kmsKey") if config.get("encryptionType") == "KMS" else None
    return str(key) if key else None


Connector = Callable[[Environment, str | None], Inventory]


def connect(ctx: Environment, region: str | None) -> Inventory:
    """ECR and KMS clients with the environment's credentials, endpoint and region."""
    environ = process_environ(ctx.workspace, ctx.env, region, ctx.environ)
    return Inventory(
        aws.client("ecr", environ, region, connections=WORKERS * 2),
        aws.client("kms", environ, region, connections=WORKERS * 2),
    )
