from __future__ import annotations

import pytest

from orchestrator.errors import PlanRefused
from orchestrator.models import Rule, Violation
from orchestrator.rules import guard
from tests.helpers import rc, verdicts

A = 'module.ecr_repositories["alpha"]'
B = 'module.ecr_repositories["bravo"]'
SCAN = "aws_ecr_registry_scanning_configuration.this[0]"


def test_a_create_may_only_create() -> None:
    changes = [
        rc(f"{A}.aws_ecr_repository.this", "create"),
        rc(f"{A}.aws_kms_key.this[0]", "create"),
        rc(SCAN, "update"),
    ]
    assert verdicts(changes, {"alpha"}, {"alpha"}) == []
    bad = [*changes, rc(f"{A}.aws_ecr_lifecycle_policy.this", "delete")]
    assert verdicts(bad, {"alpha"}, {"alpha"}) == [
        f"{A}.aws_ecr_lifecycle_policy.this (delete): a create request may only create"
    ]


def test_changes_outside_the_request_are_refused_by_address() -> None:
    changes = [
        rc(f"{A}.aws_ecr_repository.this", "create"),
        rc(f"{B}.aws_ecr_repository.this", "delete"),
        rc("aws_s3_bucket.other", "update"),
    ]
    with pytest.raises(PlanRefused) as info:
        guard.check(changes, {"alpha"}, {"alpha"})
    assert info.value.addresses == [f"{B}.aws_ecr_repository.this", "aws_s3_bucket.other"]


def test_live_repositories_are_never_replaced_or_deleted() -> None:
    changes = [rc(f"{A}.aws_ecr_repository.this", "replace")]
    assert verdicts(changes, {"alpha"}, {"alpha"})
    assert verdicts([rc(f"{A}.aws_ecr_repository.this", "update")], {"alpha"}, {"alpha"}) == []


def test_a_decommission_may_only_delete() -> None:
    deletes = [rc(f"{A}.aws_ecr_repository.this", "delete"), rc(SCAN, "update")]
    assert verdicts(deletes, {"alpha"}, set()) == []
    assert verdicts([rc(f"{A}.aws_ecr_repository.this", "create")], {"alpha"}, set())
    assert verdicts([rc(SCAN, "delete")], {"alpha"}, set())


def test_an_unfinished_decommission_is_named_in_the_hint() -> None:
    changes = [
        rc(f"{A}.aws_ecr_repository.this", "create"),
        rc(f"{B}.aws_ecr_repository.this", "delete"),
    ]
    with pytest.raises(PlanRefused) as info:
        guard.check(changes, {"alpha"}, {"alpha"})
    assert info.value.hint is not None and info.value.hint.startswith("bravo left the tfvars")


def test_a_verdict_is_a_value_naming_the_change_and_the_rule() -> None:
    change = rc(f"{B}.aws_ecr_repository.this", "delete")
    [verdict] = guard.violations([change], {"alpha"}, {"alpha"})
    assert verdict.change == change and verdict.rule is Rule.NOT_REQUESTED
    assert verdict.to_dict() == {
        "address": change.address,
        "action": "delete",
        "repository": "bravo",
        "rule": "not-requested",
        "reason": "belongs to a repository that was not requested",
    }
    assert Violation.from_dict(verdict.to_dict()) == verdict


def test_the_key_policy_of_a_live_repository_is_updated_in_place_never_replaced() -> None:
    """Item 4: a key created with AWS's default policy gets the module's by an in-place update
    (PutKeyPolicy); the guard lets that through, inside a requested repository only, and still
    refuses any replacement of the key (it would lose every image)."""
    key = f"{A}.aws_kms_key.this[0]"
    assert verdicts([rc(key, "update")], {"alpha"}, {"alpha", "bravo"}) == []
    assert verdicts([rc(key, "replace")], {"alpha"}, {"alpha"}) == [
        f"{key} (replace): would destroy part of a live repository"
    ]
    assert verdicts([rc(f"{B}.aws_kms_key.this[0]", "update")], {"alpha"}, {"alpha", "bravo"}) == [
        f"{B}.aws_kms_key.this[0] (update): belongs to a repository that was not requested"
    ]


def test_a_registry_only_plan_is_judged_with_no_requested_repository() -> None:
    """`ecrctl plan --registry` with no name, and ci plan of a registry-settings-only change:
    the registry-wide resources may move as for any plan; nothing else may appear."""
    replication = "aws_ecr_replication_configuration.this[0]"
    policy = "aws_ecr_registry_policy.this[0]"
    allowed = [rc(SCAN, "update"), rc(replication, "create"), rc(policy, "delete")]
    assert verdicts(allowed, set(), {"alpha"}) == []
    assert verdicts([rc(replication, "delete"), rc(policy, "update")], set(), set()) == []
    refused = [
        rc(SCAN, "delete"),
        rc(f"{A}.aws_ecr_repository.this", "update"),
        rc(f"{B}.aws_ecr_repository.this", "delete"),
    ]
    assert verdicts(refused, set(), {"alpha"}) == [
        f"{SCAN} (delete): registry-wide settings are never destroyed",
        f"{A}.aws_ecr_repository.this (update): belongs to a repository that was not requested",
        f"{B}.aws_ecr_repository.this (delete): belongs to a repository that was not requested",
    ]
