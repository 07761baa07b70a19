"""The one error type for bad corpus input: names the file, the meme id and what is wrong."""

from __future__ import annotations

from pathlib import Path


class CorpusError(ValueError):
    """Bad input, reported as one line: `<file>: meme <id>: <what is wrong>` (`record` names
    what the id is of: "meme", or "article" for news articles)."""

    def __init__(self, path: str | Path, meme_id: str | None, problem: str, record: str = "meme"):
        self.path = Path(path)
        self.meme_id = meme_id
        self.record = record
        self.problem = " ".join(problem.splitlines())  # always one line
        super().__init__(f"{self.path}: {self.reason}")

    @property
    def reason(self) -> str:
        """The message without the file: `meme '<id>': <problem>`, or the problem alone."""
        if self.meme_id is None:
            return self.problem
        return f"{self.record} {self.meme_id!r}: {self.problem}"
