"""Writes files atomically: readers see the old file or the complete new one, never a part."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_output(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """A stream to a temporary file beside `path`, renamed onto `path` when the block ends.

    On any error (a bad record, a full disk, a kill before the rename) `path` keeps its old
    content and no temporary file is left behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(handle, mode, encoding=encoding) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp makes the file private (0600); give it the permissions open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _json_value(value):
    """What json cannot write itself: typed configs (`to_dict`) and NumPy scalars/arrays."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def write_json_atomically(payload, path: str | Path) -> Path:
    with atomic_output(path) as stream:
        json.dump(payload, stream, indent=1, ensure_ascii=False, default=_json_value)
        stream.write("\n")
    return Path(path)


def write_text_atomically(text: str, path: str | Path) -> Path:
    with atomic_output(path) as stream:
        stream.write(text)
    return Path(path)


def save_array_atomically(array, path: str | Path) -> Path:
    """`np.save` through a temporary file."""
    import numpy as np

    with atomic_output(path, "wb") as stream:
        np.save(stream, array)
    return Path(path)


def write_csv_atomically(frame, path: str | Path) -> Path:
    """A pandas DataFrame as CSV (no index), through a temporary file."""
    with atomic_output(path) as stream:
        frame.to_csv(stream, index=False)
    return Path(path)


def save_figure_atomically(figure, path: str | Path) -> Path:
    """A matplotlib figure as PNG, through a temporary file."""
    with atomic_output(path, "wb") as stream:
        figure.savefig(stream, format="png")
    return Path(path)


def save_model_atomically(model, path: str | Path) -> Path:
    """A Keras model as a `.keras` file, saved beside `path` and then renamed onto it."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        model.save(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
