"""The one way ecrctl makes an AWS client, and the one way an AWS failure becomes an AwsError.

Every client gets the environment's credentials, endpoint and region, exactly as terraform gets
them (adapters/environments.py), with one set of retries and timeouts. boto3 is imported here
only, and only when a command needs it: it is slow to import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.errors import AwsError

RETRIES = {"max_attempts": 5, "mode": "standard"}
CONNECT_TIMEOUT = 10  # seconds
READ_TIMEOUT = 60
_ACCESS_CODES = ("AccessDeniedException", "UnrecognizedClientException", "ExpiredTokenException")


def endpoint_url(service: str, environ: Mapping[str, str]) -> str | None:
    """The endpoint `environ` names for `service`: AWS_ENDPOINT_URL_<SERVICE>, else
    AWS_ENDPOINT_URL, as in terraform's provider and backend (None: AWS's own)."""
    return environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or environ.get("AWS_ENDPOINT_URL")


def client(
    service: str,
    environ: Mapping[str, str],
    region: str | None = None,
    connections: int = 10,
    path_style: bool = False,
) -> Any:
    """A boto3 client for `service` with the credentials and endpoint `environ` names.

    Explicit keys win over a profile, as in the AWS CLI; `AWS_ENDPOINT_URL_<SERVICE>` wins over
    `AWS_ENDPOINT_URL`, as in terraform's provider and backend. `connections` bounds the
    client's pool, for callers that share it between threads; `path_style` is S3's path-style
    addressing (the S3 backend's use_path_style).
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    key = environ.get("AWS_ACCESS_KEY_ID")
    try:
        session = boto3.session.Session(
            aws_access_key_id=key,
            aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY") if key else None,
            aws_session_token=environ.get("AWS_SESSION_TOKEN") if key else None,
            profile_name=None if key else environ.get("AWS_PROFILE"),
            region_name=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or region,
        )
        return session.client(
            service,
            endpoint_url=endpoint_url(service, environ),
            config=Config(
                retries=RETRIES,
                connect_timeout=CONNECT_TIMEOUT,
                read_timeout=READ_TIMEOUT,
                max_pool_connections=connections,
                s3={"addressing_style": "path"} if path_style else None,
            ),
        )
    except BotoCoreError as exc:
        raise AwsError(
            f"cannot make an AWS {service} client: {exc}",
            "check AWS_PROFILE / credentials and the region",
        ) from None


def error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def error_message(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        message = response.get("Error", {}).get("Message")
        if message:
            return " ".join(str(message).split())
    return " ".join(str(exc).split())


def error(operation: str, subject: str, exc: Exception, service: str = "ECR") -> AwsError:
    """A failed call as one line and a hint; anything but a boto error is re-raised as it is."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if not isinstance(exc, ClientError | BotoCoreError):
        raise exc
    code = error_code(exc)
    hint = None
    if isinstance(exc, NoCredentialsError):
        hint = "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    elif code in _ACCESS_CODES:
        hint = f"check the AWS credentials and that they may call {service.lower()}:{operation}"
    elif code is None:
        hint = "check the network, AWS_ENDPOINT_URL and the region"
    reason = f"{code}: {error_message(exc)}" if code else error_message(exc)
    return AwsError(f"{service} {operation} on {subject} failed: {reason}", hint)
