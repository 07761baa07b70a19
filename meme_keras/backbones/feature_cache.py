"""An on-disk cache of frozen-backbone features, keyed by everything they are computed from.

Files are written atomically (temporary file + rename) and checked on read (keys, shapes,
dtypes, a SHA-256 of each array); a damaged file is reported, deleted and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from meme_keras.atomic_files import atomic_output

log = logging.getLogger(__name__)
CACHE_VARIABLE = "MEME_KERAS_CACHE"


def default_cache_dir() -> Path:
    """`$MEME_KERAS_CACHE`, else `.cache/features` in the repository."""
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    return Path(__file__).resolve().parents[2] / ".cache" / "features"


def fingerprint(*parts) -> str:
    """A SHA-256 over strings, bytes and numpy arrays, in order."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(str((part.dtype.str, part.shape)).encode())
            # The array's own buffer, not a `tobytes()` copy: same bytes, same digest, and a
            # warm cache hit on MiniLM features (187 MB) no longer copies them first.
            digest.update(np.ascontiguousarray(part).reshape(-1).view(np.uint8))
        elif isinstance(part, bytes):
            digest.update(part)
        else:
            digest.update(str(part).encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def file_fingerprint(paths) -> str:
    digest = hashlib.sha256()
    for path in paths:
        if str(path) == "":  # a meme without an image (image_pipeline.NO_IMAGE)
            digest.update(b"\0no image\0")
            continue
        digest.update(str(Path(path).name).encode())
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def weights_fingerprint(model) -> str:
    return fingerprint(*[np.asarray(weight) for weight in model.weights])


def _array_checksums(arrays: dict[str, np.ndarray]) -> dict[str, str]:
    return {name: fingerprint(array) for name, array in sorted(arrays.items())}


def save_arrays(path: Path, arrays: dict[str, np.ndarray], key: str) -> None:
    """Writes arrays and their checksums atomically: readers see the old file or the new one."""
    manifest = json.dumps({"key": key, "checksums": _array_checksums(arrays)})
    with atomic_output(path, "wb") as stream:
        np.savez(stream, __manifest__=np.array(manifest), **arrays)


def load_arrays(path: Path, key: str) -> dict[str, np.ndarray] | None:
    """The arrays in `path` if it is complete, matches `key` and every checksum; else None."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            manifest = json.loads(str(stored["__manifest__"]))
            arrays = {name: stored[name] for name in stored.files if name != "__manifest__"}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as error:
        log.warning("feature cache %s is unreadable (%s): recomputing", path, error)
        path.unlink(missing_ok=True)
        return None
    if manifest.get("key") != key:
        return None
    if manifest.get("checksums") != _array_checksums(arrays):
        log.warning("feature cache %s fails its checksum: recomputing", path)
        path.unlink(missing_ok=True)
        return None
    return arrays


def cached(
    name: str, key: str, compute: Callable[[], dict[str, np.ndarray]], cache_dir: Path | None
) -> dict[str, np.ndarray]:
    """Returns the cached arrays for (`name`, `key`), computing and storing them if needed.

    `cache_dir=None` disables caching.
    """
    if cache_dir is None:
        return compute()
    path = Path(cache_dir) / f"{name}-{key[:16]}.npz"
    arrays = load_arrays(path, key)
    if arrays is None:
        arrays = compute()
        save_arrays(path, arrays, key)
    return arrays
