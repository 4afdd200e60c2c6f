"""Fixtures for the workflow runs: one runners' venv and one project tree per session, a fresh
platform repository and a freshly reset emulator (with the state buckets) per test."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.workflows.harness import (
    ENVIRONMENTS,
    GitHub,
    backend_region,
    bucket,
    project_tree,
    python_for_runners,
)


@pytest.fixture(scope="session")
def runners_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return python_for_runners(tmp_path_factory.mktemp("runners") / "venv")


@pytest.fixture(scope="session")
def platform_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return project_tree(tmp_path_factory.mktemp("platform") / "tree")


@pytest.fixture
def github(
    tmp_path: Path, emulator_endpoint: str, runners_python: Path, platform_tree: Path
) -> Iterator[GitHub]:
    request = urllib.request.Request(f"{emulator_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    for env in ENVIRONMENTS:
        region = backend_region(platform_tree, env)
        s3 = boto3.client(
            "s3",
            endpoint_url=emulator_endpoint,
            region_name=region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        where = {"LocationConstraint": region}
        s3.create_bucket(Bucket=bucket(env), CreateBucketConfiguration=where)
    yield GitHub(tmp_path / "github", platform_tree, emulator_endpoint, runners_python)
