from __future__ import annotations

import pytest

from orchestrator.errors import UserError
from orchestrator.rules import policy


@pytest.mark.parametrize(
    "name",
    [
        'pay"ments',
        "pay${x}",
        "pay%{x}",
        "pay\nments",
        "Payments",
        "../prod",
        "a/b",
        "a",
        "x" * 257,
        "-lead",
        "trail-",
        "dou--ble",
        "under_score",
        "",
        "sp ace",
    ],
)
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(UserError):
        policy.check_name(name)


@pytest.mark.parametrize(
    "name", ["ab", "payments-gateway", "ml-inference-engine", "on", "012", "x" * 256]
)
def test_product_names_are_accepted(name: str) -> None:
    assert policy.check_name(name) == name


def test_id_is_derived_from_the_name() -> None:
    request = policy.build_request(
        name="payments-gateway", env="dev", owner="app-team-pay", risk="low"
    )
    assert request.registry_id == "REGISTRY_PAYMENTS_GATEWAY"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("owner", "team-payments"),
        ("owner", "app-team-"),
        ("owner", "app-team-Pay"),
        ("risk", "critical"),
        ("registry_id", "REGISTRY_"),
        ("registry_id", "registry_x"),
        ("description", 'quote " inside'),
        ("description", "${interp}"),
        ("description", "x" * 257),
    ],
)
def test_bad_fields_are_refused(field: str, value: str) -> None:
    args = {
        "name": "payments-gateway",
        "env": "dev",
        "owner": "app-team-pay",
        "risk": "low",
        field: value,
    }
    with pytest.raises(UserError):
        policy.build_request(**args)


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::12345:role/x",
        "arn:aws:s3:::bucket",
        "role/x",
        'arn:aws:iam::123456789012:role/"x',
    ],
)
def test_bad_principals_are_refused(arn: str) -> None:
    with pytest.raises(UserError):
        policy.check_principals([arn], "push")


def test_principals_are_sorted_and_deduplicated() -> None:
    arns = [
        "arn:aws:iam::123456789012:role/b",
        "arn:aws:iam::123456789012:role/a",
        "arn:aws:iam::123456789012:role/b",
    ]
    assert policy.check_principals(arns, "pull") == (arns[1], arns[0])
