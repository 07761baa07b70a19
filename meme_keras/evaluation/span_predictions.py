"""Subtask-2 predictions in the task's JSON format, written atomically and without duplicates.

The format: `[{"id", "text", "labels": [{"start", "end", "technique", "text_fragment"}]}]`,
one object per meme, spans sorted. The task's scorer credits every copy of a repeated span, so
spans are deduplicated on writing and duplicates are refused on reading.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from meme_keras.atomic_files import atomic_output
from meme_keras.data.meme import Meme, Span
from meme_keras.evaluation.span_f1 import deduplicate_spans


def prediction_records(
    memes: Sequence[Meme], spans_by_id: Mapping[str, Sequence[Span]]
) -> list[dict]:
    """One task-format record per meme, in `memes` order (memes without spans get `[]`)."""
    unknown = sorted(set(spans_by_id) - {meme.id for meme in memes})
    if unknown:
        raise ValueError(f"spans for memes that are not in the list: {unknown[:10]}")
    records = []
    for meme in memes:
        labels = []
        for span in deduplicate_spans(spans_by_id.get(meme.id, ())):
            if not 0 <= span.start < span.end <= len(meme.text):
                raise ValueError(f"meme {meme.id}: span {span} is outside its text")
            labels.append(
                {
                    "start": span.start,
                    "end": span.end,
                    "technique": span.technique,
                    "text_fragment": span.fragment(meme.text),
                }
            )
        records.append({"id": meme.id, "text": meme.text, "labels": labels})
    return records


def write_span_predictions(
    path: str | Path, memes: Sequence[Meme], spans_by_id: Mapping[str, Sequence[Span]]
) -> Path:
    """Writes the predictions atomically: a temporary file beside `path`, then `os.replace`.

    A failure at any point (a bad span, a full disk) leaves any earlier file at `path` as it was
    and no temporary file behind.
    """
    path = Path(path)
    records = prediction_records(memes, spans_by_id)
    with atomic_output(path) as stream:
        json.dump(records, stream, ensure_ascii=False, indent=1)
        stream.write("\n")
    return path


def read_span_predictions(path: str | Path) -> dict[str, list[Span]]:
    """Spans by meme id from a task-format file; raises `ValueError` on duplicates or bad spans."""
    path = Path(path)
    records = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON array of memes")
    spans_by_id: dict[str, list[Span]] = {}
    for record in records:
        meme_id = record["id"]
        if meme_id in spans_by_id:
            raise ValueError(f"{path}: meme {meme_id} appears twice")
        spans = [
            Span(int(label["start"]), int(label["end"]), label["technique"])
            for label in record["labels"]
        ]
        if len(set(spans)) != len(spans):
            raise ValueError(f"{path}: meme {meme_id} has duplicate spans")
        for span in spans:
            if not 0 <= span.start < span.end <= len(record["text"]):
                raise ValueError(f"{path}: meme {meme_id}: span {span} is outside its text")
        spans_by_id[meme_id] = sorted(spans)
    return spans_by_id
