"""Fixtures for the workflow runs: one project tree per session, a fresh platform repository and
a freshly reset emulator (with the state buckets) per test (or per module, for a flow)."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import boto3
import pytest

from tests.workflows.harness import (
    ENVIRONMENTS,
    GitHub,
    backend_region,
    bucket,
    project_tree,
)


@pytest.fixture(scope="session")
def platform_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return project_tree(tmp_path_factory.mktemp("platform") / "tree")


def fresh_github(root: Path, emulator_endpoint: str, platform_tree: Path) -> GitHub:
    """A new platform repository on a freshly reset emulator with its state buckets."""
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
    return GitHub(root, platform_tree, emulator_endpoint)


@pytest.fixture
def github(tmp_path: Path, emulator_endpoint: str, platform_tree: Path) -> GitHub:
    return fresh_github(tmp_path / "github", emulator_endpoint, platform_tree)
