"""The one error type for bad corpus input: names the file, the meme id and what is wrong."""

from __future__ import annotations

from pathlib import Path


class CorpusError(ValueError):
    """Bad input, reported as one line: `<file>: meme <id>: <what is wrong>`."""

    def __init__(self, path: str | Path, meme_id: str | None, problem: str):
        self.path = Path(path)
        self.meme_id = meme_id
        self.problem = problem
        where = f"{self.path}" if meme_id is None else f"{self.path}: meme {meme_id!r}"
        super().__init__(f"{where}: {problem}")
