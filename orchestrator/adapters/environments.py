"""The process environment each ecrctl environment runs terraform and boto3 with."""

from __future__ import annotations

import os
from collections.abc import Mapping

from orchestrator.adapters import emulator
from orchestrator.files.workspace import Workspace

# Real credentials must never reach the emulator, and emulator credentials never AWS.
_CREDENTIAL_VARIABLES = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_ECR",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_KMS",
)


def process_environ(
    ws: Workspace, env: str, region: str | None, base: Mapping[str, str] = os.environ
) -> dict[str, str]:
    environ = dict(base)
    if region:
        environ.setdefault("AWS_REGION", region)
        environ.setdefault("AWS_DEFAULT_REGION", region)
    if env == emulator.LOCAL_ENV:
        for key in _CREDENTIAL_VARIABLES:
            environ.pop(key, None)
        environ.update(emulator.CREDENTIALS)
        environ["AWS_ENDPOINT_URL"] = emulator.endpoint(ws)
        if region:
            environ["AWS_REGION"] = environ["AWS_DEFAULT_REGION"] = region
    return environ
