"""Subtask-2 predictions: the task's JSON format, no duplicate spans, atomic writes."""

import json

import pytest

from meme_keras.data.meme import Meme, Span
from meme_keras.evaluation.span_predictions import read_span_predictions, write_span_predictions
from meme_keras.evaluation.span_references import line_spans, whole_text_spans

LOADED, NAME_CALLING = "Loaded Language", "Name calling/Labeling"
MEMES = [
    Meme("125", "I HATE TRUMP\n\nMOST TERRORIST DO"),
    Meme("7_batch_2", "NOTHING HERE"),
]


def test_writes_the_task_format_sorted_and_without_duplicates(tmp_path):
    spans = {"125": [Span(19, 28, NAME_CALLING), Span(2, 6, LOADED), Span(2, 6, LOADED)]}
    path = write_span_predictions(tmp_path / "predictions.json", MEMES, spans)

    records = json.loads(path.read_text(encoding="utf-8"))
    assert records == [
        {
            "id": "125",
            "text": "I HATE TRUMP\n\nMOST TERRORIST DO",
            "labels": [
                {"start": 2, "end": 6, "technique": LOADED, "text_fragment": "HATE"},
                {"start": 19, "end": 28, "technique": NAME_CALLING, "text_fragment": "TERRORIST"},
            ],
        },
        {"id": "7_batch_2", "text": "NOTHING HERE", "labels": []},
    ]
    assert read_span_predictions(path) == {
        "125": [Span(2, 6, LOADED), Span(19, 28, NAME_CALLING)],
        "7_batch_2": [],
    }
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_reading_refuses_duplicate_spans(tmp_path):
    label = {"start": 2, "end": 6, "technique": LOADED, "text_fragment": "HATE"}
    path = tmp_path / "duplicates.json"
    path.write_text(json.dumps([{"id": "125", "text": MEMES[0].text, "labels": [label, label]}]))
    with pytest.raises(ValueError, match="duplicate"):
        read_span_predictions(path)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_partial_file(tmp_path, monkeypatch):
    path = write_span_predictions(tmp_path / "predictions.json", MEMES, {})
    before = path.read_bytes()

    # A span outside its text fails before anything is written.
    with pytest.raises(ValueError, match="outside"):
        write_span_predictions(path, MEMES, {"125": [Span(0, 99, LOADED)]})

    # A failure in the middle of writing (e.g. a full disk) removes the temporary file.
    def failing_dump(*args, **kwargs):
        args[1].write('[{"id": ')
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", failing_dump)
    with pytest.raises(OSError, match="disk full"):
        write_span_predictions(path, MEMES, {"125": [Span(2, 6, LOADED)]})

    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_spans_for_unknown_memes_are_an_error(tmp_path):
    with pytest.raises(ValueError, match="not in the list"):
        write_span_predictions(tmp_path / "p.json", MEMES, {"999": [Span(0, 1, LOADED)]})


def test_reference_spans_cover_the_whole_text_or_each_line():
    text = "  I HATE TRUMP\n\nMOST TERRORIST DO \n"
    assert whole_text_spans(text, [LOADED]) == [Span(2, 33, LOADED)]
    assert line_spans(text, [LOADED, NAME_CALLING]) == sorted(
        [Span(2, 14, t) for t in (LOADED, NAME_CALLING)]
        + [Span(16, 33, t) for t in (LOADED, NAME_CALLING)]
    )
    assert whole_text_spans("   ", [LOADED]) == []


def test_print_highlighted_shows_text_legend_and_fragments():
    from rich.console import Console

    from meme_keras.evaluation.span_display import highlighted_text, print_highlighted

    text = MEMES[0].text
    spans = [Span(2, 6, LOADED), Span(2, 12, NAME_CALLING)]
    console = Console(record=True, width=80, color_system="truecolor")
    print_highlighted(text, spans, console=console, title="meme 125")
    output = console.export_text()
    assert "I HATE TRUMP" in output and LOADED in output and "'HATE'" in output
    styled, colours = highlighted_text(text, spans)
    assert list(colours) == [LOADED, NAME_CALLING]
    assert any("underline" in str(span.style) for span in styled.spans)  # the overlap
