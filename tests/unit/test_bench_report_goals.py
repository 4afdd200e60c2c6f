"""bench/report.py's goals on fabricated results: a goal not measured never passes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bench import report


def _m(value: float) -> dict[str, Any]:
    return {"median": value, "runs": [value]}


def _figures(
    n: int,
    shards: int = 1,
    targeted: float = 5.0,
    floor: float = 4.0,
    drift: float = 10.0,
    create: float = 0.3,
    typer: float = 0.15,
) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "shards": shards,
        "plans": {
            "terraform_validate_s": _m(floor),
            "targeted_plan_s": _m(targeted),
            "full_plan_s": _m(targeted * 10),
            "ecrctl_plan_s": _m(targeted * 1.05),
            "targeted_over_full": 0.1,
            "ecrctl_over_bare": 1.05,
            "ecrctl_over_bare_cpu": 1.04,
        },
        "create": {
            "ecrctl_create_s": _m(create),
            "python_start_s": _m(0.04),
            "python_import_ecrctl_s": _m(0.12),
            "python_import_typer_s": _m(typer),
        },
        "catalog_sync": {
            "available": True,
            "ecrctl_catalog_sync_s": _m(0.9),
            "boto3_baseline_s": _m(1.2),
        },
        "flow": {"provider_loading_runs": 2 if shards == 1 else 4, "catalog_sync_included": True},
        "ci_plan": {"available": True, "ci_over_single": 1.2},
        "drift": {"ecrctl_drift_s": _m(drift), "exit_code": 4, "findings": {}},
    }
    if shards > 1:
        figures["spread_plan"] = {
            "shards_touched": min(10, shards),
            "spread_plan_s": _m(12.0),
            "single_target_plan_s": _m(10.0),
            "spread_over_single": 1.2,
        }
        figures["migration"] = {
            "to": shards,
            "ecrctl_shards_migrate_s": 3.5,
            "aws_unchanged": True,
            "every_plan_empty": True,
            "states_planned": shards + 1,
            "states_with_changes": [],
            "empty_plan_check_s": 60.0,
        }
    return figures


def _results(sizes: dict[int, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    return {"sizes": {str(n): {"setup": {}, "layouts": layouts} for n, layouts in sizes.items()}}


def _full_run() -> dict[str, Any]:
    """10, 100, 1000 and 2000 on both layouts, every goal met."""
    return _results(
        {
            10: {"one": _figures(10), "sharded": _figures(10, 2)},
            100: {"one": _figures(100, targeted=7.0), "sharded": _figures(100, 2)},
            1000: {
                "one": _figures(1000, targeted=6.0, drift=190.0),
                "sharded": _figures(1000, 16, targeted=5.5, drift=60.0),
            },
            2000: {
                "one": _figures(2000, targeted=30.0, drift=400.0),
                "sharded": _figures(2000, 32, targeted=5.6, drift=110.0),
            },
        }
    )


def _by_id(results: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {goal["id"]: goal for goal in report.goals(results)}


def test_a_full_run_judges_every_goal() -> None:
    goals = _by_id(_full_run())
    assert sorted(goals) == list(range(1, 11))
    assert {n: g["holds"] for n, g in goals.items()} == {n: True for n in range(1, 11)}
    assert goals[7]["value"] == pytest.approx(5.6 / 5.0, abs=1e-4)
    assert goals[8]["value"] == pytest.approx(60 / 190, abs=1e-4)
    assert goals[4]["evaluated_at"] == [1000, 2000]


def test_a_smoke_sized_run_passes_no_goal_stated_for_a_size_it_did_not_measure() -> None:
    goals = _by_id(_results({10: {"one": _figures(10), "sharded": _figures(10, 2)}}))
    for number in (1, 4, 5, 7, 8, 9, 10):
        goal = goals[number]
        assert goal["holds"] is None, number
        assert report.NOT_HERE in goal["summary"] + str(goal.get("note")), number
        assert report.verdict(goal) == "not measured"
    # The goals stated at every size are judged on one state.
    assert goals[2]["holds"] is True and goals[3]["holds"] is True and goals[6]["holds"] is True


def test_the_flat_plan_goal_needs_both_its_bounds() -> None:
    results = _full_run()
    sharded = results["sizes"]["2000"]["layouts"]["sharded"]
    sharded["plans"]["terraform_validate_s"] = _m(3.0)  # 5.6 s is 1.87 x this floor
    goal = _by_id(results)[7]
    assert goal["holds"] is False and goal["over_floor"] == pytest.approx(5.6 / 3.0, abs=1e-4)
    sharded["plans"]["terraform_validate_s"] = _m(4.0)
    sharded["plans"]["targeted_plan_s"] = _m(6.6)  # x1.32 of N=10
    assert _by_id(results)[7]["holds"] is False


def test_the_flat_plan_goal_compares_with_one_state_when_n10_was_not_sharded() -> None:
    results = _full_run()
    del results["sizes"]["10"]["layouts"]["sharded"]
    results["sizes"]["10"]["layouts"]["one"]["plans"]["targeted_plan_s"] = _m(4.0)
    goal = _by_id(results)[7]
    assert goal["holds"] is False and goal["value"] == pytest.approx(5.6 / 4.0, abs=1e-4)
    assert "10, one state" in goal["summary"]


def test_drift_goal_misses_above_four_tenths() -> None:
    results = _full_run()
    results["sizes"]["1000"]["layouts"]["sharded"]["drift"]["ecrctl_drift_s"] = _m(80.0)
    goal = _by_id(results)[8]
    assert goal["holds"] is False and goal["value"] == pytest.approx(80 / 190, abs=1e-4)


def test_the_spread_goal_is_judged_only_where_ten_shards_were_touched() -> None:
    results = _full_run()
    for n in ("1000", "2000"):
        results["sizes"][n]["layouts"]["sharded"]["spread_plan"]["shards_touched"] = 9
    goal = _by_id(results)[9]
    assert goal["holds"] is None and report.NOT_HERE in goal["summary"]
    results = _full_run()
    results["sizes"]["10"]["layouts"]["sharded"]["spread_over_single"] = 9.0  # 2 shards: ignored
    results["sizes"]["2000"]["layouts"]["sharded"]["spread_plan"]["spread_over_single"] = 1.6
    goal = _by_id(results)[9]
    assert goal["holds"] is False and goal["evaluated_at"] == [1000, 2000]


@pytest.mark.parametrize(
    ("field", "value"),
    [("aws_unchanged", False), ("every_plan_empty", False)],
)
def test_a_migration_that_changed_anything_misses(field: str, value: bool) -> None:
    results = _full_run()
    migration = results["sizes"]["1000"]["layouts"]["sharded"]["migration"]
    migration[field] = value
    if field == "every_plan_empty":
        migration["states_with_changes"] = ["shard-03"]
    goal = _by_id(results)[10]
    assert goal["holds"] is False
    assert ("CHANGED" if field == "aws_unchanged" else "shard-03") in goal["summary"]


def test_create_goal_needs_n1000_and_n2000_and_judges_every_layout() -> None:
    results = _full_run()
    del results["sizes"]["2000"]
    goal = _by_id(results)[4]
    assert goal["holds"] is None and "N=2000: " + report.NOT_HERE in goal["note"]
    results = _full_run()
    results["sizes"]["2000"]["layouts"]["sharded"]["create"]["ecrctl_create_s"] = _m(0.46)
    goal = _by_id(results)[4]  # 0.46 / 0.15 = 3.07 on shards, 2.0 on one state
    assert goal["holds"] is False and goal["value"] == pytest.approx(0.46 / 0.15, abs=1e-4)


def test_older_goals_are_judged_on_one_state_only() -> None:
    results = _full_run()
    for n in ("10", "1000"):  # a slow sharded targeted plan does not touch goal 1
        results["sizes"][n]["layouts"]["sharded"]["plans"]["targeted_over_full"] = 0.9
    assert _by_id(results)[1]["holds"] is True
    results["sizes"]["1000"]["layouts"]["one"]["plans"]["targeted_plan_s"] = _m(7.0)  # x1.4
    assert _by_id(results)[1]["holds"] is False


def test_results_from_before_the_layouts_still_give_the_older_goals() -> None:
    old = _results({})
    for n in (10, 100, 1000):
        figures = _figures(n)
        del figures["shards"]
        old["sizes"][str(n)] = {"setup": {}, **figures}
    goals = _by_id(old)
    assert [goals[n]["holds"] for n in (1, 2, 3, 5, 6)] == [True] * 5
    assert goals[4]["holds"] is None  # no N=2000
    assert all(goals[n]["holds"] is None for n in (7, 8, 9, 10))


def test_a_run_without_one_state_says_so_for_the_older_goals() -> None:
    results = _full_run()
    for size in results["sizes"].values():
        del size["layouts"]["one"]
    goals = _by_id(results)
    assert all(goals[n]["holds"] is None for n in (1, 2, 3, 5, 6))
    assert goals[4]["holds"] is True  # create is judged on shards too
    assert goals[7]["holds"] is True and goals[10]["holds"] is True
    assert goals[8]["holds"] is None  # drift compares with one state


def test_cells_label_each_layout() -> None:
    labels = [label for label, _ in report._cells(copy.deepcopy(_full_run()))]
    assert labels[:4] == ["10, one state", "10, 2 shards", "100, one state", "100, 2 shards"]
    assert labels[-1] == "2000, 32 shards"
