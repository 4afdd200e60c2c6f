"""The plan guard and what an interrupted apply leaves behind: tainted parts, nothing more."""

from __future__ import annotations

from orchestrator.adapters.terraform_output import changes_from_messages, changes_from_plan_json
from tests.helpers import rc, verdicts

A = 'module.ecr_repositories["alpha"]'
SCAN = "aws_ecr_registry_scanning_configuration.this[0]"


def test_a_rerun_may_replace_what_an_interrupted_create_left_tainted() -> None:
    changes = [
        rc(f"{A}.aws_kms_key.this[0]", "replace", "tainted"),
        rc(f"{A}.aws_kms_alias.this[0]", "create"),
        rc(f"{A}.aws_ecr_repository.this", "create"),
        rc(SCAN, "replace", "tainted"),
    ]
    assert verdicts(changes, {"alpha"}, {"alpha"}) == []


def test_a_replacement_for_any_other_reason_is_still_refused() -> None:
    creating = [rc(f"{A}.aws_ecr_repository.this", "create")]
    assert verdicts(
        [*creating, rc(f"{A}.aws_kms_key.this[0]", "replace")], {"alpha"}, {"alpha"}
    ) == [f"{A}.aws_kms_key.this[0] (replace): a create request may only create"]
    assert verdicts([rc(SCAN, "replace")], {"alpha"}, {"alpha"}) == [
        f"{SCAN} (replace): registry-wide settings are never destroyed"
    ]


def test_a_tainted_live_repository_is_never_replaced() -> None:
    """Tainted by hand (terraform taint) or by an interrupted create of the repository itself:
    it may hold images, so the guard refuses and a person decides."""
    changes = [rc(f"{A}.aws_ecr_repository.this", "replace", "tainted")]
    assert verdicts(changes, {"alpha"}, {"alpha"}) == [
        f"{A}.aws_ecr_repository.this (replace): would destroy part of a live repository"
    ]


def test_the_reason_is_read_from_both_of_terraforms_plan_formats_and_kept() -> None:
    streamed = changes_from_messages(
        [
            {
                "type": "planned_change",
                "change": {
                    "resource": {"addr": f"{A}.aws_kms_key.this[0]"},
                    "action": "replace",
                    "reason": "tainted",
                },
            }
        ]
    )
    shown = changes_from_plan_json(
        {
            "resource_changes": [
                {
                    "address": f"{A}.aws_kms_key.this[0]",
                    "change": {"actions": ["delete", "create"]},
                    "action_reason": "replace_because_tainted",
                }
            ]
        }
    )
    assert streamed == shown == [rc(f"{A}.aws_kms_key.this[0]", "replace", "tainted")]
    assert streamed[0].to_dict()["reason"] == "tainted"
    assert "reason" not in rc(SCAN, "update").to_dict()  # unchanged for every other change
