"""The subtask-2 span scorer on cases computed by hand."""

import pytest

from meme_keras.data.meme import Span
from meme_keras.evaluation.span_f1 import (
    SpanScores,
    deduplicate_spans,
    per_technique_span_scores,
    span_scores,
)

A, B = "Loaded Language", "Smears"


def _check(scores, precision, recall, f1, n_predicted, n_gold):
    assert scores.precision == pytest.approx(precision)
    assert scores.recall == pytest.approx(recall)
    assert scores.f1 == pytest.approx(f1)
    assert (scores.n_predicted, scores.n_gold) == (n_predicted, n_gold)


def test_exact_match_scores_one():
    spans = {"125": [Span(2, 6, A), Span(19, 28, B)]}
    assert span_scores(spans, spans) == SpanScores(1.0, 1.0, 1.0, 2, 2)


def test_partial_overlaps_give_partial_credit():
    # |p & g| = |[8, 10)| = 2: P = 2/|p| = 2/4 = 0.5, R = 2/|g| = 2/10 = 0.2,
    # F1 = 2 * 0.5 * 0.2 / 0.7 = 0.2857.
    _check(span_scores({"m": [Span(8, 12, A)]}, {"m": [Span(0, 10, A)]}), 0.5, 0.2, 0.2 / 0.7, 1, 1)
    # Two memes are summed, not averaged: meme x exact (P 1, R 1); meme y p=[5, 15) g=[0, 10)
    # overlap 5 (P 0.5, R 0.5) and a second gold [20, 30) missed (R 0).
    # P = (1 + 0.5) / 2 = 0.75, R = (1 + 0.5 + 0) / 3 = 0.5, F1 = 2 * 0.75 * 0.5 / 1.25 = 0.6.
    predicted = {"x": [Span(0, 4, A)], "y": [Span(5, 15, A)]}
    gold = {"x": [Span(0, 4, A)], "y": [Span(0, 10, A), Span(20, 30, A)]}
    _check(span_scores(predicted, gold), 0.75, 0.5, 0.6, 2, 3)


def test_one_prediction_over_two_gold_spans():
    # p = [0, 10) covers g1 = [0, 4) and g2 = [6, 10): precision credit 4/10 + 4/10 = 0.8 over
    # one predicted span; recall credit 4/4 + 4/4 = 2 over two gold spans.
    # P = 0.8, R = 1, F1 = 2 * 0.8 / 1.8 = 0.8889.
    predicted = {"m": [Span(0, 10, A)]}
    gold = {"m": [Span(0, 4, A), Span(6, 10, A)]}
    _check(span_scores(predicted, gold), 0.8, 1.0, 1.6 / 1.8, 1, 2)


def test_two_predictions_inside_one_gold_span_are_not_penalised():
    # P = (5/5 + 5/5) / 2 = 1, R = (5/10 + 5/10) / 1 = 1.
    predicted = {"m": [Span(0, 5, A), Span(5, 10, A)]}
    _check(span_scores(predicted, {"m": [Span(0, 10, A)]}), 1.0, 1.0, 1.0, 2, 1)


def test_wrong_technique_scores_zero():
    _check(span_scores({"m": [Span(0, 4, B)]}, {"m": [Span(0, 4, A)]}), 0.0, 0.0, 0.0, 1, 1)


def test_empty_memes_follow_the_stated_conventions():
    empty = {"a": [], "b": []}
    _check(span_scores(empty, empty), 1.0, 1.0, 1.0, 0, 0)  # nothing to find, nothing wrong
    _check(span_scores(empty, {"a": [Span(0, 4, A)], "b": []}), 0.0, 0.0, 0.0, 0, 1)
    _check(span_scores({"a": [Span(0, 4, A)], "b": []}, empty), 0.0, 0.0, 0.0, 1, 0)
    # A meme without gold still counts its false predictions: P = 1/2, R = 1/1, F1 = 2/3.
    predicted = {"a": [Span(0, 4, A)], "b": [Span(0, 3, A)]}
    _check(span_scores(predicted, {"a": [Span(0, 4, A)], "b": []}), 0.5, 1.0, 2 / 3, 2, 1)


def test_duplicate_predictions_inflate_recall_so_deduplicate_them():
    # Each copy is credited: P = (1 + 1) / 2 = 1, R = (1 + 1) / 1 = 2, F1 = 2 * 2 / 3 = 1.333.
    gold = {"m": [Span(0, 4, A)]}
    predicted = [Span(0, 4, A), Span(0, 4, A)]
    _check(span_scores({"m": predicted}, gold), 1.0, 2.0, 4 / 3, 2, 1)
    _check(span_scores({"m": deduplicate_spans(predicted)}, gold), 1.0, 1.0, 1.0, 1, 1)


def test_deduplicate_spans_sorts_and_drops_repeats():
    spans = [Span(5, 9, B), Span(0, 4, A), Span(5, 9, B), Span(0, 4, B)]
    assert deduplicate_spans(spans) == [Span(0, 4, A), Span(0, 4, B), Span(5, 9, B)]


def test_predicted_ids_must_equal_gold_ids():
    gold = {"1": [], "2": [], "3_batch_2": []}
    with pytest.raises(ValueError, match=r"missing \['3_batch_2'\].*extra \['4'\]"):
        span_scores({"1": [], "2": [], "4": []}, gold)
    with pytest.raises(ValueError, match="missing"):
        per_technique_span_scores({"1": []}, gold, [A])


def test_empty_spans_are_rejected():
    with pytest.raises(ValueError, match="empty"):
        span_scores({"m": [Span(3, 3, A)]}, {"m": [Span(0, 4, A)]})


def test_per_technique_scores():
    gold = {"m": [Span(0, 4, A), Span(5, 9, B)], "n": [Span(0, 10, B)]}
    predicted = {"m": [Span(0, 4, A)], "n": [Span(5, 15, B)]}
    scores = per_technique_span_scores(predicted, gold, [A, B, "Doubt"])

    assert list(scores) == [A, B, "Doubt"]
    _check(scores[A], 1.0, 1.0, 1.0, 1, 1)
    # B: one prediction [5, 15) in meme n, gold [5, 9) in meme m and [0, 10) in n (overlap 5):
    # P = 5/10 / 1 = 0.5, R = (0 + 5/10) / 2 = 0.25, F1 = 2 * 0.5 * 0.25 / 0.75 = 1/3.
    _check(scores[B], 0.5, 0.25, 1 / 3, 1, 2)
    _check(scores["Doubt"], 1.0, 1.0, 1.0, 0, 0)  # absent from both: F1 1, as officially
