"""Helpers shared by the tests that train tiny runs: the tiny head, a tiny staged run trained
and reloaded."""

from __future__ import annotations

import numpy as np

from meme_keras.config import make_config
from meme_keras.data.corpus import load_split
from meme_keras.inference.technique_model import TechniqueModel
from meme_keras.training.classifier_run import run_classifier

TINY_MODEL = {"hidden_dim": 16, "num_heads": 2, "intermediate_dim": 16, "dropout": 0.1}
TINY_SPANS = {
    "task": "spans",
    "name": "spans",
    "model": {"hidden_dim": 16},
    "epochs": 1,
    "folds": 2,
    "grid_folds": 2,
    "grid": {"label_smoothing": [0.1], "alpha": [1.2]},
    "grid_thresholds": [0.4],
    "thresholds": {"start": 0.3, "stop": 0.5, "step": 0.1},
    "reference_classifier": {"epochs": 1},
}


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
