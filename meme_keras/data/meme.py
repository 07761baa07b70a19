"""Typed records of the corpus: a `Meme` and the `Span`s of technique use in its text."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, order=True)
class Span:
    """A technique used over `text[start:end]` (0-based, start inclusive, end exclusive)."""

    start: int
    end: int
    technique: str

    def fragment(self, text: str) -> str:
        return text[self.start : self.end]


@dataclass(frozen=True)
class Meme:
    """One meme: its id (a string: "104" and "104_batch_2" differ), text, image and gold.

    `labels` are the subtask-3 techniques (22-way) when known; `spans` are the subtask-2 spans
    (20-way) when known. `image_path` is None for text-only records.
    """

    id: str
    text: str
    image_path: Path | None = None
    labels: tuple[str, ...] = ()
    spans: tuple[Span, ...] = field(default=())
