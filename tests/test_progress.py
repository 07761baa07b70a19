"""Progress bars and the end-of-training score table."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from meme_keras import progress
from meme_keras.evaluation.score_summary import score_rows, score_table
from meme_keras.progress import tracked


def test_without_a_terminal_items_pass_through_and_nothing_is_drawn(monkeypatch, capsys):
    monkeypatch.setenv("MEME_KERAS_PROGRESS", "0")
    assert list(tracked(iter(range(5)), "folds", total=5)) == list(range(5))
    assert capsys.readouterr().err == ""


def test_nested_bars_count_every_item_and_close_the_display(monkeypatch):
    monkeypatch.setenv("MEME_KERAS_PROGRESS", "1")
    screen = io.StringIO()
    monkeypatch.setattr(progress, "CONSOLE", Console(file=screen, width=100))
    seen = []
    for fold in tracked(range(3), "folds"):
        for stage in tracked(["frozen", "text"], "stages"):
            seen.append((fold, stage))
    assert seen == [(f, s) for f in range(3) for s in ("frozen", "text")]
    assert not progress._live  # the display stopped with the outer bar
    drawn = screen.getvalue()
    assert "folds" in drawn and "3/3" in drawn


def test_a_bar_closes_when_the_loop_fails(monkeypatch):
    monkeypatch.setenv("MEME_KERAS_PROGRESS", "1")
    monkeypatch.setattr(progress, "CONSOLE", Console(file=io.StringIO()))
    with pytest.raises(RuntimeError):
        for _ in tracked(range(3), "folds"):
            raise RuntimeError("a fold failed")
    assert not progress._live and progress._open_bars == 0


def test_the_score_table_has_a_row_per_scored_part():
    metrics = {
        "model": "fusion",
        "out_of_fold": {"micro_f1": 0.5, "macro_f1": 0.2},
        "test": {"micro_f1": 0.53, "macro_f1": 0.18, "micro_precision": 0.5},
        "seconds": 12.0,
    }
    assert [part for part, _ in score_rows(metrics)] == ["out_of_fold", "test"]
    spans = {"tagger": {"threshold": 0.3, "test": {"precision": 0.4, "recall": 0.3, "f1": 0.34}}}
    assert score_rows(spans) == [("test", {"f1": 0.34, "precision": 0.4, "recall": 0.3})]
    screen = io.StringIO()
    Console(file=screen, width=120).print(score_table(metrics, "main"))
    assert "0.530" in screen.getvalue() and "out-of-fold" in screen.getvalue()
