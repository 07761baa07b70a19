"""Hand-computed checks of the task's multilabel F1 (zero_division=1) and its helpers."""

import numpy as np
import pytest

from meme_keras.evaluation.multilabel_f1 import (
    labels_to_multi_hot,
    multi_hot_to_labels,
    multilabel_scores,
    per_label_table,
    top_k_constant_prediction,
)

TECHNIQUES = ["Smears", "Loaded Language", "Bandwagon", "Doubt"]
# Per label: Smears all right (F1 1); Loaded Language gold but never predicted (P 1, R 0, F1 0);
# Bandwagon absent from gold and prediction (F1 1 by zero_division); Doubt one fp, one fn (F1 0).
GOLD = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]])
PREDICTED = np.array([[1, 0, 0, 0], [1, 0, 0, 1], [0, 0, 0, 0]])


def test_scores_by_hand():
    scores = multilabel_scores(GOLD, PREDICTED)
    # Pooled: tp = 2, fp = 1, fn = 2.
    assert scores["micro_precision"] == pytest.approx(2 / 3)
    assert scores["micro_recall"] == pytest.approx(2 / 4)
    assert scores["micro_f1"] == pytest.approx(4 / 7)
    assert scores["macro_f1"] == pytest.approx((1 + 0 + 1 + 0) / 4)


def test_per_label_table_by_hand():
    table = per_label_table(GOLD, PREDICTED, TECHNIQUES).set_index("technique")
    assert list(table.columns) == ["support", "predicted", "precision", "recall", "f1"]
    assert table["support"].tolist() == [2, 1, 0, 1]
    assert table["predicted"].tolist() == [2, 0, 0, 1]
    assert table.loc["Loaded Language", ["precision", "recall", "f1"]].tolist() == [1, 0, 0]
    assert table.loc["Bandwagon", ["precision", "recall", "f1"]].tolist() == [1, 1, 1]
    assert table.loc["Doubt", ["precision", "recall", "f1"]].tolist() == [0, 0, 0]
    assert table["f1"].mean() == pytest.approx(multilabel_scores(GOLD, PREDICTED)["macro_f1"])


def test_empty_gold_and_prediction_score_one():
    empty = np.zeros((2, 3), dtype=int)
    assert multilabel_scores(empty, empty) == {
        "micro_f1": 1.0,
        "macro_f1": 1.0,
        "micro_precision": 1.0,
        "micro_recall": 1.0,
    }


def test_rejects_mismatched_or_non_binary_input():
    with pytest.raises(ValueError, match="same N, K"):
        multilabel_scores(GOLD, PREDICTED[:, :3])
    with pytest.raises(ValueError, match="only 0 and 1"):
        multilabel_scores(GOLD, PREDICTED * 0.5)


def test_multi_hot_round_trip_and_unknown_technique():
    labels = [["Doubt", "Smears"], [], ["Bandwagon"]]
    matrix = labels_to_multi_hot(labels, TECHNIQUES)
    np.testing.assert_array_equal(matrix, [[1, 0, 0, 1], [0, 0, 0, 0], [0, 0, 1, 0]])
    assert multi_hot_to_labels(matrix, TECHNIQUES) == [["Smears", "Doubt"], [], ["Bandwagon"]]
    with pytest.raises(ValueError, match="'Whataboutism'"):
        labels_to_multi_hot([["Smears", "Whataboutism"]], TECHNIQUES)
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        multi_hot_to_labels(matrix[:, :3], TECHNIQUES)


def test_top_k_constant_prediction():
    # Column counts 1, 3, 3, 2: ties between columns 1 and 2 keep column order.
    train = np.array([[0, 1, 1, 1], [1, 1, 1, 0], [0, 1, 1, 1]])
    np.testing.assert_array_equal(top_k_constant_prediction(train, n=2, k=1), [[0, 1, 0, 0]] * 2)
    np.testing.assert_array_equal(top_k_constant_prediction(train, n=1, k=3), [[0, 1, 1, 1]])
    assert top_k_constant_prediction(train, n=5, k=0).sum() == 0
    with pytest.raises(ValueError, match="k must be"):
        top_k_constant_prediction(train, n=1, k=5)
