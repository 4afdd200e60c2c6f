"""The loopback guard (tests/conftest.py) fails any test that would reach past 127.0.0.0/8.

The guard raises before a socket connects or terraform starts, so these tests send nothing:
192.0.2.1 is TEST-NET-1 (documentation only, never routed) and no name is ever resolved.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from orchestrator.adapters import terraform as terraform_mod
from orchestrator.adapters.emulator import CREDENTIALS

pytest_plugins = ["pytester"]
OUTSIDE = "192.0.2.1"


def test_a_socket_to_a_non_loopback_address_fails_the_test() -> None:
    with socket.socket() as sock, pytest.raises(AssertionError, match="non-loopback"):
        sock.connect((OUTSIDE, 443))
    with (
        socket.socket(socket.AF_INET6) as sock,
        pytest.raises(AssertionError, match="non-loopback"),
    ):
        sock.connect(("2001:db8::1", 443, 0, 0))


def test_loopback_stays_reachable() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.socket() as client:
            client.connect(server.getsockname())


def test_boto3_to_a_non_loopback_endpoint_fails_the_test() -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import HTTPClientError

    ecr = boto3.client(
        "ecr",
        endpoint_url=f"http://{OUTSIDE}:80",
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    # botocore wraps the guard's AssertionError in HTTPClientError; either way the test fails.
    with pytest.raises((AssertionError, HTTPClientError), match="non-loopback"):
        ecr.describe_repositories()


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"AWS_ENDPOINT_URL": f"http://{OUTSIDE}:4566"},
        {"AWS_ENDPOINT_URL": "https://ecr.amazonaws.com"},
    ],
    ids=["real-aws", "private-address", "aws-endpoint"],
)
def test_terraform_against_anything_but_loopback_is_never_started(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    for sub in ("init", "plan", "apply", "force-unlock"):
        with pytest.raises(AssertionError, match="terraform would run against"):
            terraform_mod.subprocess.Popen(["terraform", sub], cwd=tmp_path, env=environ)
    # Commands that never reach AWS run as usual.
    subprocess.run(
        ["terraform", "version"],
        env={**environ, "PATH": os.environ["PATH"]},
        check=True,
        capture_output=True,
    )


def test_the_guard_fails_an_ordinary_test_that_reaches_out(pytester: pytest.Pytester) -> None:
    """Run a small suite under the project's conftest: its reaching tests fail, the rest pass."""
    pytester.makeconftest("from tests.conftest import loopback_only  # noqa: F401\n")
    pytester.makepyfile(
        test_reaching=f"""
        import socket
        import subprocess

        def test_socket():
            socket.create_connection(("{OUTSIDE}", 443), timeout=1)

        def test_terraform_to_real_aws():
            subprocess.run(["terraform", "plan"], env={{}}, check=False)

        def test_harmless():
            assert True
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        ["*non-loopback address*", "*terraform would run against real AWS*"]
    )
