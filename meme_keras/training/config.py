"""Experiment configs: YAML files merged over the defaults below (the report's setup lives in
`experiments/configs/`, as configs, not code paths)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

DEFAULT_CONFIG = {
    "name": "main",
    "seed": 42,
    "data_dir": None,
    "image_backbone": {
        "name": "efficientnet_lite0",
        "weights": "imagenet",
        "image_size": None,
        # Where an `image_top` stage cuts the backbone (None: the backbone's own `top_from`).
        "top_from": None,
    },
    "text_backbone": {"name": "all_minilm_l6_v2", "preset": None, "sequence_length": 128},
    "model": {
        "type": "fusion",  # "fusion" (proposed) or "baseline_concat"
        "hidden_dim": 256,
        "num_layers": 1,
        "num_heads": 4,
        "intermediate_dim": 512,
        "dropout": 0.3,
    },
    # positive_weight_power > 0 weights each technique's positives by its rarity in the
    # training memes (losses.balanced_positive_weights), at most max_positive_weight.
    "loss": {
        "type": "bce",
        "label_smoothing": 0.1,
        "alpha": 1.0,
        "gamma": 2.0,
        "positive_weight_power": 0.0,
        "max_positive_weight": 10.0,
    },
    "batch_size": 16,
    # Staged fine-tuning: each stage names what is trainable besides the head: [] ("frozen",
    # the head on cached features), "text", "image" (the whole image backbone, on decoded
    # images) or "image_top" (its top only, on cached activations of the layer it starts at).
    "stages": [{"name": "frozen", "train": [], "epochs": 40, "learning_rate": 5e-5}],
    # A second head per model, trained on the frozen features for a fixed number of epochs and
    # averaged with the staged model (training.frozen_companion): null, or
    # {"epochs": 8, "learning_rate": 1.0e-3}.
    "frozen_companion": None,
    "early_stopping_patience": 8,
    # What early stopping watches (a stage may set its own "monitor"): "val_loss", or
    # "val_pr_auc", the validation PR-AUC averaged over techniques, which every technique
    # moves as much as the frequent ones that dominate the loss.
    "early_stopping_monitor": "val_loss",
    # Each fit backs up every epoch (keras.callbacks.BackupAndRestore) so a killed run resumes.
    "backup_and_restore": True,
    # Thresholds are tuned on out-of-fold probabilities over train+dev ("folds") or on dev.
    "thresholds": {
        "tune_on": "folds",
        "folds": 5,
        "mode": "global",
        "objective": "micro",
        "macro_weight": 0.0,
        "min_support": 10,
        "min_labels_per_meme": 1,
        # When set, the rule (mode, objective, macro_weight) is not taken from above but chosen
        # among thresholds.CANDIDATE_RULES by cross-validation over the tuning rows: the best
        # macro-F1 among rules within `micro_tolerance` of the best micro-F1.
        "select_rule": None,  # or {"micro_tolerance": 0.005, "folds": 5, "repeats": 5}
    },
    "strategy": "default",  # or "mirrored"
}


def _merge(base: dict, override: dict, where: str) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if key not in base:
            raise ValueError(f"{where}: unknown config key {key!r}; known: {sorted(base)}")
        if isinstance(base[key], dict) and isinstance(value, dict):
            merged[key] = _merge(base[key], value, f"{where}.{key}")
        else:
            merged[key] = value
    return merged


def make_config(overrides: dict | None = None, defaults: dict = DEFAULT_CONFIG) -> dict:
    """The defaults with `overrides` applied; unknown keys are errors, not silently ignored."""
    return _merge(defaults, overrides or {}, "config")


def load_config(path: str | Path, defaults: dict = DEFAULT_CONFIG) -> dict:
    path = Path(path)
    try:
        overrides = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot read config ({error})") from None
    if not isinstance(overrides, dict):
        raise ValueError(f"{path}: a config is a YAML mapping")
    try:
        return make_config(overrides, defaults)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
