"""The task's scoring for subtasks 1 and 3: multilabel F1 over multi-hot matrices.

The official scorers call scikit-learn's `f1_score(gold, predicted, average="micro"|"macro",
zero_division=1)` on `MultiLabelBinarizer` matrices over the full technique list. This module
reproduces that in numpy, so scoring needs no scikit-learn:

- per label, precision = tp / (tp + fp), recall = tp / (tp + fn), and
  F1 = 2 tp / (2 tp + fp + fn); any 0 / 0 is replaced by `zero_division` = 1.
  So a label absent from both gold and prediction scores F1 = 1 (it counts in the macro mean),
  while a label with gold but no predictions scores P = 1, R = 0, F1 = 0 (and the mirror case,
  predictions but no gold, P = 0, R = 1, F1 = 0). scikit-learn >= 1.3 computes F from the counts
  in exactly this way; checked against scikit-learn 1.9.1 on random matrices.
- micro scores pool tp, fp and fn over every meme and label before dividing.
- macro F1 is the unweighted mean of the per-label F1 over all K columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

ZERO_DIVISION = 1.0


def multilabel_scores(gold: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Micro/macro F1 and micro precision/recall of `predicted` against `gold`.

    Args:
        gold: `[N, K]` multi-hot gold labels (0/1).
        predicted: `[N, K]` multi-hot predictions (0/1).

    Returns:
        `{"micro_f1", "macro_f1", "micro_precision", "micro_recall"}` as floats.
    """
    tp, fp, fn = label_counts(gold, predicted)
    scores = scores_from_counts(tp, fp, fn)
    return {name: float(value) for name, value in scores.items()}


def label_counts(
    gold: np.ndarray, predicted: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-label true positives, false positives and false negatives.

    `predicted` may carry leading axes (`[..., N, K]`, e.g. one prediction matrix per candidate
    threshold); the counts then have shape `[..., K]`. Vectorising over candidates is what keeps
    threshold tuning fast.
    """
    gold = _as_multi_hot(gold, "gold")
    predicted = _as_multi_hot(predicted, "predicted")
    if gold.ndim != 2 or predicted.shape[-2:] != gold.shape:
        raise ValueError(
            f"gold must be [N, K] and predicted [..., N, K] with the same N, K; got "
            f"{gold.shape} and {predicted.shape}"
        )
    tp = np.sum(predicted & gold, axis=-2)
    fp = np.sum(predicted & ~gold, axis=-2)
    fn = np.sum(~predicted & gold, axis=-2)
    return tp, fp, fn


def scores_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> dict[str, np.ndarray]:
    """Micro/macro scores from per-label counts of shape `[..., K]` (reduced over the last axis)."""
    tp_all, fp_all, fn_all = (np.sum(count, axis=-1) for count in (tp, fp, fn))
    return {
        "micro_f1": _divide(2 * tp_all, 2 * tp_all + fp_all + fn_all),
        "macro_f1": np.mean(_divide(2 * tp, 2 * tp + fp + fn), axis=-1),
        "micro_precision": _divide(tp_all, tp_all + fp_all),
        "micro_recall": _divide(tp_all, tp_all + fn_all),
    }


def per_label_table(
    gold: np.ndarray, predicted: np.ndarray, techniques: Sequence[str]
) -> pd.DataFrame:
    """One row per technique: support, predicted count, precision, recall and F1.

    Uses the same zero_division=1 convention as `multilabel_scores`, so the mean of the `f1`
    column is the macro F1.
    """
    tp, fp, fn = label_counts(gold, predicted)
    if len(techniques) != tp.shape[-1]:
        raise ValueError(f"{len(techniques)} techniques for {tp.shape[-1]} label columns")
    return pd.DataFrame(
        {
            "technique": list(techniques),
            "support": tp + fn,
            "predicted": tp + fp,
            "precision": _divide(tp, tp + fp),
            "recall": _divide(tp, tp + fn),
            "f1": _divide(2 * tp, 2 * tp + fp + fn),
        }
    )


def labels_to_multi_hot(
    label_lists: Iterable[Iterable[str]], techniques: Sequence[str]
) -> np.ndarray:
    """`[N, K]` int32 multi-hot matrix; column order is `techniques`.

    Raises:
        ValueError: a label is not one of `techniques`, or `techniques` repeats a name.
    """
    column = _column_index(techniques)
    label_lists = [list(labels) for labels in label_lists]
    matrix = np.zeros((len(label_lists), len(column)), dtype=np.int32)
    for row, labels in enumerate(label_lists):
        for label in labels:
            if label not in column:
                raise ValueError(f"unknown technique {label!r} in meme {row}")
            matrix[row, column[label]] = 1
    return matrix


def multi_hot_to_labels(matrix: np.ndarray, techniques: Sequence[str]) -> list[list[str]]:
    """Inverse of `labels_to_multi_hot`: each row's techniques, in `techniques` order."""
    matrix = _as_multi_hot(matrix, "matrix")
    if matrix.ndim != 2 or matrix.shape[1] != len(techniques):
        raise ValueError(f"expected a [N, {len(techniques)}] matrix, got {matrix.shape}")
    return [[techniques[k] for k in np.flatnonzero(row)] for row in matrix]


def top_k_constant_prediction(train_multi_hot: np.ndarray, n: int, k: int) -> np.ndarray:
    """Predict the `k` most frequent training labels for each of `n` memes.

    The task's constant reference (top-3 gives 0.481 micro-F1 on the subtask-3 test set).
    Frequency ties go to the earlier column, so the result is deterministic.
    """
    train = _as_multi_hot(train_multi_hot, "train_multi_hot")
    if train.ndim != 2:
        raise ValueError(f"train_multi_hot must be [N, K], got {train.shape}")
    num_labels = train.shape[1]
    if not 0 <= k <= num_labels:
        raise ValueError(f"k must be in [0, {num_labels}], got {k}")
    frequency = train.sum(axis=0)
    top = np.argsort(-frequency, kind="stable")[:k]
    prediction = np.zeros((n, num_labels), dtype=np.int32)
    prediction[:, top] = 1
    return prediction


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Elementwise numerator / denominator with 0 / 0 -> ZERO_DIVISION, as the scorer does."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    safe = np.where(denominator == 0, 1.0, denominator)
    return np.where(denominator == 0, ZERO_DIVISION, numerator / safe)


def _as_multi_hot(matrix: np.ndarray, name: str) -> np.ndarray:
    """Boolean view of a 0/1 array; anything else is an error rather than a silent cast."""
    matrix = np.asarray(matrix)
    if matrix.dtype != bool and not np.isin(matrix, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1")
    return matrix.astype(bool)


def _column_index(techniques: Sequence[str]) -> dict[str, int]:
    column = {technique: k for k, technique in enumerate(techniques)}
    if len(column) != len(techniques):
        raise ValueError("techniques must not repeat a name")
    return column
