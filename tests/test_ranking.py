"""Average precision by hand, ties included."""

import numpy as np
import pytest

from meme_keras.evaluation.ranking import average_precision, mean_average_precision


def test_average_precision_by_hand():
    # Thresholds 0.9 (P 1, R 1/2), 0.8 (P 1/2, adds no recall), 0.7 (P 2/3, R 1), 0.1.
    assert average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(
        0.5 * 1 + 0.5 * 2 / 3
    )
    assert average_precision([0, 1, 0, 1], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(
        0.5 * 1 / 2 + 0.5 * 2 / 4
    )
    # Tied scores are one threshold, whatever the row order.
    assert average_precision([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    assert average_precision([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert np.isnan(average_precision([0, 0], [0.1, 0.2]))


def test_mean_average_precision_skips_labels_without_positives():
    gold = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]])
    probabilities = np.array([[0.9, 0.1, 0.3], [0.8, 0.7, 0.2], [0.7, 0.2, 0.9], [0.1, 0.3, 0.5]])
    expected = (0.5 * 1 + 0.5 * 2 / 3 + 1.0) / 2  # label 2 has no positive
    assert mean_average_precision(gold, probabilities) == pytest.approx(expected)
    with pytest.raises(ValueError, match="no label"):
        mean_average_precision(gold * 0, probabilities)
