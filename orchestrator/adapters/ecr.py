"""The one ECR adapter: every boto3 call ecrctl makes to a registry itself.

The registry listing (drift, `plan --unmanaged`, adopt), the active-use check, backup reads,
emptying a repository before its destroy, putting saved manifests back on restore, and the KMS
key reads adopt's inventory needs (its KMS client is made only when one is needed). Everything
else about a repository (settings, policies, tags) is Terraform's. Every AWS failure becomes an
AwsError (exit 3) in one line.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orchestrator.adapters import aws
from orchestrator.errors import AwsError

DEFAULT_ACTIVE_DAYS = 30
CONNECTIONS = 16  # each client's pool: callers share it between threads (adopt reads 8 at a time)
BATCH = 100  # batch_get_image and batch_delete_image take at most 100 image IDs
# Ask for every manifest type so that ECR returns each manifest as it was pushed, not converted.
MANIFEST_MEDIA_TYPES = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
]


@dataclass(frozen=True)
class ImageInfo:
    """One image as describe_images reports it."""

    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime | None
    last_pull: datetime | None  # lastRecordedPullTime; None when never recorded


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    manifest: str


@dataclass(frozen=True)
class PutOutcome:
    digest: str
    tag: str | None
    outcome: str  # restored | present | refused
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "tag": self.tag,
            "outcome": self.outcome,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Activity:
    """The result of the active-use check: images pushed or pulled within the window."""

    window_days: int
    since: datetime
    last_push: datetime | None
    last_pull: datetime | None
    recent: tuple[tuple[str, str, datetime], ...]  # (digest, "push" | "pull", when)

    @property
    def active(self) -> bool:
        return bool(self.recent)

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_days": self.window_days,
            "since": self.since.isoformat(),
            "last_push": self.last_push.isoformat() if self.last_push else None,
            "last_pull": self.last_pull.isoformat() if self.last_pull else None,
            "active": self.active,
            "recent": [{"digest": d, "event": e, "at": t.isoformat()} for d, e, t in self.recent],
        }


def activity(images: list[ImageInfo], now: datetime, window_days: int) -> Activity:
    """Images pushed or pulled at or after `now - window_days` (a time in the future counts too)."""
    since = now - timedelta(days=window_days)
    recent: list[tuple[str, str, datetime]] = []
    for image in images:
        for event, when in (("push", image.pushed_at), ("pull", image.last_pull)):
            if when is not None and when >= since:
                recent.append((image.digest, event, when))
    pushes = [i.pushed_at for i in images if i.pushed_at is not None]
    pulls = [i.last_pull for i in images if i.last_pull is not None]
    return Activity(
        window_days,
        since,
        max(pushes, default=None),
        max(pulls, default=None),
        tuple(sorted(recent, key=lambda r: r[2], reverse=True)),
    )


class Ecr:
    """ECR calls for one environment, on a boto3 client made for it.

    `kms` makes the KMS client on the first key read (boto3 clients are slow to make); tests
    pass fakes for either.
    """

    def __init__(self, client: Any, kms: Callable[[], Any] | None = None) -> None:
        self.client = client
        self._make_kms = kms
        self._kms: Any = None
        self._lock = threading.Lock()

    @property
    def kms(self) -> Any:
        """The KMS client, made once, on first use (safe from several threads)."""
        with self._lock:
            if self._kms is None:
                if self._make_kms is None:
                    raise RuntimeError("this Ecr was made without a KMS client")
                self._kms = self._make_kms()
            return self._kms

    def repositories(self) -> dict[str, dict[str, Any]]:
        """Every repository of the registry (describe_repositories, every page): name -> item."""
        found: dict[str, dict[str, Any]] = {}
        try:
            for page in self.client.get_paginator("describe_repositories").paginate():
                for repo in page.get("repositories", []):
                    found[repo["repositoryName"]] = repo
        except Exception as exc:
            raise aws.error("DescribeRepositories", "the registry", exc) from None
        return found

    def replication(self) -> tuple[str, list[dict[str, Any]]]:
        """The registry's ID and its replication rules as ECR holds them (DescribeRegistry)."""
        try:
            found = self.client.describe_registry()
        except Exception as exc:
            raise aws.error("DescribeRegistry", "the registry", exc) from None
        rules = (found.get("replicationConfiguration") or {}).get("rules") or []
        return str(found.get("registryId", "")), list(rules)

    def repository(self, name: str) -> dict[str, Any] | None:
        """describe_repositories for one name; None when it does not exist."""
        try:
            found = self.client.describe_repositories(repositoryNames=[name])["repositories"]
        except Exception as exc:
            if aws.error_code(exc) == "RepositoryNotFoundException":
                return None
            raise aws.error("DescribeRepositories", repr(name), exc) from None
        return dict(found[0]) if found else None

    def images(self, name: str) -> list[ImageInfo]:
        """Every image of the repository; empty when the repository does not exist."""
        images: list[ImageInfo] = []
        try:
            for page in self.client.get_paginator("describe_images").paginate(repositoryName=name):
                for detail in page.get("imageDetails", []):
                    images.append(
                        ImageInfo(
                            digest=detail["imageDigest"],
                            tags=tuple(sorted(detail.get("imageTags") or ())),
                            pushed_at=detail.get("imagePushedAt"),
                            last_pull=detail.get("lastRecordedPullTime"),
                        )
                    )
        except Exception as exc:
            if aws.error_code(exc) == "RepositoryNotFoundException":
                return []
            raise aws.error("DescribeImages", repr(name), exc) from None
        return sorted(images, key=lambda i: (i.pushed_at is None, i.pushed_at, i.digest))

    def repository_policy(self, name: str) -> str | None:
        return self._optional_text(
            name, "get_repository_policy", "policyText", "RepositoryPolicyNotFoundException"
        )

    def lifecycle_policy(self, name: str) -> str | None:
        return self._optional_text(
            name, "get_lifecycle_policy", "lifecyclePolicyText", "LifecyclePolicyNotFoundException"
        )

    def tags(self, arn: str) -> dict[str, str]:
        """The resource's tags: key -> value."""
        try:
            tags = self.client.list_tags_for_resource(resourceArn=arn).get("tags", [])
        except Exception as exc:
            raise aws.error("ListTagsForResource", arn, exc) from None
        return {t["Key"]: t["Value"] for t in tags}

    def key(self, arn: str) -> dict[str, Any] | None:
        """KMS describe_key: the key's KeyMetadata; None when it cannot be read (not found or
        access denied: reported as such for the repositories that use it)."""
        try:
            meta: dict[str, Any] = self.kms.describe_key(KeyId=arn)["KeyMetadata"]
        except Exception as exc:
            if aws.error_code(exc) in ("NotFoundException", "AccessDeniedException"):
                return None
            raise aws.error("DescribeKey", arn, exc, service="KMS") from None
        return meta

    def key_policy(self, arn: str) -> str | None:
        """KMS get_key_policy (the one policy a key has, "default"); None when it cannot be read."""
        try:
            policy: str = self.kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"]
        except Exception as exc:
            if aws.error_code(exc) in ("NotFoundException", "AccessDeniedException"):
                return None
            raise aws.error("GetKeyPolicy", arn, exc, service="KMS") from None
        return policy

    def aliases(self) -> set[str]:
        """The names of the account's KMS aliases (list_aliases, every page)."""
        try:
            return {
                alias["AliasName"]
                for page in self.kms.get_paginator("list_aliases").paginate()
                for alias in page.get("Aliases", [])
            }
        except Exception as exc:
            raise aws.error("ListAliases", "the account", exc, service="KMS") from None

    def manifests(self, name: str, digests: list[str]) -> list[Manifest]:
        """The manifest of every digest, exactly as ECR returns it; any one missing is an error."""
        found: dict[str, Manifest] = {}
        for chunk in _chunks(digests):
            try:
                response = self.client.batch_get_image(
                    repositoryName=name,
                    imageIds=[{"imageDigest": d} for d in chunk],
                    acceptedMediaTypes=MANIFEST_MEDIA_TYPES,
                )
            except Exception as exc:
                raise aws.error("BatchGetImage", repr(name), exc) from None
            for image in response.get("images", []):
                digest = image["imageId"]["imageDigest"]
                manifest = image["imageManifest"]
                media_type = image.get("imageManifestMediaType") or _media_type(manifest)
                found.setdefault(digest, Manifest(digest, media_type, manifest))
            failures = response.get("failures", [])
            if failures:
                first = failures[0]
                raise AwsError(
                    f"ECR BatchGetImage on {name!r} could not read"
                    f" {first.get('imageId', {}).get('imageDigest', 'an image')}:"
                    f" {first.get('failureCode')}: {first.get('failureReason')}",
                    "an image changed while it was read; run the command again",
                )
        missing = [d for d in digests if d not in found]
        if missing:
            raise AwsError(f"ECR BatchGetImage on {name!r} returned no manifest for {missing[0]}")
        return [found[d] for d in digests]

    def delete_images(self, name: str, digests: list[str]) -> list[str]:
        """Delete images by digest (all their tags go with them); returns the digests deleted."""
        deleted: list[str] = []
        for chunk in _chunks(digests):
            try:
                response = self.client.batch_delete_image(
                    repositoryName=name, imageIds=[{"imageDigest": d} for d in chunk]
                )
            except Exception as exc:
                raise aws.error("BatchDeleteImage", repr(name), exc) from None
            failures = [
                f for f in response.get("failures", []) if f.get("failureCode") != "ImageNotFound"
            ]
            if failures:
                first = failures[0]
                raise AwsError(
                    f"ECR BatchDeleteImage on {name!r} failed for"
                    f" {first.get('imageId', {}).get('imageDigest', 'an image')}:"
                    f" {first.get('failureCode')}: {first.get('failureReason')}"
                )
            for image_id in response.get("imageIds", []):
                if image_id.get("imageDigest") not in deleted:
                    deleted.append(image_id["imageDigest"])
        return deleted

    def put_image(self, name: str, manifest: Manifest, tag: str | None) -> PutOutcome:
        """Put one saved manifest back. A registry refusal is reported, not raised."""
        params: dict[str, Any] = {
            "repositoryName": name,
            "imageManifest": manifest.manifest,
            "imageDigest": manifest.digest,
        }
        if manifest.media_type:
            params["imageManifestMediaType"] = manifest.media_type
        if tag is not None:
            params["imageTag"] = tag
        try:
            self.client.put_image(**params)
        except Exception as exc:
            code = aws.error_code(exc)
            if code == "ImageAlreadyExistsException":
                return PutOutcome(manifest.digest, tag, "present")
            if code is None or code in _NOT_REFUSALS:
                raise aws.error("PutImage", repr(name), exc) from None
            return PutOutcome(manifest.digest, tag, "refused", f"{code}: {aws.error_message(exc)}")
        return PutOutcome(manifest.digest, tag, "restored")

    def _optional_text(self, name: str, method: str, key: str, absent: str) -> str | None:
        try:
            text: str = getattr(self.client, method)(repositoryName=name)[key]
        except Exception as exc:
            if aws.error_code(exc) in (absent, "RepositoryNotFoundException"):
                return None
            operation = "".join(part.title() for part in method.split("_"))
            raise aws.error(operation, repr(name), exc) from None
        return text


# Errors that say nothing about the manifest itself: the call failed, so the restore stops.
_NOT_REFUSALS = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "RepositoryNotFoundException",
    "ServerException",
    "ThrottlingException",
}


Connector = Callable[[Mapping[str, str], str | None], Ecr]


def connect(environ: Mapping[str, str], region: str | None) -> Ecr:
    """The adapter for the environment whose process environment (credentials, endpoint, as
    terraform gets them: adapters/environments.process_environ) is `environ`."""
    return Ecr(
        aws.client("ecr", environ, region, connections=CONNECTIONS),
        lambda: aws.client("kms", environ, region, connections=CONNECTIONS),
    )


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


def _media_type(manifest: str) -> str:
    import json

    try:
        value = json.loads(manifest).get("mediaType", "")
    except (ValueError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""
