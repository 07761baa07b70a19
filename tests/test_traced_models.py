"""Stage models traced once for all folds: the same results as fresh models, less tracing."""

from __future__ import annotations

import contextlib
import logging

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_resume import synthetic_sets

from meme_keras.config import make_config
from meme_keras.pipeline.feature_sets import FeatureSet
from meme_keras.training.cross_validation import cross_validate
from meme_keras.training.traced_models import (
    fit_reusing_trace,
    predict_reusing_trace,
    reusing_traces,
)

ROWS = np.random.default_rng(0).normal(size=(24, 4)).astype(np.float32)
LABELS = (np.random.default_rng(1).random((24, 3)) < 0.4).astype(np.float32)


def tiny_model(seed: int, width: int = 8) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dropout(0.5)(keras.layers.Dense(width, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid")(hidden))
    model.compile(keras.optimizers.Nadam(1e-2), loss="binary_crossentropy")
    return model


def fitted(model: keras.Model, key) -> keras.Model:
    dataset = tf.data.Dataset.from_tensor_slices((ROWS, LABELS)).batch(8)
    fit_reusing_trace(key, model, lambda m: m.fit(dataset, epochs=3, verbose=0))
    return model


def test_a_fit_under_a_seen_key_runs_on_the_traced_model_and_ends_as_a_fresh_fit():
    fresh = [fitted(tiny_model(seed), None).get_weights() for seed in (1, 2)]
    with reusing_traces():
        first = fitted(tiny_model(1), "stage")
        traced_step, first_weights = first.train_function, first.get_weights()
        second = fitted(tiny_model(2), "stage")
        assert second.train_function is None  # never traced: the first model's step ran
        assert first.train_function is traced_step
        for got, expected in zip(first.get_weights(), first_weights, strict=True):
            np.testing.assert_array_equal(got, expected)  # the first model is as it was
    for model, reference in zip((first, second), fresh, strict=True):
        for got, expected in zip(model.get_weights(), reference, strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_another_model_under_the_same_key_and_fits_outside_the_block_trace_anew():
    with reusing_traces():
        fitted(tiny_model(1), "stage")
        wider = fitted(tiny_model(2, width=16), "stage")
        assert wider.train_function is not None
    assert fitted(tiny_model(3), "stage").train_function is not None


def tiny_config():
    return make_config(
        {
            "name": "tiny_traces",
            "seed": 3,
            "model": {"type": "baseline_concat", "dropout": 0.3},
            "batch_size": 4,
            "stages": [
                {"name": "frozen", "train": [], "epochs": 2, "learning_rate": 3e-3},
                {"name": "frozen_low_lr", "train": [], "epochs": 2, "learning_rate": 1e-3},
            ],
            "frozen_companion": {"epochs": 2, "learning_rate": 2e-3},
        }
    )


def test_cross_validation_gives_the_same_folds_with_traces_reused():
    pool = FeatureSet.concatenate(list(synthetic_sets(seed=5)))
    fresh = cross_validate(pool, tiny_config(), 5, folds=2)
    with reusing_traces():
        reused = cross_validate(pool, tiny_config(), 5, folds=2)
    np.testing.assert_allclose(reused[0], fresh[0], rtol=1e-5, atol=1e-6)  # out of fold
    assert reused[3] == fresh[3]  # epochs kept per fold and stage
    assert len({id(model) for model in reused[1]}) == 2  # a model of each fold's own
    assert len({id(model) for model in reused[2]}) == 2  # and a companion of its own
    for model, other in zip(reused[1] + reused[2], fresh[1] + fresh[2], strict=True):
        for got, expected in zip(model.get_weights(), other.get_weights(), strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.heavy
def test_fine_tuned_folds_with_traces_reused_equal_fresh_ones(
    tiny_corpus, tmp_path, monkeypatch, caplog
):
    # main.yaml's stages in small: the image top, then MiniLM and the image top together.
    from fine_tuning_runs import tiny_config

    from meme_keras.training import classifier_run

    stages = [
        {"name": "frozen", "train": [], "epochs": 1, "learning_rate": 1e-3},
        {"name": "image_top", "train": ["image_top"], "epochs": 1, "learning_rate": 1e-3},
        {"name": "both", "train": ["text", "image_top"], "epochs": 1, "learning_rate": 1e-3},
    ]
    config = tiny_config(tiny_corpus, stages=stages, thresholds={"tune_on": "folds", "folds": 2})
    monkeypatch.setenv("MEME_KERAS_CACHE", str(tmp_path / "cache"))
    with caplog.at_level(logging.DEBUG, logger="meme_keras.training.traced_models"):
        classifier_run.run_classifier(config, tmp_path / "reused")
    reused = {record.args[0] for record in caplog.records if "fits in place" in record.message}
    assert reused == {("stage", 0), ("stage", 1), ("stage", 2)}  # fold 2 reused every stage
    monkeypatch.setattr(classifier_run, "reusing_traces", contextlib.nullcontext)
    classifier_run.run_classifier(config, tmp_path / "fresh")
    for name in ("probabilities_tuning.npy", "probabilities_test.npy"):
        np.testing.assert_allclose(
            np.load(tmp_path / "reused" / name), np.load(tmp_path / "fresh" / name), atol=1e-5
        )


def test_span_folds_with_traces_reused_equal_fresh_ones(monkeypatch, caplog):
    from test_examples_and_folds import token_tag_data

    from meme_keras.config import span_config
    from meme_keras.training import span_training

    pool = token_tag_data([f"m{i}" for i in range(12)], length=6, real=4)
    pool.tags[:] = np.random.default_rng(2).random(pool.tags.shape) < 0.3
    config = span_config(
        {"seed": 1, "epochs": 2, "grid": {"label_smoothing": [0.1], "alpha": [2.0]}}
    )
    configs = [{**config, "loss": loss} for loss in span_training.grid_points(config)]
    with caplog.at_level(logging.DEBUG, logger="meme_keras.training.traced_models"):
        reused = span_training.cross_validate_span_taggers(pool, configs, 3, folds=2, seed=1)
    assert any("fits in place" in record.message for record in caplog.records)
    monkeypatch.setattr(span_training, "reusing_traces", contextlib.nullcontext)
    fresh = span_training.cross_validate_span_taggers(pool, configs, 3, folds=2, seed=1)
    for got, expected in zip(reused[0], fresh[0], strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_a_prediction_under_a_seen_key_runs_on_the_first_model_with_the_new_weights():
    first, second = tiny_model(1), tiny_model(2)
    expected = [first.predict(ROWS, verbose=0), second.predict(ROWS, verbose=0)]
    first, second = tiny_model(1), tiny_model(2)
    with reusing_traces():
        got = [
            predict_reusing_trace("oof", m, lambda f: f.predict(ROWS, verbose=0))
            for m in (first, second)
        ]
    assert second.predict_function is None  # never traced: the first model's step ran
    for probabilities, reference in zip(got, expected, strict=True):
        np.testing.assert_allclose(probabilities, reference, rtol=1e-6)
    np.testing.assert_allclose(first.predict(ROWS, verbose=0), expected[0], rtol=1e-6)
