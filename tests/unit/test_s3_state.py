"""The state read straight from the S3 backend: which configurations it covers, and its failures.

botocore's Stubber stands in for S3 (the emulator run is in tests/e2e/test_catalog_sync.py, which
also checks the bytes against `terraform state pull`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

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
