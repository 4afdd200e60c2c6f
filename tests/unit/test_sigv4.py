"""The request signature of adapters/sigv4.py is the one botocore's own S3 signer computes."""

from __future__ import annotations

import datetime

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from orchestrator.adapters import sigv4

NOW = datetime.datetime(2026, 11, 30, 23, 59, 58, tzinfo=datetime.UTC)


def _botocore(url: str, region: str, token: str | None) -> dict[str, str]:
    request = AWSRequest(method="GET", url=url, data=b"")
    # The payload hash botocore puts on a plain-HTTP request; over HTTPS it would sign none.
    request.headers["X-Amz-Content-SHA256"] = sigv4.EMPTY_SHA256
    signer = botocore.auth.S3SigV4Auth(
        Credentials("AKIDEXAMPLE", "wJalr/K7MDENG+bPxRfiCY", token), "s3", region
    )
    signer.add_auth(request)
    return {k.lower(): v for k, v in request.headers.items()}


@pytest.mark.parametrize(
    ("url", "region", "token"),
    [
        (
            "http://127.0.0.1:5000/ecrctl-local-tfstate/ecr/local/terraform.tfstate",
            "us-east-1",
            None,
        ),
        (
            "https://state-bucket.s3.eu-west-2.amazonaws.com/ecr/prod/terraform.tfstate",
            "eu-west-2",
            "FwoGZXIvYXdzEXAMPLE==",
        ),
        (
            "https://s3.ap-southeast-2.amazonaws.com/b-1/"
            + sigv4.canonical_path("a b/ü+=&$.tfstate"),
            "ap-southeast-2",
            None,
        ),
    ],
    ids=["path-style-port", "virtual-host-token", "encoded-key"],
)
def test_the_signature_is_botocores(
    url: str, region: str, token: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    ours = sigv4.signed_headers(
        "GET", url, region, "s3", "AKIDEXAMPLE", "wJalr/K7MDENG+bPxRfiCY", token, NOW
    )
    theirs = _botocore(url, region, token)
    assert ours["authorization"] == theirs["authorization"]
    assert ours["x-amz-date"] == theirs["x-amz-date"] == "20261130T235958Z"
    assert ours.get("x-amz-security-token") == theirs.get("x-amz-security-token") == token


def test_another_secret_or_time_signs_differently() -> None:
    url = "http://127.0.0.1:5000/bucket/key"
    base = sigv4.signed_headers("GET", url, "us-east-1", "s3", "AKID", "secret", None, NOW)
    later = NOW + datetime.timedelta(seconds=1)
    assert base != sigv4.signed_headers("GET", url, "us-east-1", "s3", "AKID", "other", None, NOW)
    assert (
        base["authorization"]
        != sigv4.signed_headers("GET", url, "us-east-1", "s3", "AKID", "secret", None, later)[
            "authorization"
        ]
    )


def test_a_key_is_encoded_once_and_slashes_kept() -> None:
    assert sigv4.canonical_path("/ecr/a b/ü~x+y") == "/ecr/a%20b/%C3%BC~x%2By"
    with pytest.raises(ValueError, match="query"):
        sigv4.signed_headers("GET", "http://h/b/k?x=1", "us-east-1", "s3", "a", "b")
