"""The state object of an S3 backend, read straight from S3: the state `terraform state pull` returns.

`terraform state pull` loads no provider, but it still hashes the 700 MB AWS provider package
against the lock file (0.6 s on every run) and decodes and re-encodes the whole state (0.4 s at
1000 repositories) before it prints what the backend holds (the same resources and outputs; only
the order of its check results can differ). A GetObject of the same key takes a few milliseconds
(docs/BENCHMARKS.md, goal 5). With the keys in the environment (CI, the local emulator) that GET
is signed here (adapters/sigv4.py), since importing boto3 and making its S3 client cost another
0.5 s; any other credentials, or any failure, go through boto3.

Only a backend configuration this module fully understands is read here: the settings of
BACKEND_SETTINGS, the default workspace, credentials from the environment terraform gets. Any
other (a role to assume, a profile in the file, custom endpoints, customer keys, a DynamoDB
digest, workspaces) goes through `terraform state pull`: `read` returns None for it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from orchestrator.adapters import aws, sigv4
from orchestrator.errors import FileError
from orchestrator.files import hcl
from orchestrator.files.workspace import read_text

# What envs/ENV/backend.hcl may set for a direct read. encrypt, kms_key_id and use_lockfile
# change how terraform writes the object, not how it is read back.
BACKEND_SETTINGS = frozenset(
    {"bucket", "key", "region", "encrypt", "kms_key_id", "use_lockfile", "use_path_style"}
)


def read(backend_file: Path, environ: Mapping[str, str], key: str | None = None) -> str | None:
    """The state text ("" when the backend holds none), or None to leave it to terraform.

    `key` is a state's own backend key (a shard's), in place of backend.hcl's.
    """
    if environ.get("TF_WORKSPACE", "default") != "default":
        return None
    try:
        settings = hcl.parse(read_text(backend_file, "backend config")).values
    except hcl.HclSyntaxError as exc:
        raise FileError(backend_file, exc.line, exc.reason) from None
    if not set(settings) <= BACKEND_SETTINGS:
        return None
    if key is not None:
        settings = {**settings, "key": key}
    bucket, key, region = (settings.get(name) for name in ("bucket", "key", "region"))
    if not (isinstance(bucket, str) and isinstance(key, str) and isinstance(region, str)):
        return None  # terraform says what is missing or wrong
    if not (bucket and key and region):
        return None
    path_style = settings.get("use_path_style") is True
    direct = _signed_get(bucket, key, region, environ, path_style)
    if direct is not None:
        return direct
    # The backend's own region, as terraform uses it, whatever AWS_REGION says.
    s3 = aws.client("s3", {**environ, "AWS_REGION": region}, path_style=path_style)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        if aws.error_code(exc) == "NoSuchKey":
            return ""  # never applied: terraform state pull prints nothing either
        raise aws.error("GetObject", f"s3://{bucket}/{key}", exc, service="S3") from None
    return bytes(body).decode("utf-8")


# The regions of the aws partition (endpoints s3.REGION.amazonaws.com); others go through boto3.
_AWS_REGION = re.compile(r"(us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-[0-9]+")
_DNS_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


def object_url(
    bucket: str, key: str, region: str, environ: Mapping[str, str], path_style: bool
) -> str | None:
    """The object's URL, canonically encoded, where it is plain to build: a path-style endpoint
    (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL), or AWS's own for a bucket name without dots. None
    for anything else (FIPS or dual-stack endpoints, other partitions, virtual hosting on a custom
    endpoint): boto3 knows those."""
    if any(
        environ.get(f"AWS_USE_{v}_ENDPOINT", "").lower() == "true" for v in ("FIPS", "DUALSTACK")
    ):
        return None
    endpoint = aws.endpoint_url("s3", environ)
    path = sigv4.canonical_path(f"/{key}")
    if endpoint:
        parts = urlsplit(endpoint)
        if not path_style or parts.scheme not in ("http", "https") or parts.path.strip("/"):
            return None
        return f"{parts.scheme}://{parts.netloc}/{sigv4.canonical_path(bucket)}{path}"
    if _AWS_REGION.fullmatch(region) and _DNS_BUCKET.fullmatch(bucket):
        host = f"s3.{region}.amazonaws.com"
        return f"https://{host}/{bucket}{path}" if path_style else f"https://{bucket}.{host}{path}"
    return None


def _signed_get(
    bucket: str, key: str, region: str, environ: Mapping[str, str], path_style: bool
) -> str | None:
    """The object's text by one signed GET, without boto3 (its import and client take 0.5 s).

    Only with keys in the environment and an `object_url`. None leaves the read to boto3: other
    credentials or endpoints, and any failure, which boto3 then retries or reports as usual.
    """
    access_key, secret_key = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    url = object_url(bucket, key, region, environ, path_style)
    if not (access_key and secret_key and url):
        return None
    import urllib.error
    import urllib.request

    headers = sigv4.signed_headers(
        "GET", url, region, "s3", access_key, secret_key, environ.get("AWS_SESSION_TOKEN")
    )
    try:
        context = None
        if url.startswith("https://"):  # loading the CA bundle costs 50 ms: only when it is used
            import ssl

            context = ssl.create_default_context(cafile=environ.get("AWS_CA_BUNDLE") or None)
        request = urllib.request.Request(url, headers=headers, method="GET")
        # A socket that waits this long (an unreachable endpoint) leaves it to boto3, which retries.
        with urllib.request.urlopen(
            request, timeout=aws.CONNECT_TIMEOUT, context=context
        ) as answer:
            return bytes(answer.read()).decode("utf-8")
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(OSError):
            if exc.code == 404 and b"<Code>NoSuchKey</Code>" in exc.read():
                return ""  # never applied: terraform state pull prints nothing either
        return None
    except (OSError, ValueError):  # the network, TLS, a body that is not UTF-8: boto3 says
        return None


class Backend:
    """Writes to an S3 backend's objects for `ecrctl shards migrate`: a state, a lock, a delete.

    A migration moves resources between states without terraform: `terraform state push` would
    cost a process and an init per state and take each state's lock only for its own push,
    while a migration must hold every lock from start to end. The lock objects are Terraform's
    own (KEY.tflock, LockInfo JSON, written only if absent), so a terraform run meanwhile
    waits or fails as on any held lock, and `ecrctl unlock` can release a lock a killed
    migration left.
    """

    def __init__(self, backend_file: Path, environ: Mapping[str, str]) -> None:
        try:
            settings = hcl.parse(read_text(backend_file, "backend config")).values
        except hcl.HclSyntaxError as exc:
            raise FileError(backend_file, exc.line, exc.reason) from None
        self.bucket = str(settings.get("bucket"))
        region = str(settings.get("region"))
        self._extra: dict[str, str] = {}
        if settings.get("kms_key_id"):
            self._extra = {
                "ServerSideEncryption": "aws:kms",
                "SSEKMSKeyId": str(settings["kms_key_id"]),
            }
        elif settings.get("encrypt") is True:
            self._extra = {"ServerSideEncryption": "AES256"}
        path_style = settings.get("use_path_style") is True
        self._s3 = aws.client("s3", {**environ, "AWS_REGION": region}, path_style=path_style)

    def put(self, key: str, text: str) -> None:
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=text.encode("utf-8"),
                ContentType="application/json",
                **self._extra,
            )
        except Exception as exc:
            raise aws.error("PutObject", f"s3://{self.bucket}/{key}", exc, service="S3") from None

    def get(self, key: str) -> str | None:
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:
            if aws.error_code(exc) == "NoSuchKey":
                return None
            raise aws.error("GetObject", f"s3://{self.bucket}/{key}", exc, service="S3") from None
        return bytes(body).decode("utf-8")

    def lock(self, key: str, info: str) -> bool:
        """Take the lock of the state at `key` (False when someone holds it)."""
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=f"{key}.tflock",
                Body=info.encode("utf-8"),
                IfNoneMatch="*",
                ContentType="application/json",
                **self._extra,
            )
        except Exception as exc:
            if aws.error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise aws.error("PutObject", f"s3://{self.bucket}/{key}.tflock", exc, "S3") from None
        return True

    def lock_holder(self, key: str) -> str | None:
        """The lock's LockInfo JSON, or None when the state at `key` is not locked."""
        return self.get(f"{key}.tflock")

    def unlock(self, key: str) -> None:
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=f"{key}.tflock")
        except Exception as exc:
            raise aws.error("DeleteObject", f"s3://{self.bucket}/{key}.tflock", exc, "S3") from None
