"""Typed configs: every shipped config loads under its own name, and every mistake in a key or
value, top level or nested, is one line naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from meme_keras.config import (
    ConfigError,
    SpansConfig,
    TechniquesConfig,
    TextTechniquesConfig,
    load_config,
    make_config,
    span_config,
)
from meme_keras.tasks import TASKS

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "experiments" / "configs").glob("*.yaml"))


def test_there_are_configs_for_every_task():
    assert {load_config(path).task for path in CONFIGS} == set(TASKS)


@pytest.mark.parametrize("path", CONFIGS, ids=[path.stem for path in CONFIGS])
def test_shipped_config_is_valid(path):
    config = load_config(path)
    assert config.name == path.stem  # runs/<name>/ is where the scripts look for it
    assert isinstance(config, TASKS[config.task].load_config_type())
    # What a run folder stores reads back as the same config.
    assert type(config).from_dict(yaml.safe_load(yaml.safe_dump(config.to_dict()))) == config


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("task: techniques\nbatch_sise: 8\n", "batch_sise"),
        ("model: {type: fusion, hiden_dim: 8}\n", "model.hiden_dim"),
        (
            "stages:\n  - {name: frozen, train: [], epochs: 2, learning_rate: 0.1, patiance: 2}\n",
            "stages[0].patiance",
        ),
        ("thresholds: {select_rule: {micro_tolerence: 0.01}}\n", "thresholds.select_rule"),
        ("frozen_companion: {epochs: 8}\n", "frozen_companion.learning_rate"),
        ("task: spans\ngrid: {alpha: [1.0], smoothing: [0.1]}\n", "grid.smoothing"),
        ("task: text_techniques\nmodel: {type: fusion}\n", "model.type"),
    ],
)
def test_a_typo_names_the_file_and_the_key(tmp_path, text, key):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ")
    assert key in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("batch_size: many\n", "batch_size: expected an integer"),
        ("loss: {type: hinge}\n", "loss.type: must be one of"),
        ("early_stopping_monitor: val_accuracy\n", "early_stopping_monitor: must be one of"),
        (
            "stages:\n  - {name: f, train: [], epochs: 1, learning_rate: 0.1, monitor: loss}\n",
            "stages[0].monitor",
        ),
        ("stages:\n  - {name: t, train: [text], epochs: 1, learning_rate: 0.1}\n", "stages[0]"),
        ("stages:\n  - {name: t, train: [audio], epochs: 1, learning_rate: 0.1}\n", "train[0]"),
        ("frozen_companion: {epochs: 0, learning_rate: 0.1}\n", "frozen_companion"),
        ("task: memes\n", "task: must be one of"),
        ("- a list\n", "a YAML mapping"),
        ("task: text_techniques\nimage_backbone: {name: resnet50}\n", "image_backbone"),
    ],
)
def test_a_bad_value_is_a_one_line_error(tmp_path, text, words):
    with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("]", r"\]")):
        load_config(write(tmp_path, text))


def test_defaults_live_in_the_dataclasses_and_partial_sections_keep_them():
    config = make_config({"model": {"hidden_dim": 8}})
    assert config.model.hidden_dim == 8 and config.model.num_heads == 4
    assert config["model"]["type"] == "fusion"  # also reads like the YAML mapping
    spans = span_config({"loss": {"label_smoothing": 0.2}})
    assert spans.loss.type == "focal" and spans.loss.alpha == 1.2  # the span task's default
    assert spans.loss.label_smoothing == 0.2
    assert isinstance(TechniquesConfig(), TechniquesConfig) and SpansConfig().task == "spans"
    assert TextTechniquesConfig().image_backbone is None


def test_yaml_numbers_without_a_dot_and_setting_keys_are_checked():
    config = make_config({"stages": [{"name": "f", "epochs": 1, "learning_rate": "5e-5"}]})
    assert config.stages[0].learning_rate == pytest.approx(5e-5)
    config["seed"] = 7
    assert config.seed == 7
    with pytest.raises(ConfigError, match="seed"):
        config["seed"] = "seven"
    with pytest.raises(ConfigError, match="unknown config key"):
        config["sead"] = 7
