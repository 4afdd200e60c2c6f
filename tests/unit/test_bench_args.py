"""bench/run.py's command line: --only measures a subset and never overwrites the published report."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench import run


def test_only_measures_the_named_figures_and_writes_no_default_file() -> None:
    args = run.parse_args(["--sizes", "1000", "--only", "create, catalog_sync"])
    assert args.only_set == {"create", "catalog_sync"}
    assert args.json is None  # bench/results.json is left as it is


def test_without_only_every_figure_goes_to_the_published_files() -> None:
    args = run.parse_args([])
    assert args.only_set is None
    assert args.json == run.REPO / "bench" / "results.json"
    assert args.markdown == run.REPO / "docs" / "BENCHMARKS.md"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--only", "create,bogus"], "--only takes figures of plans, create, catalog_sync"),
        (["--only", ","], "--only takes figures of"),
        (["--only", "create", "--markdown", "x.md"], "--only writes no report"),
    ],
)
def test_a_bad_only_is_one_usage_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        run.parse_args(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_measure_size_runs_only_what_it_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    for name in run.FIGURES:
        monkeypatch.setitem(run.FIGURES, name, lambda bench, ws, name=name: ran.append(name) or {})
    monkeypatch.setattr(run, "setup_size", lambda bench, n: (_FakeWs(), {"n": n}))
    monkeypatch.setattr(run, "_available", lambda *args: None)
    monkeypatch.setattr(run.create_op, "create", lambda *args: None)
    monkeypatch.setattr(run, "Session", lambda ws: None)

    bench: Any = SimpleNamespace(availability={}, probe_risk="high")
    figures = run.measure_size(
        bench, 10, profile=False, only={"create", "profile"}, layouts=["one"]
    )
    assert ran == ["create"] and set(figures) == {"setup", "layouts"}
    assert set(figures["layouts"]) == {"one"} and set(figures["layouts"]["one"]) == {
        "shards",
        "create",
    }
    ran.clear()
    run.measure_size(bench, 10, profile=True, layouts=["one"])
    assert ran == list(run.FIGURES)


def test_the_sharded_layout_is_migrated_after_one_state_and_measured_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events: list[str] = []
    for name in run.FIGURES:
        monkeypatch.setitem(
            run.FIGURES, name, lambda bench, ws, name=name: events.append(f"{bench.layout}:{name}")
        )
    monkeypatch.setattr(run, "setup_size", lambda bench, n: (_FakeWs(), {"n": n}))
    monkeypatch.setattr(run, "_available", lambda *args: None)
    monkeypatch.setattr(run.create_op, "create", lambda *args: events.append("probe"))
    monkeypatch.setattr(run, "Session", lambda ws: None)
    monkeypatch.setattr(run, "put_back", lambda *args: events.append("put back") or 1.0)
    monkeypatch.setattr(
        run, "measure_migration", lambda bench, ws, s: events.append(f"migrate {s}") or {"to": s}
    )

    bench: Any = SimpleNamespace(availability={}, probe_risk="high", shard_size=64)
    figures = run.measure_size(
        bench, 1000, profile=False, only={"drift"}, layouts=["sharded", "one"]
    )
    assert events == ["probe", "one:drift", "put back", "migrate 16", "probe", "sharded:drift"]
    assert figures["layouts"]["sharded"]["shards"] == 16
    assert figures["layouts"]["sharded"]["migration"] == {"to": 16}


@pytest.mark.parametrize(("n", "shards"), [(10, 2), (64, 2), (100, 2), (1000, 16), (2000, 32)])
def test_shard_count_is_about_64_a_shard_and_at_least_two(n: int, shards: int) -> None:
    assert run.shard_count(n) == shards


def test_layouts_are_measured_in_their_fixed_order() -> None:
    assert run.parse_args([]).layout_list == ["one", "sharded"]
    assert run.parse_args(["--layouts", "sharded,one"]).layout_list == ["one", "sharded"]
    assert run.parse_args(["--layouts", "sharded"]).layout_list == ["sharded"]


def test_a_bad_layout_is_one_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run.parse_args(["--layouts", "one,split"])
    assert exited.value.code == 2
    assert "--layouts takes one, sharded; not ['split']" in capsys.readouterr().err


def test_ten_spread_names_fall_in_ten_shards_or_evenly_in_fewer() -> None:
    from orchestrator.rules.shards import shard_of

    names = run.spread_names(16)
    assert len(names) == 10 and len({shard_of(n, 16) for n in names}) == 10
    names = run.spread_names(2)
    assert sorted(shard_of(n, 2) for n in names) == [0] * 5 + [1] * 5
    assert run.spread_names(16) == run.spread_names(16)  # a function of S alone


class _FakeWs:
    """A tree whose two files measure_size only reads (to put them back between layouts)."""

    catalog_file = Path(__file__)

    def tfvars_file(self, env: str) -> Path:
        return Path(__file__)


def test_one_state_max_leaves_larger_sizes_sharded_only() -> None:
    args = run.parse_args(["--sizes", "10,1000,2000", "--one-state-max", "1000"])
    assert [run.layouts_at(args, n) for n in args.size_list] == [
        ["one", "sharded"],
        ["one", "sharded"],
        ["sharded"],
    ]
    assert run.layouts_at(run.parse_args(["--layouts", "one"]), 2000) == ["one"]
