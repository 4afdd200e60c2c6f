"""The state object of an S3 backend, read straight from S3: the state `terraform state pull` returns.

`terraform state pull` loads no provider, but it still hashes the 700 MB AWS provider package
against the lock file (0.6 s on every run) and decodes and re-encodes the whole state (0.4 s at
1000 repositories) before it prints what the backend holds (the same resources and outputs; only
the order of its check results can differ). A GetObject of the same key takes a few milliseconds
(docs/BENCHMARKS.md, goal 5).

Only a backend configuration this module fully understands is read here: the settings of
BACKEND_SETTINGS, the default workspace, credentials from the environment terraform gets. Any
other (a role to assume, a profile in the file, custom endpoints, customer keys, a DynamoDB
digest, workspaces) goes through `terraform state pull`: `read` returns None for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from orchestrator.adapters import aws
from orchestrator.errors import FileError
from orchestrator.files import hcl
from orchestrator.files.workspace import read_text

# What envs/ENV/backend.hcl may set for a direct read. encrypt, kms_key_id and use_lockfile
# change how terraform writes the object, not how it is read back.
BACKEND_SETTINGS = frozenset(
    {"bucket", "key", "region", "encrypt", "kms_key_id", "use_lockfile", "use_path_style"}
)


def read(backend_file: Path, environ: Mapping[str, str]) -> str | None:
    """The state text ("" when the backend holds none), or None to leave it to terraform."""
    if environ.get("TF_WORKSPACE", "default") != "default":
        return None
    try:
        settings = hcl.parse(read_text(backend_file, "backend config")).values
    except hcl.HclSyntaxError as exc:
        raise FileError(backend_file, exc.line, exc.reason) from None
    if not set(settings) <= BACKEND_SETTINGS:
        return None
    bucket, key, region = (settings.get(name) for name in ("bucket", "key", "region"))
    if not (isinstance(bucket, str) and isinstance(key, str) and isinstance(region, str)):
        return None  # terraform says what is missing or wrong
    if not (bucket and key and region):
        return None
    # The backend's own region, as terraform uses it, whatever AWS_REGION says.
    s3 = aws.client(
        "s3",
        {**environ, "AWS_REGION": region},
        path_style=settings.get("use_path_style") is True,
    )
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        if aws.error_code(exc) == "NoSuchKey":
            return ""  # never applied: terraform state pull prints nothing either
        raise aws.error("GetObject", f"s3://{bucket}/{key}", exc, service="S3") from None
    return bytes(body).decode("utf-8")
