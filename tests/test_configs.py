"""Every shipped experiment config loads, names valid stages, and runs under its own name."""

from __future__ import annotations

from pathlib import Path

import pytest

from meme_keras.training.classifier_run import rule_selection
from meme_keras.training.config import load_config
from meme_keras.training.fine_tuning import check_stages
from meme_keras.training.frozen_companion import companion_settings

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "experiments" / "configs").glob("*.yaml"))


def test_there_are_configs():
    assert any(path.stem == "main" for path in CONFIGS)


@pytest.mark.parametrize("path", CONFIGS, ids=[path.stem for path in CONFIGS])
def test_shipped_config_is_valid(path):
    config = load_config(path)
    assert config["name"] == path.stem  # runs/<name>/ is where the scripts look for it
    check_stages(config)  # raises on unknown or conflicting parts, or an unknown monitor
    rule_selection(config)  # raises on unknown keys
    companion_settings(config)
    assert config["stages"][0]["train"] == [], "the first stage trains the head on features"


def test_an_unknown_early_stopping_monitor_is_a_config_error():
    config = load_config(CONFIGS[0])
    check_stages({**config, "early_stopping_monitor": "val_pr_auc"})
    with pytest.raises(ValueError, match="monitor"):
        check_stages({**config, "early_stopping_monitor": "val_accuracy"})
    stages = [{**config["stages"][0], "monitor": "loss"}]
    with pytest.raises(ValueError, match="monitor"):
        check_stages({**config, "stages": stages})


def test_frozen_companion_settings_are_checked():
    config = load_config(CONFIGS[0])
    assert companion_settings({**config, "frozen_companion": None}) is None
    settings = {"epochs": 8, "learning_rate": 1e-3}
    assert companion_settings({**config, "frozen_companion": settings}) == settings
    for bad in ({"epochs": 8}, {**settings, "patience": 2}, {**settings, "epochs": 0}, 8):
        with pytest.raises(ValueError, match="frozen_companion"):
            companion_settings({**config, "frozen_companion": bad})
