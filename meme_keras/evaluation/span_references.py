"""Simple span references scored by the same scorer as the tagger.

A meme-level technique set becomes spans without any tagging: one span over the whole text,
or one per non-empty line. The task gives long spans partial credit, so a tagger is useful only
if it beats these.
"""

from __future__ import annotations

from collections.abc import Iterable

from meme_keras.data.meme import Span


def _stripped(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def whole_text_spans(text: str, techniques: Iterable[str]) -> list[Span]:
    """One span per technique over the text without its surrounding whitespace."""
    start, end = _stripped(text, 0, len(text))
    if start == end:
        return []
    return sorted({Span(start, end, technique) for technique in techniques})


def line_spans(text: str, techniques: Iterable[str]) -> list[Span]:
    """One span per technique and non-empty line (each line stripped of whitespace)."""
    techniques = set(techniques)
    spans = set()
    position = 0
    for line in text.split("\n"):
        start, end = _stripped(text, position, position + len(line))
        if start < end:
            spans.update(Span(start, end, technique) for technique in techniques)
        position += len(line) + 1
    return sorted(spans)
