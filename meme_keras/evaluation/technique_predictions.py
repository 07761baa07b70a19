"""Meme-level predictions in the task's JSON format (subtasks 1 and 3), written atomically.

Each record is `{"id", "labels": [...]}` as the task's scorer reads it, plus, when known, each
technique's `probabilities` (the scorer ignores extra keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from meme_keras.atomic_files import write_json_atomically
from meme_keras.data.meme import Meme


def technique_predictions(
    memes: Sequence[Meme],
    decisions: np.ndarray,
    techniques: Sequence[str],
    probabilities: np.ndarray | None = None,
) -> list[dict]:
    """`[{"id", "labels": [...], "probabilities": {technique: p}}]` in the memes' order."""
    records = []
    for row, meme in enumerate(memes):
        record = {"id": meme.id, "labels": [techniques[k] for k in np.flatnonzero(decisions[row])]}
        if probabilities is not None:
            record["probabilities"] = {
                technique: round(float(p), 4)
                for technique, p in zip(techniques, probabilities[row], strict=True)
            }
        records.append(record)
    if len(records) != len(decisions):
        raise ValueError(f"{len(decisions)} rows of decisions for {len(records)} memes")
    return records


def write_technique_predictions(memes, decisions, techniques, path, probabilities=None) -> Path:
    records = technique_predictions(memes, decisions, techniques, probabilities)
    return write_json_atomically(records, path)
