"""The state read straight from the S3 backend: which configurations it covers, and its failures.

botocore's Stubber stands in for S3 on the boto3 path; the signed GET without boto3 is sent to an
HTTP server in the test's own process on 127.0.0.1 (the emulator run is in
tests/e2e/test_catalog_sync.py, which also checks the bytes against `terraform state pull`).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from botocore.stub import Stubber

from orchestrator.adapters import aws, s3_state
from orchestrator.errors import AwsError, FileError
from tests.helpers import REPO

LOCAL = (REPO / "envs" / "local" / "backend.hcl").read_text()  # the local emulator's backend
ENVIRON = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "eu-west-2"}


def _backend(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "backend.hcl"
    path.write_text(text)
    return path


class Clients:
    """The clients s3_state asks aws.client for, each a real one answered by botocore's Stubber."""

    def __init__(self) -> None:
        self.responses: list[Callable[[Stubber], None]] = []
        self.asked: list[tuple[str, str, bool]] = []  # service, region, path-style addressing
        self.stubs: list[Stubber] = []


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> Clients:
    clients = Clients()
    real = aws.client

    def client(service: str, environ: Any, region: Any = None, **kwargs: Any) -> Any:
        made_client = real(service, environ, region, **kwargs)
        path_style = made_client.meta.config.s3 == {"addressing_style": "path"}
        clients.asked.append((service, made_client.meta.region_name, path_style))
        stub = Stubber(made_client)
        for respond in clients.responses:
            respond(stub)
        stub.activate()
        clients.stubs.append(stub)
        return made_client

    monkeypatch.setattr(aws, "client", client)
    # These tests are of the boto3 path: the signed GET without boto3 is tested below.
    monkeypatch.setattr(s3_state, "_signed_get", lambda *args: None)
    return clients


def test_the_state_object_is_read_with_the_backends_region_and_addressing(
    tmp_path: Path, made: Clients
) -> None:
    made.responses.append(
        lambda stub: stub.add_response(
            "get_object",
            {"Body": _Body(b'{"version": 4}')},
            {"Bucket": "ecrctl-local-tfstate", "Key": "ecr/local/terraform.tfstate"},
        )
    )
    assert s3_state.read(_backend(tmp_path, LOCAL), ENVIRON) == '{"version": 4}'
    # backend.hcl's region wins over AWS_REGION, as in terraform's S3 backend.
    assert made.asked == [("s3", "us-east-1", True)]
    made.stubs[0].assert_no_pending_responses()


def test_a_backend_never_written_is_an_empty_state(tmp_path: Path, made: Clients) -> None:
    made.responses.append(lambda stub: stub.add_client_error("get_object", "NoSuchKey"))
    assert s3_state.read(_backend(tmp_path, LOCAL), ENVIRON) == ""


def test_a_refused_read_is_one_aws_error_naming_the_object(tmp_path: Path, made: Clients) -> None:
    made.responses.append(
        lambda stub: stub.add_client_error("get_object", "AccessDenied", "Access Denied")
    )
    with pytest.raises(AwsError) as refused:
        s3_state.read(_backend(tmp_path, LOCAL), ENVIRON)
    assert refused.value.message == (
        "S3 GetObject on s3://ecrctl-local-tfstate/ecr/local/terraform.tfstate failed:"
        " AccessDenied: Access Denied"
    )


@pytest.mark.parametrize(
    "extra",
    [
        'profile = "platform"',
        'role_arn = "arn:aws:iam::123456789012:role/state"',
        'dynamodb_table = "locks"',
        'workspace_key_prefix = "envs"',
        'sse_customer_key = "c2VjcmV0"',
    ],
)
def test_settings_it_does_not_cover_are_left_to_terraform(
    tmp_path: Path, made: Clients, extra: str
) -> None:
    assert s3_state.read(_backend(tmp_path, LOCAL + extra + "\n"), ENVIRON) is None
    assert made.asked == []  # no client: terraform state pull reads it


def test_a_workspace_other_than_default_is_left_to_terraform(tmp_path: Path, made: Clients) -> None:
    environ = {**ENVIRON, "TF_WORKSPACE": "blue"}
    assert s3_state.read(_backend(tmp_path, LOCAL), environ) is None
    assert made.asked == []


def test_a_backend_file_without_a_bucket_is_left_to_terraform_to_explain(
    tmp_path: Path, made: Clients
) -> None:
    assert s3_state.read(_backend(tmp_path, 'key = "k"\nregion = "us-east-1"\n'), ENVIRON) is None
    assert made.asked == []


def test_a_broken_backend_file_names_its_line(tmp_path: Path) -> None:
    with pytest.raises(FileError) as broken:
        s3_state.read(_backend(tmp_path, 'bucket = "b"\nkey = \n'), ENVIRON)
    assert broken.value.line == 2


class _Body:
    """What botocore's StreamingBody offers s3_state: read()."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self) -> bytes:
        return self.data


def test_missing_credentials_say_how_to_give_them() -> None:
    from botocore.exceptions import NoCredentialsError

    failed = aws.error("GetObject", "s3://bucket/key", NoCredentialsError(), service="S3")
    assert failed.message == "S3 GetObject on s3://bucket/key failed: Unable to locate credentials"
    assert failed.hint == "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"


# -- the signed GET, without boto3 ------------------------------------------------------------


class Bucket(http.server.BaseHTTPRequestHandler):
    """S3 for one object: answers GET /BUCKET/KEY, records each request's path and headers."""

    objects: ClassVar[dict[str, bytes]] = {}
    seen: ClassVar[list[tuple[str, dict[str, str]]]] = []
    refuse: ClassVar[bool] = False

    def do_GET(self) -> None:
        self.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        body = self.objects.get(self.path)
        if self.refuse:
            self._answer(403, b"<Error><Code>AccessDenied</Code></Error>")
        elif body is None:
            self._answer(404, b"<Error><Code>NoSuchKey</Code></Error>")
        else:
            self._answer(200, body)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def bucket() -> Iterator[tuple[str, type[Bucket]]]:
    handler = type("Handler", (Bucket,), {"objects": {}, "seen": [], "refuse": False})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


STATE_PATH = "/ecrctl-local-tfstate/ecr/local/terraform.tfstate"


def test_with_keys_in_the_environment_one_signed_get_reads_the_state_without_boto3(
    tmp_path: Path, bucket: tuple[str, type[Bucket]], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, handler = bucket
    handler.objects[STATE_PATH] = b'{"version": 4}'
    monkeypatch.setattr(aws, "client", lambda *a, **k: pytest.fail("boto3 was asked for a client"))
    environ = {**ENVIRON, "AWS_ENDPOINT_URL": endpoint, "AWS_SESSION_TOKEN": "token"}
    assert s3_state.read(_backend(tmp_path, LOCAL), environ) == '{"version": 4}'
    [(path, headers)] = handler.seen
    assert path == STATE_PATH
    # Signed for the backend's region, not AWS_REGION's, with the session token.
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=test/")
    assert (
        "/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"
        in headers["authorization"]
    )
    assert headers["x-amz-security-token"] == "token"


def test_a_state_never_written_is_empty_without_boto3(
    tmp_path: Path, bucket: tuple[str, type[Bucket]], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, _handler = bucket
    monkeypatch.setattr(aws, "client", lambda *a, **k: pytest.fail("boto3 was asked for a client"))
    environ = {**ENVIRON, "AWS_ENDPOINT_URL_S3": endpoint, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    assert s3_state.read(_backend(tmp_path, LOCAL), environ) == ""


def test_a_refused_signed_get_is_left_to_boto3_which_reports_it(
    tmp_path: Path, bucket: tuple[str, type[Bucket]], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, handler = bucket
    handler.refuse = True
    real = aws.client
    clients: list[str] = []

    def stubbed(service: str, environ: Any, region: Any = None, **kwargs: Any) -> Any:
        made_client = real(service, environ, region, **kwargs)
        clients.append(service)
        stub = Stubber(made_client)
        stub.add_client_error("get_object", "AccessDenied", "Access Denied")
        stub.activate()
        return made_client

    monkeypatch.setattr(aws, "client", stubbed)  # boto3, answered by the Stubber
    environ = {**ENVIRON, "AWS_ENDPOINT_URL": endpoint}
    with pytest.raises(AwsError, match="AccessDenied: Access Denied"):
        s3_state.read(_backend(tmp_path, LOCAL), environ)
    assert len(handler.seen) == 1 and clients == ["s3"]


@pytest.mark.parametrize(
    ("environ", "path_style", "url"),
    [
        ({}, False, "https://b-1.s3.eu-west-2.amazonaws.com/ecr/p%20q.tfstate"),
        ({}, True, "https://s3.eu-west-2.amazonaws.com/b-1/ecr/p%20q.tfstate"),
        (
            {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000/"},
            True,
            "http://127.0.0.1:5000/b-1/ecr/p%20q.tfstate",
        ),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}, False, None),  # virtual hosting: boto3
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000/prefix"}, True, None),
        ({"AWS_USE_FIPS_ENDPOINT": "true"}, False, None),
        ({"AWS_USE_DUALSTACK_ENDPOINT": "TRUE"}, True, None),
    ],
)
def test_the_object_url_is_built_only_where_it_is_plain(
    environ: dict[str, str], path_style: bool, url: str | None
) -> None:
    assert s3_state.object_url("b-1", "ecr/p q.tfstate", "eu-west-2", environ, path_style) == url


@pytest.mark.parametrize(
    ("bucket_name", "region"),
    [("with.dots", "eu-west-2"), ("b-1", "cn-north-1"), ("b-1", "us-gov-west-1")],
)
def test_other_partitions_and_dotted_buckets_are_left_to_boto3(
    bucket_name: str, region: str
) -> None:
    assert s3_state.object_url(bucket_name, "k", region, {}, False) is None


def test_without_keys_in_the_environment_nothing_is_sent(
    tmp_path: Path, bucket: tuple[str, type[Bucket]]
) -> None:
    endpoint, handler = bucket
    environ = {"AWS_PROFILE": "platform", "AWS_ENDPOINT_URL": endpoint}
    assert s3_state._signed_get("ecrctl-local-tfstate", "k", "us-east-1", environ, True) is None
    assert handler.seen == []


def test_a_tls_failure_or_an_unreadable_ca_bundle_is_left_to_boto3(
    bucket: tuple[str, type[Bucket]],
) -> None:
    endpoint, handler = bucket
    tls = {**ENVIRON, "AWS_ENDPOINT_URL": endpoint.replace("http://", "https://")}
    assert s3_state._signed_get("ecrctl-local-tfstate", "k", "us-east-1", tls, True) is None
    no_bundle = {**tls, "AWS_CA_BUNDLE": "/nonexistent/ca.pem"}
    assert s3_state._signed_get("ecrctl-local-tfstate", "k", "us-east-1", no_bundle, True) is None
    assert handler.seen == []  # a plain HTTP server never saw a GET it could read
