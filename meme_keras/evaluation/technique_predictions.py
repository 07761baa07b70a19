"""Meme-level predictions in the task's JSON format (subtasks 1 and 3), written atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from meme_keras.atomic_files import write_json_atomically
from meme_keras.data.meme import Meme


def technique_predictions(
    memes: Sequence[Meme], decisions: np.ndarray, techniques: Sequence[str]
) -> list[dict]:
    """`[{"id", "labels": [...]}]` in the task's format, in the memes' order."""
    return [
        {"id": meme.id, "labels": [techniques[k] for k in np.flatnonzero(row)]}
        for meme, row in zip(memes, decisions, strict=True)
    ]


def write_technique_predictions(memes, decisions, techniques, path) -> Path:
    return write_json_atomically(technique_predictions(memes, decisions, techniques), path)
