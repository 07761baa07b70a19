"""Meme-level predictions in the task's JSON format (subtasks 1 and 3), written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from meme_keras.data.meme import Meme


def write_json_atomically(payload, path: str | Path) -> Path:
    """Writes JSON to a temporary file beside `path`, then renames: never a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(payload, stream, indent=1, ensure_ascii=False)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


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
