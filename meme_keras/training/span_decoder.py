"""The span decoder's settings tuned on out-of-fold token probabilities: one token threshold for
all techniques or one per technique, at a given number of words a span may bridge.

The span score is a ratio of sums over techniques (precision credit over predicted spans,
recall credit over gold spans), so each technique's sums at each threshold of a grid, computed
once, give the score of any assignment of thresholds to techniques without decoding again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from meme_keras.evaluation.span_f1 import (
    SpanScores,
    per_technique_span_scores,
    scores_from_credits,
)
from meme_keras.pipeline.token_tags import TokenTagData, decode_spans

PRECISION_CREDIT, RECALL_CREDIT, PREDICTED = range(3)


def credit_table(
    data: TokenTagData,
    probabilities: np.ndarray,
    techniques: Sequence[str],
    grid: Sequence[float],
    max_gap_words: int = 0,
) -> np.ndarray:
    """float64 [len(grid), K, 3]: at each grid threshold, each technique's precision credit,
    recall credit and number of predicted spans over `data`'s memes."""
    gold = data.gold()
    table = np.zeros((len(grid), len(techniques), 3))
    for i, threshold in enumerate(grid):
        spans = decode_spans(data, probabilities, techniques, float(threshold), max_gap_words)
        scores = per_technique_span_scores(spans, gold, techniques)
        for k, technique in enumerate(techniques):
            s = scores[technique]
            # Where a technique has no predicted (or no gold) span, its credit is 0 whatever
            # the convention for its own P and R.
            table[i, k] = (s.precision * s.n_predicted, s.recall * s.n_gold, s.n_predicted)
    return table


def gold_span_counts(data: TokenTagData, techniques: Sequence[str]) -> np.ndarray:
    """int [K]: gold spans of each technique in `data`."""
    column = {technique: k for k, technique in enumerate(techniques)}
    counts = np.zeros(len(techniques), dtype=np.int64)
    for spans in data.gold().values():
        for span in spans:
            counts[column[span.technique]] += 1
    return counts


def scores_of(credits: np.ndarray, n_gold: int) -> SpanScores:
    """The span scores of summed [K, 3] credits (`span_scores`'s conventions)."""
    return scores_from_credits(
        credits[:, PRECISION_CREDIT].sum(),
        credits[:, RECALL_CREDIT].sum(),
        int(credits[:, PREDICTED].sum()),
        n_gold,
    )


def span_f1_of(credits: np.ndarray, n_gold: int) -> float:
    """The span F1 of summed [K, 3] credits."""
    return scores_of(credits, n_gold).f1


def best_global_index(table: np.ndarray, n_gold: int) -> int:
    """The grid index of the highest span F1 with one threshold for all (the lowest on ties)."""
    scores = [span_f1_of(table[i], n_gold) for i in range(len(table))]
    return int(np.argmax(scores))


def technique_threshold_indices(
    table: np.ndarray, gold_counts: np.ndarray, start: int, min_gold_spans: int = 20
) -> np.ndarray:
    """int [K] grid indices of per-technique thresholds: from `start` for all, one pass of
    coordinate ascent over the techniques with at least `min_gold_spans` gold spans, most
    frequent first, each moved to the index of the highest span F1 with the others fixed (kept
    on ties, else the lowest such index); the other techniques stay at `start`."""
    num_techniques = table.shape[1]
    chosen = np.full(num_techniques, start)
    n_gold = int(gold_counts.sum())
    columns = np.arange(num_techniques)
    order = sorted(
        (k for k in columns if gold_counts[k] >= min_gold_spans), key=lambda k: -gold_counts[k]
    )
    for k in order:
        scores = []
        for i in range(len(table)):
            trial = chosen.copy()
            trial[k] = i
            scores.append(span_f1_of(table[trial, columns], n_gold))
        scores = np.array(scores)
        if scores[chosen[k]] < scores.max():
            chosen[k] = int(np.argmax(scores))
    return chosen


def sweep_of(table: np.ndarray, grid: Sequence[float], gold_counts: np.ndarray) -> pd.DataFrame:
    """`span_training.sweep_span_threshold`'s table (one threshold for all) from `table`."""
    n_gold = int(gold_counts.sum())
    rows = [
        sweep_row(threshold, scores_of(credits, n_gold))
        for threshold, credits in zip(grid, table, strict=True)
    ]
    return pd.DataFrame(rows)


def sweep_row(threshold: float, scores: SpanScores) -> dict:
    """A threshold sweep's row: the threshold, span P, R, F1 and the span counts."""
    return {"threshold": round(float(threshold), 4), **dataclasses.asdict(scores)}


def technique_thresholds_of(
    table: np.ndarray,
    grid: Sequence[float],
    gold_counts: np.ndarray,
    global_threshold: float,
    min_gold_spans: int = 20,
) -> np.ndarray:
    """float64 [K] thresholds for `decode_spans`: `technique_threshold_indices` from
    `global_threshold` (a value of `grid`)."""
    grid = np.asarray(grid, dtype=np.float64)
    start = np.flatnonzero(np.isclose(grid, global_threshold))
    if len(start) != 1:
        raise ValueError(f"global threshold {global_threshold} is not a value of the grid")
    return grid[technique_threshold_indices(table, gold_counts, int(start[0]), min_gold_spans)]
