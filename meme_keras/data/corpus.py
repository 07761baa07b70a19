"""Reads and validates the SemEval-2021 Task 6 corpus files into `Meme` records.

Every problem is reported as a `CorpusError` naming the file and the meme id; nothing is
dropped silently (the one documented exception, a training copy of a test meme, is logged).
"""

from __future__ import annotations

import json
import logging
import os
import re
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


class _Object(dict):
    """A JSON object that remembers the keys it had twice (json keeps only the last value)."""

    duplicate_keys: tuple[str, ...] = ()


def _object_hook(pairs: list[tuple[str, object]]) -> _Object:
    record = _Object(pairs)
    if len(record) != len(pairs):
        keys = [key for key, _ in pairs]
        record.duplicate_keys = tuple(sorted({key for key in keys if keys.count(key) > 1}))
    return record


def _parse_json_array(path: Path) -> list:
    """The top-level JSON array of `path`; every file-level problem raises CorpusError.

    Bytes that are not UTF-8 are kept as lone surrogates (`surrogateescape`) so that the record
    holding them can be named later (`_check_unicode`); a UTF-8 byte order mark is accepted.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CorpusError(path, None, "file not found") from None
    except IsADirectoryError:
        raise CorpusError(path, None, "is a folder, not a file") from None
    if not raw.strip():
        raise CorpusError(path, None, "file is empty")
    text = raw.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    try:
        records = json.loads(text, object_pairs_hook=_object_hook)
    except json.JSONDecodeError as error:
        _raise_not_utf8(path, raw)
        ids = _ID_PATTERN.findall(text, 0, error.pos)
        after = f" (in or after meme {_unescape(ids[-1])!r})" if ids else ""
        raise CorpusError(
            path,
            None,
            f"malformed or truncated JSON at line {error.lineno} column {error.colno}"
            f"{after}: {error.msg}",
        ) from None
    except RecursionError:
        raise CorpusError(path, None, "malformed JSON: nested too deeply") from None
    if not isinstance(records, list):
        raise CorpusError(path, None, "expected a JSON array of memes")
    return records


_ID_PATTERN = re.compile(r'"id"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _unescape(json_string: str) -> str:
    try:
        return json.loads(f'"{json_string}"')
    except json.JSONDecodeError:
        return json_string


def _raise_not_utf8(path: Path, raw: bytes) -> None:
    """For a file that is not JSON: blames bytes that are not UTF-8, if any.

    A file cut inside a multi-byte character is left to be reported as truncated JSON.
    """
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        if bad.end == len(raw) and bad.reason == "unexpected end of data":
            return
        line = raw.count(b"\n", 0, bad.start) + 1
        raise CorpusError(
            path, None, f"not UTF-8 (byte 0x{raw[bad.start]:02x} at line {line})"
        ) from None


def read_json_records(path: Path) -> list[dict]:
    """Reads a file holding one JSON array of objects, or raises CorpusError."""
    records = _parse_json_array(path)
    for position, record in enumerate(records):
        if not isinstance(record, dict):
            raise CorpusError(path, f"#{position}", "record is not a JSON object")
    return records


_TYPE_NAMES = {str: "a string", int: "an integer", list: "a list"}


def _field(record: dict, name: str, kind: type, path: Path, meme_id: str | None, where=""):
    if name not in record:
        raise CorpusError(path, meme_id, f"{where}record has no {name!r}")
    value = record[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CorpusError(
            path, meme_id, f"{where}{name!r} must be {_TYPE_NAMES[kind]}, not {value!r:.40}"
        )
    if kind is str:
        _check_unicode(value, name, path, meme_id, where)
    return value


def _check_unicode(value: str, name: str, path: Path, meme_id: str | None, where="") -> None:
    """Lone surrogates: bytes that were not UTF-8, or `\\udXXX` escapes; neither is text."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise CorpusError(
            path,
            meme_id,
            f"{where}{name!r} is not valid UTF-8 text (bad character at position {error.start})",
        ) from None


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
        if not isinstance(label, str):
            raise CorpusError(path, meme_id, f"'labels' must be technique names, not {label!r:.40}")
        if label not in techniques:
            raise CorpusError(path, meme_id, f"unknown technique {label!r}")
    if len(set(labels)) != len(labels):
        twice = sorted({label for label in labels if labels.count(label) > 1})
        raise CorpusError(path, meme_id, f"technique listed twice: {twice[0]!r}")
    return tuple(labels)


def _read_spans(
    record: dict, path: Path, meme_id: str, text: str, techniques: Sequence[str]
) -> tuple[Span, ...]:
    spans = []
    for number, entry in enumerate(_field(record, "labels", list, path, meme_id), 1):
        where = f"span {number}: "
        if not isinstance(entry, dict):
            raise CorpusError(path, meme_id, f"{where}not a JSON object")
        if getattr(entry, "duplicate_keys", ()):
            raise CorpusError(path, meme_id, f"{where}key {entry.duplicate_keys[0]!r} twice")
        start = _field(entry, "start", int, path, meme_id, where)
        end = _field(entry, "end", int, path, meme_id, where)
        technique = _field(entry, "technique", str, path, meme_id, where)
        if technique not in techniques:
            raise CorpusError(path, meme_id, f"{where}unknown technique {technique!r}")
        problem = None
        if start < 0:
            problem = "starts before the text"
        elif end > len(text):
            problem = f"ends beyond the text (length {len(text)})"
        elif end < start:
            problem = "is inverted (end before start)"
        elif end == start:
            problem = "is empty"
        if problem:
            raise CorpusError(path, meme_id, f"{where}[{start}, {end}) {problem}")
        spans.append(Span(start, end, technique))
    return tuple(sorted(spans))


def _read_record(
    record: object,
    position: int,
    path: Path,
    subtask: int,
    techniques: Sequence[str],
    image_dir: Path | None,
    check_images: bool,
) -> Meme:
    if not isinstance(record, dict):
        raise CorpusError(path, f"#{position}", "record is not a JSON object")
    meme_id = _read_id(record, position, path)
    if getattr(record, "duplicate_keys", ()):
        raise CorpusError(path, meme_id, f"key {record.duplicate_keys[0]!r} twice in the record")
    text = _read_text(record, path, meme_id)
    if subtask == 2:
        spans = _read_spans(record, path, meme_id, text, techniques)
        return Meme(meme_id, text, labels=(), spans=spans)
    labels = _read_labels(record, path, meme_id, techniques)
    image_path = None
    if subtask == 3:
        image_name = _field(record, "image", str, path, meme_id)
        if not image_name.strip():
            raise CorpusError(path, meme_id, "'image' is empty")
        image_path = (image_dir or path.parent) / image_name
        if check_images:
            check_image(image_path, path, meme_id)
    return Meme(meme_id, text, image_path=image_path, labels=labels)


def partition_subtask_file(
    path: Path,
    subtask: int,
    techniques: Sequence[str],
    image_dir: Path | None = None,
    check_images: bool = True,
    skip_invalid: bool = True,
) -> tuple[list[Meme], list[tuple[Path, str]]]:
    """Reads one subtask file into (valid memes, [(file, reason)] of the skipped records).

    File-level problems (missing, not JSON, not an array, no records) always raise; with
    `skip_invalid=False` so does the first bad record. A repeated id skips the later record.
    """
    path = Path(path)
    if subtask not in (1, 2, 3):
        raise ValueError(f"unknown subtask {subtask!r}; choose 1, 2 or 3")

    def read(record, position):
        return _read_record(record, position, path, subtask, techniques, image_dir, check_images)

    memes, errors = partition_records(path, read, skip_invalid)
    return memes, [(error.path, error.reason) for error in errors]


def partition_records(
    path: Path, read_record, skip_invalid: bool = True
) -> tuple[list[Meme], list[CorpusError]]:
    """(the memes `read_record(record, position)` makes of the file's JSON array, the error of
    each skipped record). File-level problems always raise; with `skip_invalid=False` so does
    the first bad record. A repeated id skips the later record."""
    records = _parse_json_array(path)
    if not records:
        raise CorpusError(path, None, "the file holds no memes")
    memes, skipped, seen = [], [], set()
    for position, record in enumerate(records):
        try:
            meme = read_record(record, position)
            if meme.id in seen:
                raise CorpusError(path, meme.id, "duplicate id")
        except CorpusError as error:
            if not skip_invalid:
                raise
            skipped.append(error)
            continue
        seen.add(meme.id)
        memes.append(meme)
    return memes, skipped


def read_subtask_file(
    path: Path,
    subtask: int,
    techniques: Sequence[str],
    image_dir: Path | None = None,
    check_images: bool = True,
) -> list[Meme]:
    """Reads one subtask file; subtask 3 records also need an image under `image_dir`.

    The first problem raises CorpusError (`<file>: meme '<id>': <problem>`).
    """
    memes, _ = partition_subtask_file(
        path, subtask, techniques, image_dir, check_images, skip_invalid=False
    )
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
