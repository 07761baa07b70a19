"""Character spans <-> per-token technique tags, through the tokens' character offsets.

Training turns each meme's gold spans into a [L, K] multi-hot matrix (token x technique); decoding
turns the tagger's [L, K] probabilities back into spans of the original text.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import regex

from meme_keras.data.meme import Span
from meme_keras.data.text_encoding import PUNCTUATION, WHITESPACE, split_words

# Characters that carry words; selected words separated only by other characters (spaces, line
# breaks, commas) are one span.
_CONTENT = regex.compile(rf"[^{WHITESPACE}{PUNCTUATION}]")
_CONTENT_RUN = regex.compile(rf"[^{WHITESPACE}{PUNCTUATION}]+")
_EDGE_WHITESPACE = regex.compile(rf"[{WHITESPACE}\s]")


def _real_tokens(offsets: np.ndarray, padding_mask: np.ndarray) -> np.ndarray:
    # [CLS], [SEP] and padding carry (0, 0): an empty range is never a text token.
    offsets = np.asarray(offsets)
    return np.asarray(padding_mask).astype(bool) & (offsets[:, 1] > offsets[:, 0])


def spans_to_token_tags(
    spans: Sequence[Span],
    offsets: np.ndarray,
    padding_mask: np.ndarray,
    techniques: Sequence[str],
) -> np.ndarray:
    """Multi-hot [L, len(techniques)] float32 tags: token i has technique k if its characters
    overlap a span of technique k. Special and padding tokens are never tagged.

    Args:
        spans: the meme's spans; techniques outside `techniques` raise `ValueError`.
        offsets: int [L, 2] character range of each token, (0, 0) for special tokens.
        padding_mask: int or bool [L], 1 for real tokens.
        techniques: the tag columns, in order.
    """
    offsets = np.asarray(offsets)
    column = {technique: k for k, technique in enumerate(techniques)}
    real = _real_tokens(offsets, padding_mask)
    tags = np.zeros((len(offsets), len(techniques)), dtype=np.float32)
    for span in spans:
        if span.technique not in column:
            raise ValueError(f"unknown technique {span.technique!r} in {span}")
        overlaps = real & (offsets[:, 0] < span.end) & (offsets[:, 1] > span.start)
        tags[overlaps, column[span.technique]] = 1.0
    return tags


def token_probabilities_to_spans(
    text: str,
    offsets: np.ndarray,
    padding_mask: np.ndarray,
    probabilities: np.ndarray,
    techniques: Sequence[str],
    threshold: float | Sequence[float],
    max_gap_words: int = 0,
) -> list[Span]:
    """Spans of `text` from per-token technique probabilities.

    Tokens whose probability of technique k is greater than its threshold (as in
    `keras.metrics.F1Score`) are selected, each widened to its whole word (a `##` piece brings
    its word). Selected words with only whitespace and punctuation between them (and at most
    `max_gap_words` other words) form one span, from the first word's start to the last word's
    end, trimmed of surrounding whitespace. So adjacent gold spans of one technique ("HATE",
    "TRUMP") come back as one span.

    Args:
        text: the original text the offsets point into.
        offsets: int [L, 2] character range of each token, (0, 0) for special tokens.
        padding_mask: int or bool [L], 1 for real tokens.
        probabilities: float [L, len(techniques)].
        techniques: names of the probability columns.
        threshold: the decision threshold: one for all techniques, or one per technique.
        max_gap_words: words (runs of characters other than whitespace and punctuation) that
            may stand between two selected words of a technique in one span.

    Returns:
        Sorted, unique spans.
    """
    offsets = np.asarray(offsets)
    probabilities = np.asarray(probabilities)
    if probabilities.shape != (len(offsets), len(techniques)):
        raise ValueError(
            f"probabilities have shape {probabilities.shape}, "
            f"expected {(len(offsets), len(techniques))}"
        )
    thresholds = technique_thresholds(threshold, len(techniques))
    words = np.array(split_words(text), dtype=np.int64).reshape(-1, 2)
    selected = _real_tokens(offsets, padding_mask)[:, None] & (probabilities > thresholds)
    spans = set()
    for k in np.flatnonzero(selected.any(axis=0)):  # the techniques with a selected token
        # Widen first: a word is selected as a whole whichever of its pieces was.
        ranges = _widened_to_words(offsets[selected[:, k]], words)
        for start, end in _merge_ranges(text, ranges, max_gap_words):
            start, end = _strip_whitespace(text, start, end)
            if start < end:
                spans.add(Span(start, end, techniques[k]))
    return sorted(spans)


def _widened_to_words(ranges: np.ndarray, words: np.ndarray) -> list[tuple[int, int]]:
    """Each token's (start, end) in `ranges` [n, 2] widened to the word holding it (`words`
    [w, 2], sorted (start, end) ranges), if any."""
    starts, ends = ranges[:, 0], ranges[:, 1]
    if len(words):
        # The word holding a token begins at or before the token's start.
        index = np.searchsorted(words[:, 0], starts, side="right") - 1
        held = words[np.maximum(index, 0)]
        inside = (index >= 0) & (held[:, 1] > starts)
        starts = np.where(inside, np.minimum(starts, held[:, 0]), starts)
        ends = np.where(inside, np.maximum(ends, held[:, 1]), ends)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def technique_thresholds(threshold: float | Sequence[float], num_techniques: int) -> np.ndarray:
    """float64 [num_techniques]: one threshold for all techniques repeated, or one per technique
    checked for its length."""
    thresholds = np.asarray(threshold, dtype=np.float64)
    if thresholds.ndim == 0:
        return np.full(num_techniques, float(thresholds))
    if thresholds.shape != (num_techniques,):
        raise ValueError(
            f"{thresholds.size} thresholds for {num_techniques} techniques: give one, or one each"
        )
    return thresholds


def _merge_ranges(
    text: str, ranges: list[tuple[int, int]], max_gap_words: int = 0
) -> list[tuple[int, int]]:
    """Join sorted character ranges that overlap or have at most `max_gap_words` words between
    them (none: only whitespace and punctuation)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and _words_between(text, merged[-1][1], start, max_gap_words) <= max_gap_words:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _words_between(text: str, start: int, end: int, at_most: int) -> int:
    """How many words `text[start:end]` holds, counted up to `at_most + 1`."""
    if at_most == 0:  # the common case: is there any word character at all
        return int(_CONTENT.search(text, start, max(start, end)) is not None)
    found = 0
    for _ in _CONTENT_RUN.finditer(text, start, max(start, end)):
        found += 1
        if found > at_most:
            break
    return found


def _strip_whitespace(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and _EDGE_WHITESPACE.match(text[start]):
        start += 1
    while end > start and _EDGE_WHITESPACE.match(text[end - 1]):
        end -= 1
    return start, end
