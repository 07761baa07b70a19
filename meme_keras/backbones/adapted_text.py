"""Where a text backbone adapted to extra memes lives, and which weights a config's text uses.

An adapted backbone (`text_backbone.adaptation`, trained by
`meme_keras.training.text_adaptation`) is a keras-hub preset folder in the feature cache, named
by a key over everything it is trained from: the base weights' files, the adaptation settings,
the extra corpora's files and the technique lists. A changed input names a new folder, so a
stale one is never read. Every user of a config's text weights (features, fine-tuning, export,
inference) asks `text_preset` for them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path

from meme_keras.backbones.feature_cache import default_cache_dir, fingerprint
from meme_keras.backbones.text_backbones import resolve_text_preset

# Bump when the adaptation's training changes in a way its settings do not show.
ADAPTATION_FORMAT = 1
# The file that marks a finished adapted folder (written last) and records how it was made.
RECORD = "adaptation.json"


class AdaptedBackboneMissingError(FileNotFoundError):
    """A config asks for an adapted text backbone that is not in the cache."""


def _base_files_fingerprint(folder: Path) -> str:
    """A digest of the files a keras-hub preset or Hugging Face folder loads from."""
    if not folder.is_dir():  # a keras-hub preset name: the name is all there is
        return fingerprint("preset name", str(folder))
    wanted = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and path.suffix in {".json", ".txt", ".safetensors", ".h5", ".bin"}
    )
    parts = [[str(path.relative_to(folder)), path.read_bytes()] for path in wanted]
    return fingerprint(*[part for pair in parts for part in pair])


def corpus_files(corpus: str) -> list[Path]:
    """The files an adaptation reads for `corpus`."""
    if corpus == "ptc":
        from meme_keras.data.ptc import label_files

        return label_files()
    if corpus != "semeval2024":
        raise ValueError(f"unknown adaptation corpus {corpus!r}")
    from meme_keras.data.memes_2024 import FILES, default_2024_dir

    return [default_2024_dir() / FILES[subtask] for subtask in sorted(FILES)]


def adaptation_files(text: Mapping) -> list[Path]:
    """The extra corpus files the adaptation `text` asks for reads ([] for none): a run's data."""
    if not text.get("adaptation"):
        return []
    return [path for corpus in text["adaptation"]["corpora"] for path in corpus_files(corpus)]


def adaptation_techniques() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the 22 techniques of subtask 3, the 20 of subtask 1): the adaptation head's columns."""
    from meme_keras.data.corpus import default_data_dir
    from meme_keras.data.techniques import read_techniques

    data_dir = default_data_dir()
    return read_techniques(data_dir, "multimodal"), read_techniques(data_dir, "text")


@functools.lru_cache(maxsize=16)
def _adapted_key(name: str, preset: str | None, sequence_length: int, adaptation: str) -> str:
    settings = json.loads(adaptation)
    files = [path for corpus in settings["corpora"] for path in corpus_files(corpus)]
    missing = [str(path) for path in files if not path.exists()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: extra corpus file for the text adaptation")
    return fingerprint(
        "adapted text backbone",
        ADAPTATION_FORMAT,
        name,
        _base_files_fingerprint(Path(resolve_text_preset(name, preset))),
        sequence_length,
        adaptation,
        *[part for path in files for part in (path.name, path.read_bytes())],
        adaptation_techniques(),
    )


def adapted_folder(text: Mapping, cache_dir: Path | None = None) -> Path:
    """The cache folder of the adapted backbone `text` (a `text_backbone` section) asks for."""
    settings = json.dumps(dict(text["adaptation"]), sort_keys=True)
    key = _adapted_key(text["name"], text["preset"], text["sequence_length"], settings)
    return Path(cache_dir or default_cache_dir()) / f"adapted-{text['name']}-{key[:16]}"


def is_adapted(folder: Path) -> bool:
    return (Path(folder) / RECORD).exists()


def text_preset(text: Mapping) -> str | None:
    """The weights `text` (a `text_backbone` section) uses: its adapted folder when it asks for
    one (which must exist: training makes it), else its preset as given."""
    if not text.get("adaptation"):
        return text["preset"]
    folder = adapted_folder(text)
    if not is_adapted(folder):
        raise AdaptedBackboneMissingError(
            f"{folder}: the adapted {text['name']} backbone this run uses is not in the cache; "
            "training a config with text_backbone.adaptation makes it"
        )
    return str(folder)
