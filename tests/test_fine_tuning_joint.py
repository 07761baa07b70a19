"""The joint stage: MiniLM and the image backbone's top fine-tuned together."""

from __future__ import annotations

import numpy as np
import pytest
from fine_tuning_runs import changed_layers, nested_layers, reloaded_tiny_run

from meme_keras.pipeline.classifier_inputs import model_live_parts


@pytest.mark.heavy
def test_joint_stage_trains_the_text_backbone_and_the_image_top_together(
    tiny_corpus, tmp_path, monkeypatch
):
    # main.yaml's last stage: MiniLM and the image top fine-tuned in the same epoch.
    from meme_keras.backbones.image_backbones import load_image_backbone
    from meme_keras.backbones.text_backbones import load_text_backbone

    stages = [
        {"name": "frozen", "train": [], "epochs": 1, "learning_rate": 1e-3},
        {"name": "both", "train": ["text", "image_top"], "epochs": 1, "learning_rate": 1e-3},
    ]
    predictor, _, _ = reloaded_tiny_run(tiny_corpus, tmp_path, monkeypatch, stages)
    assert model_live_parts(predictor.model) == {"text", "image"}
    pretrained_text = load_text_backbone("all_minilm_l6_v2")
    (tuned_text,) = nested_layers(predictor.model, type(pretrained_text))
    pairs = zip(pretrained_text.get_weights(), tuned_text.get_weights(), strict=True)
    assert any(not np.allclose(a, b) for a, b in pairs)
    (top,) = nested_layers(predictor.model, "efficientnet_lite0_top")
    assert changed_layers([top], load_image_backbone("efficientnet_lite0"))
