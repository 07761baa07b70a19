"""How well probabilities rank memes per technique, whatever the decision thresholds.

Threshold-free, so it compares models without the noise of tuning thresholds: training for
the frequent techniques and for the rare ones can move it in opposite directions, which
micro-F1 at a tuned threshold hides.
"""

from __future__ import annotations

import numpy as np


def average_precision(gold: np.ndarray, scores: np.ndarray) -> float:
    """Average precision of one label: the sum over score thresholds, highest first, of
    precision at the threshold times the recall it adds (tied scores are one threshold, as in
    scikit-learn's `average_precision_score`). NaN when `gold` has no positive."""
    gold = np.asarray(gold).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    if gold.shape != scores.shape or gold.ndim != 1:
        raise ValueError(f"gold and scores must be equal 1-D arrays: {gold.shape}, {scores.shape}")
    positives = gold.sum()
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    scores, gold = scores[order], gold[order]
    true_positives = np.cumsum(gold)
    # The last row of each group of tied scores closes that threshold.
    closes = np.r_[scores[1:] != scores[:-1], True]
    true_positives = true_positives[closes]
    predicted = np.flatnonzero(closes) + 1
    recall = true_positives / positives
    precision = true_positives / predicted
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def mean_average_precision(gold: np.ndarray, probabilities: np.ndarray) -> float:
    """`average_precision` averaged over the labels (columns) with at least one positive."""
    gold, probabilities = np.asarray(gold), np.asarray(probabilities)
    if gold.ndim != 2 or gold.shape != probabilities.shape:
        raise ValueError(
            f"gold and probabilities must both be [N, K]: {gold.shape}, {probabilities.shape}"
        )
    values = [
        average_precision(gold[:, k], probabilities[:, k])
        for k in range(gold.shape[1])
        if gold[:, k].any()
    ]
    if not values:
        raise ValueError("no label has a positive")
    return float(np.mean(values))
