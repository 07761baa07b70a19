"""Staged fine-tuning on a tiny corpus: frozen head, then the text backbone unfrozen."""

from __future__ import annotations

import numpy as np
import pytest
from fine_tuning_runs import TINY_MODEL, reloaded_tiny_run, tiny_config

from meme_keras.config import make_config
from meme_keras.pipeline.classifier_inputs import model_live_parts
from meme_keras.training.fine_tuning import stage_parts


def test_stage_parts_rejects_unknown_parts():
    assert stage_parts({"name": "both", "train": ["text", "image"]}) == {"text", "image"}
    with pytest.raises(ValueError, match="'train' may list only"):
        stage_parts({"name": "x", "train": ["audio"]})


# A minute or more: all of MiniLM fine-tuned in a tiny run (the text-top stage's test stays in
# the default suite).
@pytest.mark.heavy
def test_text_stage_changes_the_backbone_and_the_run_reloads(tiny_corpus, tmp_path, monkeypatch):
    stages = [
        {"name": "frozen", "train": [], "epochs": 1, "learning_rate": 1e-3},
        {"name": "text", "train": ["text"], "epochs": 1, "learning_rate": 1e-4},
    ]
    predictor, _, _ = reloaded_tiny_run(tiny_corpus, tmp_path, monkeypatch, stages)
    assert model_live_parts(predictor.model) == {"text"}
    # The fine-tuned encoder inside the run differs from the pretrained one.
    from meme_keras.backbones.text_backbones import load_text_backbone

    pretrained = load_text_backbone("all_minilm_l6_v2")
    (tuned,) = [layer for layer in predictor.model.layers if type(layer) is type(pretrained)]
    pairs = zip(pretrained.get_weights(), tuned.get_weights(), strict=True)
    assert any(not np.allclose(a, b) for a, b in pairs)


def test_image_and_image_top_stages_do_not_mix(tiny_corpus):
    with pytest.raises(ValueError, match="whole image backbone or its top, not both"):
        tiny_config(
            tiny_corpus,
            stages=[
                {"name": "frozen", "train": [], "epochs": 1, "learning_rate": 1e-3},
                {"name": "top", "train": ["image_top"], "epochs": 1, "learning_rate": 1e-4},
                {"name": "image", "train": ["image"], "epochs": 1, "learning_rate": 1e-4},
            ],
        )


def test_fold_models_with_backbones_average_into_one_model():
    from meme_keras.models.heads import fusion_head
    from meme_keras.models.model_average import average_models
    from meme_keras.pipeline.feature_sets import FeatureSet
    from meme_keras.training.fine_tuning import LiveBackbones

    config = make_config({"model": TINY_MODEL})
    features = FeatureSet(
        memes=[],
        text_features=np.zeros((2, 4, 384), np.float32),
        padding_mask=np.ones((2, 4), np.int32),
        image_features=np.zeros((2, 49, 1280), np.float32),
        labels=np.zeros((2, 22), np.float32),
        token_ids=np.array([[101, 1037, 4937, 102]] * 2, np.int32),
    )
    models = []
    for fold in range(2):
        head = fusion_head(22, 384, 1280, 49, **TINY_MODEL, name=f"fusion_fold_{fold}")
        models.append(
            LiveBackbones(config, frozenset({"text"})).compose(
                head, frozenset(), features, frozenset({"text"})
            )
        )
    ensemble = average_models(models)
    inputs = {
        "token_ids": features.token_ids,
        "segment_ids": np.zeros_like(features.token_ids),
        "padding_mask": features.padding_mask,
        "image_features": features.image_features,
    }
    expected = np.mean([model.predict(inputs, verbose=0) for model in models], axis=0)
    assert np.allclose(ensemble.predict(inputs, verbose=0), expected, atol=1e-6)


def test_fine_tuning_batches_are_shuffled_by_seed_and_epoch():
    from meme_keras.data.meme import Meme
    from meme_keras.pipeline.classifier_inputs import classifier_dataset
    from meme_keras.pipeline.feature_sets import FeatureSet
    from meme_keras.training.callbacks import EpochClock

    count = 12
    features = FeatureSet(
        memes=[Meme(str(row), "text") for row in range(count)],
        text_features=np.zeros((count, 4, 3), np.float32),
        padding_mask=np.ones((count, 4), np.int32),
        image_features=np.zeros((count, 2, 5), np.float32),
        labels=np.arange(count, dtype=np.float32)[:, None],
        token_ids=np.arange(count * 4, dtype=np.int32).reshape(count, 4),
    )

    def order(epoch, seed=3):
        clock = EpochClock()
        clock.epoch = epoch
        dataset = classifier_dataset(features, frozenset({"text"}), 8, 4, True, seed, clock=clock)
        return [int(label) for _, labels in dataset for label in np.asarray(labels)[:, 0]]

    assert sorted(order(0)) == list(range(count))
    assert order(1) == order(1)  # a resumed process gets epoch 1's order back
    assert order(0) != order(1) and order(1, seed=4) != order(1)
