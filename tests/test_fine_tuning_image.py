"""Fine-tuning the image backbone's top on cached activations, served on raw images."""

from __future__ import annotations

import numpy as np
import pytest
from fine_tuning_runs import changed_layers, nested_layers, reloaded_tiny_run

from meme_keras.pipeline.classifier_inputs import model_live_parts


@pytest.mark.heavy
def test_image_top_stage_trains_only_the_top_on_cached_activations(
    tiny_corpus, tmp_path, monkeypatch
):
    from meme_keras.backbones.image_backbones import load_image_backbone

    stages = [
        {"name": "frozen", "train": [], "epochs": 1, "learning_rate": 1e-3},
        {"name": "image_top", "train": ["image_top"], "epochs": 2, "learning_rate": 1e-3},
        # A text stage after it runs the tuned top, frozen, on the cut activations.
        {"name": "text", "train": ["text"], "epochs": 1, "learning_rate": 1e-3},
    ]
    predictor, memes, probabilities = reloaded_tiny_run(
        tiny_corpus,
        tmp_path,
        monkeypatch,
        stages,
        # Averaged in through pretrained copies of MiniLM and of the image top.
        frozen_companion={"epochs": 1, "learning_rate": 1e-3},
    )
    # The saved model takes raw images (one pretrained bottom under the tuned top): the
    # predictor and export need no cut activations.
    assert model_live_parts(predictor.model) == {"text", "image"}
    pretrained = load_image_backbone("efficientnet_lite0")
    (bottom,) = nested_layers(predictor.model, "efficientnet_lite0_bottom")

    # Two tops: the frozen companion's is the pretrained one, the staged model's is tuned.
    tops = nested_layers(predictor.model, "efficientnet_lite0_top")
    assert len(tops) == 2
    (companion_top,) = [top for top in tops if not changed_layers([top], pretrained)]
    (tuned_top,) = [top for top in tops if top is not companion_top]
    changed = changed_layers([tuned_top, bottom], pretrained)
    # Only the last block's and the head's convolutions moved; BatchNorm statistics did not.
    assert changed and changed <= {
        "blocks_15_expand_conv",
        "blocks_15_depthwise_conv",
        "blocks_15_project_conv",
        "conv_head",
    }
    # The SavedModel on raw inputs carries the bottom and the tuned top.
    import tensorflow as tf

    from meme_keras.export.saved_model import export_run

    served = tf.saved_model.load(str(export_run(tmp_path / "run", tmp_path / "saved_model")))
    outputs = served.signatures["serving_default"](
        image_bytes=tf.constant([meme.image_path.read_bytes() for meme in memes]),
        text=tf.constant([meme.text for meme in memes]),
    )
    assert np.allclose(outputs["probabilities"].numpy(), probabilities, atol=1e-4)
