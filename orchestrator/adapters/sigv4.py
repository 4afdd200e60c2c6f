"""AWS Signature Version 4 for one bodiless request: what `s3_state` needs to GET the state object
without importing boto3, whose import and S3 client cost about 0.5 s per command
(docs/BENCHMARKS.md, goal 5).

Only the header form of the signature, for a request without a body or query string, with static
credentials. tests/unit/test_sigv4.py checks it against botocore's own S3 signer.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def canonical_path(path: str) -> str:
    """The request path as S3 signs it: each byte outside RFC 3986's unreserved set and '/'
    percent-encoded, once (S3 does not normalise or double-encode)."""
    return quote(path, safe="/~")


def signed_headers(
    method: str,
    url: str,
    region: str,
    service: str,
    access_key: str,
    secret_key: str,
    session_token: str | None = None,
    now: datetime.datetime | None = None,
) -> dict[str, str]:
    """The headers that sign `method url` (its path already canonical_path-encoded)."""
    parts = urlsplit(url)
    if parts.query:
        raise ValueError("a query string is not supported")
    stamp = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y%m%dT%H%M%SZ")
    headers = {
        "host": parts.netloc,
        "x-amz-content-sha256": EMPTY_SHA256,
        "x-amz-date": stamp,
    }
    if session_token:
        headers["x-amz-security-token"] = session_token
    names = sorted(headers)
    signed = ";".join(names)
    canonical = "\n".join(
        [
            method,
            parts.path or "/",
            "",
            "".join(f"{name}:{headers[name].strip()}\n" for name in names),
            signed,
            EMPTY_SHA256,
        ]
    )
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(("AWS4" + secret_key).encode(), stamp[:8])
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed},"
        f" Signature={signature}"
    )
    return headers
