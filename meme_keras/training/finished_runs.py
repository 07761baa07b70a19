"""Reusing a finished run instead of training it again, when nothing it depends on changed.

A run's key covers everything its results are computed from: the config, the data files'
bytes, the package versions, and the source of meme_keras (plus any extra files, such as the
experiment script that drives it). The key is written last, after every other file of the run,
so a run that was killed, or that an older code or config produced, is never taken as finished.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable
from pathlib import Path

from meme_keras.atomic_files import write_json_atomically
from meme_keras.config.typed_config import plain
from meme_keras.training.provenance import file_checksums, package_versions

KEY_FILE = "run_key.json"
# What a finished run folder must hold to be reused (besides metrics.json and the key).
RUN_FILES = ("model.keras", "config.yaml", "thresholds.json", "predictions_test.json")
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def source_fingerprint(extra_files: Iterable[str | Path] = ()) -> str:
    """A SHA-256 of every Python file of meme_keras, and of `extra_files`, names included."""
    digest = hashlib.sha256()
    named = [(str(path.relative_to(PACKAGE_ROOT)), path) for path in PACKAGE_ROOT.rglob("*.py")]
    named = sorted(named) + [(Path(path).name, Path(path)) for path in extra_files]
    for name, path in named:
        for part in (name.encode(), path.read_bytes()):
            digest.update(part)
            digest.update(b"\x00")
    return digest.hexdigest()


def run_key(config: dict, data_files: Iterable[str | Path], extra_files=()) -> str:
    """The key of a run of `config` on `data_files` with this code and these packages."""
    digest = hashlib.sha256()
    digest.update(json.dumps(plain(config), sort_keys=True, default=str).encode())
    for checksum in file_checksums(data_files).values():
        digest.update(checksum.encode())
    digest.update(json.dumps(package_versions(), sort_keys=True).encode())
    digest.update(source_fingerprint(extra_files).encode())
    return digest.hexdigest()


def finished_metrics(
    output_dir: str | Path, key: str, required: Iterable[str] = RUN_FILES
) -> dict | None:
    """The run's `metrics.json` if the run in `output_dir` finished under `key` and all of
    `required` is there; else None (train it)."""
    output_dir = Path(output_dir)
    try:
        stored = json.loads((output_dir / KEY_FILE).read_text())
        metrics = json.loads((output_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    if stored.get("key") != key:
        return None
    if not all((output_dir / name).exists() for name in required):
        return None
    # A file changed after training (a decision rule edited by hand) makes it stale.
    if stored.get("files") != _result_checksums(output_dir):
        return None
    return metrics


def mark_finished(output_dir: str | Path, key: str) -> None:
    """Records that the run in `output_dir` finished under `key`, with checksums of the files
    it produced (call it last)."""
    files = _result_checksums(Path(output_dir))
    write_json_atomically({"key": key, "files": files}, Path(output_dir) / KEY_FILE)


def _result_checksums(output_dir: Path) -> dict[str, str]:
    paths = [output_dir / name for name in (*RUN_FILES, "metrics.json")]
    checksums = file_checksums([path for path in paths if path.exists()])
    return {Path(path).name: digest for path, digest in checksums.items()}


def forget_finished(output_dir: str | Path, stale: Iterable[str] = ("logs",)) -> None:
    """Before a run starts writing: a half-rewritten folder must not pass as finished.

    When a finished run is being replaced, its `stale` entries (TensorBoard logs) go too, or
    the new run's event files would mix with the old ones. A killed run keeps them: its logs
    folder holds the backups it resumes from.
    """
    output_dir = Path(output_dir)
    key_file = output_dir / KEY_FILE
    replacing = key_file.exists()
    key_file.unlink(missing_ok=True)  # first: a kill below leaves no finished-looking folder
    if replacing:
        for name in stale:
            shutil.rmtree(output_dir / name, ignore_errors=True)
