"""The study's own setup as a config (`experiments/configs/report.yaml`): offline it stops at once
saying where the weights go; with tiny random-weight stand-ins of ResNet50 and ALBERT it runs
end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import meme_keras as mk
from meme_keras.cli import main as cli

REPORT = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "report.yaml"


def test_report_config_is_the_studys_setup():
    config = mk.load_config(REPORT)
    assert (config.image_backbone.name, config.text_backbone.name) == ("resnet50", "albert_large")
    assert {stage.learning_rate for stage in config.stages} == {5e-5}
    assert [stage.train for stage in config.stages] == [[], ["text"]]
    assert (config.loss.type, config.loss.label_smoothing) == ("bce", 0.1)
    assert config.thresholds.fixed == 0.28


def test_offline_the_report_config_says_where_to_put_the_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("MEME_KERAS_ALLOW_DOWNLOADS", raising=False)
    assert cli(["train", str(REPORT), "--output", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error
    assert "image_backbone.weights" in error and str(tmp_path / "keras_home" / "models") in error
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5").touch()
    assert cli(["train", str(REPORT), "--output", str(tmp_path / "run")]) == 2
    assert "text_backbone.preset" in capsys.readouterr().err


@pytest.mark.heavy  # about a minute: the staged run on ResNet50 and ALBERT stand-ins
def test_report_config_runs_end_to_end_on_tiny_stand_ins(
    tiny_corpus, tiny_albert_preset, tmp_path, monkeypatch
):
    monkeypatch.setenv("MEME_KERAS_CACHE", str(tmp_path / "cache"))
    config = mk.load_config(REPORT)
    config.data_dir = str(tiny_corpus)
    config.image_backbone.weights = None  # random weights: the real ones cannot be had here
    config.image_backbone.image_size = 64
    config.text_backbone.preset = str(tiny_albert_preset)
    config.text_backbone.sequence_length = 32
    config.model = config.model.replace(hidden_dim=16, num_heads=2, intermediate_dim=16)
    for stage in config.stages:
        stage.epochs = 1
    metrics = mk.train(config, output=tmp_path / "run", verbose=0)
    thresholds = json.loads((tmp_path / "run" / "thresholds.json").read_text())
    assert set(thresholds["thresholds"].values()) == {0.28}
    assert metrics["tuned_on"] == "dev" and 0.0 <= metrics["test"]["micro_f1"] <= 1.0
    model = mk.load(tmp_path / "run")
    assert "token_ids" in model.model.input  # the fine-tuned ALBERT is inside the saved model
    probabilities = np.load(tmp_path / "run" / "probabilities_test.npy")
    assert probabilities.shape == (5, 22)
