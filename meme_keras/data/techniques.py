"""The technique (label) lists, read from the corpus's own files: the one source of truth."""

from __future__ import annotations

from pathlib import Path

from meme_keras.data.errors import CorpusError

TECHNIQUE_FILES = {
    "text": "techniques_list_task1-2.txt",  # 20 techniques, subtasks 1 and 2
    "multimodal": "techniques_list_task3.txt",  # 22 techniques, subtask 3
}


def read_techniques(data_dir: str | Path, kind: str = "multimodal") -> tuple[str, ...]:
    """Returns the techniques of `kind` ("text": 20, "multimodal": 22) in file order."""
    if kind not in TECHNIQUE_FILES:
        raise ValueError(
            f"unknown technique list {kind!r}; choose one of {sorted(TECHNIQUE_FILES)}"
        )
    path = Path(data_dir) / TECHNIQUE_FILES[kind]
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise CorpusError(path, None, "technique list not found") from None
    except UnicodeDecodeError as error:
        raise CorpusError(path, None, f"not UTF-8 text ({error.reason})") from None
    techniques = tuple(line.strip() for line in lines if line.strip())
    if len(set(techniques)) != len(techniques):
        raise CorpusError(path, None, "technique list has duplicate names")
    return techniques
