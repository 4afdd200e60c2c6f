"""bench/run.py's command line: --only measures a subset and never overwrites the published report."""

from __future__ import annotations

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
    monkeypatch.setattr(run, "setup_size", lambda bench, n: (None, {"n": n}))
    monkeypatch.setattr(run, "_available", lambda *args: None)

    bench: Any = SimpleNamespace(availability={})
    figures = run.measure_size(bench, 10, profile=False, only={"create", "profile"})
    assert ran == ["create"] and set(figures) == {"setup", "create"}
    ran.clear()
    run.measure_size(bench, 10, profile=True)
    assert ran == list(run.FIGURES)
