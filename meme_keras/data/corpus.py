"""Reads and validates the SemEval-2021 Task 6 corpus files into `Meme` records.

Every problem is reported as a `CorpusError` naming the file and the meme id; nothing is
dropped silently (the one documented exception, a training copy of a test meme, is logged).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from meme_keras.data.errors import CorpusError
from meme_keras.data.images import check_image
from meme_keras.data.meme import Meme, Span
from meme_keras.data.techniques import read_techniques

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
SPLIT_FILES = {
    (1, "train"): "subtask1/training_set_task1.txt",
    (1, "dev"): "subtask1/dev_set_task1.txt",
    (1, "test"): "subtask1/test_set_task1.txt",
    (2, "train"): "subtask2/training_set_task2.txt",
    (2, "dev"): "subtask2/dev_set_task2.txt",
    (2, "test"): "subtask2/test_set_task2.txt",
    (3, "train"): "subtask3/training_set_task3.txt",
    (3, "dev"): "subtask3/dev_set_task3_labeled.txt",
    (3, "test"): "subtask3/test_set_task3.txt",
}
DATA_DIR_VARIABLE = "MEME_KERAS_DATA"


def default_data_dir() -> Path:
    """`$MEME_KERAS_DATA`, else `../shared/data/semeval2021_task6` beside the repository."""
    if os.environ.get(DATA_DIR_VARIABLE):
        return Path(os.environ[DATA_DIR_VARIABLE])
    repository = Path(__file__).resolve().parents[2]
    return repository.parent / "shared" / "data" / "semeval2021_task6"


def read_json_records(path: Path) -> list[dict]:
    """Reads a file holding one JSON array of objects, or raises CorpusError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CorpusError(path, None, "file not found") from None
    try:
        records = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise CorpusError(path, None, f"not UTF-8 (byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise CorpusError(
            path, None, f"malformed JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from None
    if not isinstance(records, list):
        raise CorpusError(path, None, "expected a JSON array of memes")
    for position, record in enumerate(records):
        if not isinstance(record, dict):
            raise CorpusError(path, f"#{position}", "record is not a JSON object")
    return records


def _field(record: dict, name: str, kind: type, path: Path, meme_id: str | None):
    if name not in record:
        raise CorpusError(path, meme_id, f"record has no {name!r}")
    value = record[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CorpusError(path, meme_id, f"{name!r} must be a {kind.__name__}")
    return value


def _read_id(record: dict, position: int, path: Path) -> str:
    meme_id = _field(record, "id", str, path, f"#{position}")
    if not meme_id.strip():
        raise CorpusError(path, f"#{position}", "'id' is empty")
    return meme_id


def _read_text(record: dict, path: Path, meme_id: str) -> str:
    text = _field(record, "text", str, path, meme_id)
    if not text.strip():
        raise CorpusError(path, meme_id, "'text' is empty")
    return text


def _read_labels(
    record: dict, path: Path, meme_id: str, techniques: Sequence[str]
) -> tuple[str, ...]:
    labels = _field(record, "labels", list, path, meme_id)
    for label in labels:
        if label not in techniques:
            raise CorpusError(path, meme_id, f"unknown technique {label!r}")
    if len(set(labels)) != len(labels):
        raise CorpusError(path, meme_id, "a technique is listed twice")
    return tuple(labels)


def _read_spans(
    record: dict, path: Path, meme_id: str, text: str, techniques: Sequence[str]
) -> tuple[Span, ...]:
    spans = []
    for entry in _field(record, "labels", list, path, meme_id):
        if not isinstance(entry, dict):
            raise CorpusError(path, meme_id, "a span is not a JSON object")
        start = _field(entry, "start", int, path, meme_id)
        end = _field(entry, "end", int, path, meme_id)
        technique = _field(entry, "technique", str, path, meme_id)
        if technique not in techniques:
            raise CorpusError(path, meme_id, f"unknown technique {technique!r}")
        if not 0 <= start < end <= len(text):
            raise CorpusError(
                path,
                meme_id,
                f"span [{start}, {end}) is empty, inverted or beyond the text (length {len(text)})",
            )
        spans.append(Span(start, end, technique))
    return tuple(sorted(spans))


def read_subtask_file(
    path: Path,
    subtask: int,
    techniques: Sequence[str],
    image_dir: Path | None = None,
    check_images: bool = True,
) -> list[Meme]:
    """Reads one subtask file; subtask 3 records also need an image under `image_dir`."""
    memes, seen = [], set()
    for position, record in enumerate(read_json_records(path)):
        meme_id = _read_id(record, position, path)
        if meme_id in seen:
            raise CorpusError(path, meme_id, "duplicate id")
        seen.add(meme_id)
        text = _read_text(record, path, meme_id)
        if subtask == 2:
            spans = _read_spans(record, path, meme_id, text, techniques)
            memes.append(Meme(meme_id, text, labels=(), spans=spans))
            continue
        labels = _read_labels(record, path, meme_id, techniques)
        image_path = None
        if subtask == 3:
            image_name = _field(record, "image", str, path, meme_id)
            image_path = (image_dir or path.parent) / image_name
            if check_images:
                check_image(image_path, path, meme_id)
        memes.append(Meme(meme_id, text, image_path=image_path, labels=labels))
    return memes


def _test_ids(data_dir: Path, subtask: int) -> set[str]:
    records = read_json_records(data_dir / SPLIT_FILES[(subtask, "test")])
    return {record.get("id") for record in records}


def load_split(
    split: str,
    subtask: int = 3,
    data_dir: str | Path | None = None,
    check_images: bool = True,
) -> list[Meme]:
    """Loads one split of one subtask (3: text+image+labels; 2: text+spans; 1: text+labels).

    Training records whose id is also a test id are left out (DATA.md: `474_batch_2` is in the
    subtask-1/2 training files with empty gold and in the test files with labels).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    if subtask not in (1, 2, 3):
        raise ValueError(f"unknown subtask {subtask!r}; choose 1, 2 or 3")
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    if not data_dir.is_dir():
        raise CorpusError(
            data_dir, None, f"corpus folder not found (set --data-dir or ${DATA_DIR_VARIABLE})"
        )
    techniques = read_techniques(data_dir, "multimodal" if subtask == 3 else "text")
    path = data_dir / SPLIT_FILES[(subtask, split)]
    memes = read_subtask_file(
        path, subtask, techniques, image_dir=data_dir / "images" / split, check_images=check_images
    )
    if split == "train":
        leaked = {meme.id for meme in memes} & _test_ids(data_dir, subtask)
        if leaked:
            log.warning(
                "%s: leaving out training memes that are test memes: %s", path, sorted(leaked)
            )
            memes = [meme for meme in memes if meme.id not in leaked]
    return memes
