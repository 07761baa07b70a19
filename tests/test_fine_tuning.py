"""Staged fine-tuning on a tiny corpus: frozen head, then the text backbone unfrozen."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from meme_keras.config import make_config
from meme_keras.data.corpus import load_split
from meme_keras.inference.technique_model import TechniqueModel
from meme_keras.pipeline.classifier_inputs import model_live_parts
from meme_keras.training.classifier_run import run_classifier
from meme_keras.training.fine_tuning import stage_parts

TINY_MODEL = {"hidden_dim": 16, "num_heads": 2, "intermediate_dim": 16, "dropout": 0.1}


def tiny_config(tiny_corpus, **overrides):
    return make_config(
        {
            "name": "tiny_fine_tuned",
            "data_dir": str(tiny_corpus),
            "model": TINY_MODEL,
            "text_backbone": {"sequence_length": 32},
            "thresholds": {"tune_on": "dev"},
            **overrides,
        }
    )


def reloaded_tiny_run(tiny_corpus, tmp_path, monkeypatch, stages, **overrides):
    """Trains a tiny run of `stages`, reloads it, and checks the reloaded model reproduces the
    run's test probabilities; returns (predictor, test memes, their probabilities)."""
    monkeypatch.setenv("MEME_KERAS_CACHE", str(tmp_path / "cache"))
    run_classifier(tiny_config(tiny_corpus, stages=stages, **overrides), tmp_path / "run")
    predictor = TechniqueModel(tmp_path / "run")
    memes = load_split("test", 3, tiny_corpus)
    probabilities = predictor.probabilities(memes)
    assert np.allclose(
        probabilities, np.load(tmp_path / "run" / "probabilities_test.npy"), atol=1e-5
    )
    return predictor, memes, probabilities


def changed_layers(models, reference) -> set[str]:
    """Names of the layers of `models` whose weights differ from `reference`'s same-named one."""
    return {
        layer.name
        for model in models
        for layer in model.layers
        if layer.weights
        for a, b in zip(
            layer.get_weights(), reference.get_layer(layer.name).get_weights(), strict=True
        )
        if not np.allclose(a, b)
    }


def test_stage_parts_rejects_unknown_parts():
    assert stage_parts({"name": "both", "train": ["text", "image"]}) == {"text", "image"}
    with pytest.raises(ValueError, match="'train' may list only"):
        stage_parts({"name": "x", "train": ["audio"]})


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


def nested_layers(model, name_or_type):
    """Layers called `name_or_type` (or of that class) anywhere inside `model` (models nest as
    layers)."""
    found = []
    for layer in model.layers:
        if layer.name == name_or_type or type(layer) is name_or_type:
            found.append(layer)
        elif hasattr(layer, "layers"):
            found.extend(nested_layers(layer, name_or_type))
    return found


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


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    from meme_keras.training.classifier_run import run_classifier
    from meme_keras.config import make_config
    from meme_keras.training.distribution import make_strategy
    assert make_strategy("mirrored").num_replicas_in_sync == 2
    config = make_config(json.loads(sys.argv[1]))
    metrics = run_classifier(config, sys.argv[2])
    print(json.dumps(metrics["test"]))
    """
)


def test_mirrored_strategy_trains_and_saves_on_two_logical_cpus(tiny_corpus, tmp_path):
    config = tiny_config(
        tiny_corpus,
        strategy="mirrored",
        stages=[{"name": "frozen", "train": [], "epochs": 2, "learning_rate": 1e-3}],
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            MIRRORED_SCRIPT,
            json.dumps(config.to_dict()),
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        env={
            "MEME_KERAS_CACHE": str(tmp_path / "cache"),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert result.returncode == 0, result.stderr[-6000:]
    assert (tmp_path / "run" / "model.keras").stat().st_size > 0
    assert 0.0 <= json.loads(result.stdout.strip().splitlines()[-1])["micro_f1"] <= 1.0


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
