"""Prediction files for a person: each meme's techniques with probabilities, or its text with
spans highlighted (one colour per technique, the same in every meme)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console

from meme_keras.data.meme import Span
from meme_keras.evaluation.span_display import print_highlighted, technique_colours


def is_span_record(record: dict) -> bool:
    labels = record.get("labels") or []
    return any(isinstance(label, dict) for label in labels)


def print_predictions(
    records: Sequence[dict],
    texts: dict[str, str] | None = None,
    techniques: Sequence[str] | None = None,
    top: int = 3,
    console: Console | None = None,
) -> None:
    """Prints each record: spans highlighted in its text, or its decided techniques and the
    `top` most probable ones. `texts` supplies texts a record lacks."""
    console = console or Console()
    texts = texts or {}
    if techniques is None:
        techniques = sorted(
            {
                label["technique"] if isinstance(label, dict) else label
                for record in records
                for label in record.get("labels") or []
            }
        )
    colours = technique_colours(techniques)
    for record in records:
        meme_id = record["id"]
        text = record.get("text", texts.get(meme_id))
        empty_span_record = not record.get("labels") and "probabilities" not in record
        if is_span_record(record) or (empty_span_record and "text" in record):
            spans = [Span(s["start"], s["end"], s["technique"]) for s in record["labels"]]
            print_highlighted(text or "", spans, console, f"meme {meme_id}", colours)
            continue
        console.rule(f"meme {meme_id}")
        if text:
            console.print(text, highlight=False)
        decided = record.get("labels") or []
        console.print("techniques: " + (", ".join(decided) if decided else "(none)"))
        probabilities = record.get("probabilities") or {}
        ranked = sorted(probabilities.items(), key=lambda item: -item[1])[:top]
        for technique, probability in ranked:
            mark = "*" if technique in decided else " "
            console.print(f" {mark} {probability:5.2f}  {technique}", highlight=False)
