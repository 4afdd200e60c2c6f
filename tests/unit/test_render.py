"""Progress output: a spinner on a terminal that steps aside for a question, plain lines elsewhere."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from orchestrator.cli import render


def test_the_spinner_stops_while_a_question_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Console(file=io.StringIO(), force_terminal=True)
    monkeypatch.setattr(render, "err", lambda: terminal)
    with render.Progress() as progress:
        assert progress.status is not None
        live = progress.status._live
        progress("terraform plan (dev)")
        assert live.is_started
        with progress.paused():
            assert not live.is_started  # nothing redraws over the prompt
        assert live.is_started
    assert not live.is_started


def test_without_a_terminal_each_line_goes_to_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = Console(file=io.StringIO(), force_terminal=False)
    monkeypatch.setattr(render, "err", lambda: plain)
    with render.Progress() as progress, progress.paused():
        progress("terraform init (dev)")
    assert capsys.readouterr().err == "ecrctl: terraform init (dev)\n"
