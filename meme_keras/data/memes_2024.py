"""Reads the SemEval-2024 Task 4 English memes: extra training text with the 2021 label names.

Text only (the release has no images): subtask "2a" carries the 22 multimodal techniques of
2021 subtask 3, subtask "1" the 20 text techniques of 2021 subtask 1. The organisers released
newlines as the two characters backslash + n; they are read as real newlines. Every problem is
a `CorpusError` naming the file and the meme id, as for the 2021 corpus.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from meme_keras.data.corpus import _field, _read_id, _read_labels, partition_records
from meme_keras.data.errors import CorpusError
from meme_keras.data.meme import Meme
from meme_keras.data.techniques import read_techniques

log = logging.getLogger(__name__)

DATA_DIR_VARIABLE = "MEME_KERAS_DATA_2024"
FILES = {"1": "train_subtask1.json", "2a": "train_subtask2a.json"}
# The 2021 technique list each 2024 subtask uses.
TECHNIQUE_KINDS = {"1": "text", "2a": "multimodal"}


def default_2024_dir() -> Path:
    """`$MEME_KERAS_DATA_2024`, else `../shared/data/semeval2024_task4_en` beside the repo."""
    if os.environ.get(DATA_DIR_VARIABLE):
        return Path(os.environ[DATA_DIR_VARIABLE])
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "semeval2024_task4_en"


def released_text(text: str) -> str:
    """The text with the release's literal backslash-n pairs turned into newlines."""
    return text.replace("\\n", "\n")


def _read_meme(record, position: int, path: Path, techniques: Sequence[str]) -> Meme:
    if not isinstance(record, dict):
        raise CorpusError(path, f"#{position}", "record is not a JSON object")
    meme_id = _read_id(record, position, path)
    if getattr(record, "duplicate_keys", ()):
        raise CorpusError(path, meme_id, f"key {record.duplicate_keys[0]!r} twice")
    text = released_text(_field(record, "text", str, path, meme_id))
    if not text.strip():
        raise CorpusError(path, meme_id, "'text' is empty")
    return Meme(meme_id, text, labels=_read_labels(record, path, meme_id, techniques))


def partition_2024_file(
    path: str | Path, techniques: Sequence[str], skip_invalid: bool = True
) -> tuple[list[Meme], list[CorpusError]]:
    """(the valid memes of one 2024 file, the error of each skipped record). File-level
    problems always raise; with `skip_invalid=False` so does the first bad record. A repeated
    id skips the later record."""
    path = Path(path)
    return partition_records(
        path, lambda record, position: _read_meme(record, position, path, techniques), skip_invalid
    )


def read_2024_file(path: str | Path, techniques: Sequence[str]) -> list[Meme]:
    """Every meme of one 2024 file (text and labels, no image); the first problem raises."""
    return partition_2024_file(path, techniques, skip_invalid=False)[0]


def load_2024_memes(
    subtask: str = "2a",
    data_dir: str | Path | None = None,
    techniques_dir: str | Path | None = None,
    skip_invalid: bool = True,
) -> list[Meme]:
    """The 2024 memes of `subtask` ("2a": 22 techniques, "1": 20), labelled with the 2021
    technique names (read from `techniques_dir`, default the 2021 corpus folder).

    A bad record (the release's subtask-1 file holds one meme with an empty text) is skipped
    and logged as a warning naming it; `skip_invalid=False` raises instead."""
    if subtask not in FILES:
        raise ValueError(f"unknown 2024 subtask {subtask!r}; choose one of {sorted(FILES)}")
    data_dir = Path(data_dir) if data_dir else default_2024_dir()
    if not data_dir.is_dir():
        raise CorpusError(data_dir, None, f"2024 meme folder not found (set ${DATA_DIR_VARIABLE})")
    if techniques_dir is None:
        from meme_keras.data.corpus import default_data_dir

        techniques_dir = default_data_dir()
    techniques = read_techniques(techniques_dir, TECHNIQUE_KINDS[subtask])
    memes, skipped = partition_2024_file(data_dir / FILES[subtask], techniques, skip_invalid)
    for error in skipped:
        log.warning("skipped a 2024 meme: %s", error)
    return memes


# The 2024 subtask whose labels are those of each 2021 subtask.
SUBTASK_FOR_2021 = {1: "1", 3: "2a"}


def subtask_2024(subtask_2021: int) -> str:
    """The 2024 subtask labelled like 2021 subtask `subtask_2021` (1 or 3)."""
    if subtask_2021 not in SUBTASK_FOR_2021:
        raise ValueError(f"the 2024 memes have no labels of 2021 subtask {subtask_2021}")
    return SUBTASK_FOR_2021[subtask_2021]


def extra_meme_file(subtask_2021: int, data_dir: str | Path | None = None) -> Path:
    """The 2024 file labelled like 2021 subtask `subtask_2021` (1 or 3)."""
    return Path(data_dir or default_2024_dir()) / FILES[subtask_2024(subtask_2021)]


def load_extra_memes(subtask_2021: int, techniques_dir: str | Path | None = None) -> list[Meme]:
    """The 2024 memes labelled like 2021 subtask `subtask_2021` (1: 20 text techniques,
    3: the 22 multimodal ones)."""
    return load_2024_memes(subtask_2024(subtask_2021), techniques_dir=techniques_dir)
