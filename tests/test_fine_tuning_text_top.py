"""Fine-tuning the text backbone's upper layers on cached hidden states of the lower ones."""

from __future__ import annotations

import keras_hub
import numpy as np
import pytest
from fine_tuning_runs import changed_layers, nested_layers, reloaded_tiny_run, tiny_config

from meme_keras.backbones.text_backbones import split_text_backbone, text_top_from
from meme_keras.pipeline.classifier_inputs import model_live_parts


def tiny_bert(num_layers=3):
    return keras_hub.models.BertBackbone(
        vocabulary_size=50,
        num_layers=num_layers,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=16,
    )


@pytest.mark.parametrize("top_from", [0, 1, 2])
def test_bottom_then_top_is_the_backbone(top_from):
    backbone = tiny_bert()
    bottom, top = split_text_backbone(backbone, top_from)
    rng = np.random.default_rng(0)
    inputs = {
        "token_ids": rng.integers(1, 50, (2, 7)),
        "segment_ids": np.zeros((2, 7), np.int32),
        "padding_mask": np.array([[1] * 7, [1] * 4 + [0] * 3]),
    }
    whole = backbone.predict_on_batch(inputs)["sequence_output"]
    hidden = bottom.predict_on_batch(inputs)
    assert np.allclose(top.predict_on_batch([hidden, inputs["padding_mask"]]), whole, atol=1e-6)
    # A text cut to its own length (as training batches are) gets the same features.
    alone = top.predict_on_batch([hidden[1:, :4], inputs["padding_mask"][1:, :4]])
    assert np.allclose(alone[0], whole[1, :4], atol=1e-5)
    # The top shares the backbone's layers: training it trains the backbone.
    assert top.get_layer("transformer_layer_2") is backbone.get_layer("transformer_layer_2")


def test_top_from_defaults_to_the_upper_half_and_is_checked():
    backbone = tiny_bert(num_layers=4)
    assert text_top_from(backbone, None) == 2
    assert text_top_from(backbone, 3) == 3
    with pytest.raises(ValueError, match="transformer layers 0-3: top_from 4"):
        text_top_from(backbone, 4)


def test_text_and_text_top_stages_do_not_mix(tiny_corpus):
    with pytest.raises(ValueError, match="whole text backbone or its top, not both"):
        tiny_config(
            tiny_corpus,
            stages=[
                {"name": "frozen", "train": [], "epochs": 1, "learning_rate": 1e-3},
                {"name": "top", "train": ["text_top"], "epochs": 1, "learning_rate": 1e-4},
                {"name": "text", "train": ["text"], "epochs": 1, "learning_rate": 1e-4},
            ],
        )


@pytest.mark.heavy  # about two minutes: two stages, a reload and an export of the real MiniLM
def test_text_top_stage_trains_only_the_upper_layers_and_serves_on_text(
    tiny_corpus, tmp_path, monkeypatch
):
    from meme_keras.backbones.text_backbones import load_text_backbone

    stages = [
        {"name": "frozen", "train": [], "epochs": 1, "learning_rate": 1e-3},
        {"name": "text_top", "train": ["text_top"], "epochs": 2, "learning_rate": 1e-3},
    ]
    predictor, memes, probabilities = reloaded_tiny_run(
        tiny_corpus,
        tmp_path,
        monkeypatch,
        stages,
        text_backbone={"sequence_length": 32, "top_from": 4},
    )
    # The saved model takes token ids: the frozen lower layers sit under the tuned top.
    assert model_live_parts(predictor.model) == {"text"}
    pretrained = load_text_backbone("all_minilm_l6_v2")
    (bottom,) = nested_layers(predictor.model, "text_bottom")
    (top,) = nested_layers(predictor.model, "text_top")
    assert not changed_layers([bottom], pretrained)
    changed = changed_layers([top], pretrained)
    assert changed and changed <= {"transformer_layer_4", "transformer_layer_5"}
    # The SavedModel on raw text and images gives the run's probabilities.
    import tensorflow as tf

    from meme_keras.export.saved_model import export_run

    served = tf.saved_model.load(str(export_run(tmp_path / "run", tmp_path / "saved_model")))
    outputs = served.signatures["serving_default"](
        image_bytes=tf.constant([meme.image_path.read_bytes() for meme in memes]),
        text=tf.constant([meme.text for meme in memes]),
    )
    assert np.allclose(outputs["probabilities"].numpy(), probabilities, atol=1e-4)


@pytest.mark.heavy
def test_a_soup_of_text_top_folds_is_saved_reloaded_and_served_as_one_network(
    tiny_corpus, tmp_path, monkeypatch
):
    stages = [
        {"name": "frozen", "train": [], "epochs": 1, "learning_rate": 1e-3},
        {"name": "text_top", "train": ["text_top"], "epochs": 1, "learning_rate": 1e-3},
    ]
    predictor, _, _ = reloaded_tiny_run(
        tiny_corpus,
        tmp_path,
        monkeypatch,
        stages,
        text_backbone={"sequence_length": 32, "top_from": 4},
        thresholds={"folds": 2},
        final_model="soup",
    )
    assert model_live_parts(predictor.model) == {"text"}
    assert len(nested_layers(predictor.model, "text_top")) == 1  # one network, not two folds
    assert "fusion_soup" in {layer.name for layer in predictor.model._flatten_layers()}
