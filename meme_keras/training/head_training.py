"""Trains classifier heads on cached features, alone or as cross-validation folds.

Cross-validation over train+dev gives out-of-fold probabilities for every meme (to tune the
decision threshold on 750 memes instead of dev's 63) and one head per fold; the fold heads
averaged are the final model.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from meme_keras.models.heads import baseline_concat_head, fusion_head
from meme_keras.training.callbacks import training_callbacks
from meme_keras.training.feature_sets import FeatureSet
from meme_keras.training.length_bucketed_batches import LengthBucketedBatches, predict_features
from meme_keras.training.loss_factory import make_loss


def build_head(
    config: dict, features: FeatureSet, num_labels: int, name: str | None = None
) -> keras.Model:
    model_config = dict(config["model"])
    kind = model_config.pop("type")
    name = name or kind
    text_width = features.text_features.shape[-1]
    image_cells, image_width = features.image_features.shape[1:]
    if kind == "baseline_concat":
        return baseline_concat_head(
            num_labels, text_width, image_width, model_config["dropout"], name=name
        )
    if kind == "fusion":
        return fusion_head(
            num_labels, text_width, image_width, image_cells, **model_config, name=name
        )
    raise ValueError(f"unknown model type {kind!r}; choose 'fusion' or 'baseline_concat'")


def f1_metrics(threshold: float = 0.3) -> list[keras.metrics.Metric]:
    # Monitoring only (decisions use tuned thresholds). Keras's macro F1 counts a label absent
    # from gold and prediction as 0, the task's scorer as 1: the final scores use our scorer.
    return [
        keras.metrics.F1Score(average="micro", threshold=threshold, name="micro_f1"),
        keras.metrics.F1Score(average="macro", threshold=threshold, name="macro_f1"),
    ]


def compile_model(model: keras.Model, config: dict, learning_rate: float) -> keras.Model:
    model.compile(
        optimizer=keras.optimizers.Nadam(learning_rate=learning_rate),
        loss=make_loss(config["loss"]),
        metrics=f1_metrics(),
    )
    return model


def fit_head(
    train: FeatureSet,
    validation: FeatureSet | None,
    config: dict,
    stage: dict,
    num_labels: int,
    log_dir: Path | None = None,
    model: keras.Model | None = None,
    name: str | None = None,
    verbose: int = 0,
) -> keras.Model:
    """Trains a head (new unless `model` is given) for one stage on cached features."""
    model = model or build_head(config, train, num_labels, name)
    compile_model(model, config, stage["learning_rate"])
    model.fit(
        LengthBucketedBatches(train, config["batch_size"], seed=config["seed"]),
        validation_data=None
        if validation is None
        else LengthBucketedBatches(validation, 64, shuffle=False),
        epochs=stage["epochs"],
        callbacks=training_callbacks(
            log_dir, validation is not None, config["early_stopping_patience"]
        ),
        verbose=verbose,
    )
    return model


def fold_indices(num_examples: int, folds: int, seed: int) -> list[np.ndarray]:
    """A seeded shuffle of 0..n-1 cut into `folds` nearly equal validation folds."""
    order = np.random.default_rng(seed).permutation(num_examples)
    return [np.sort(fold) for fold in np.array_split(order, folds)]


def cross_validate_heads(
    pool: FeatureSet,
    config: dict,
    stage: dict,
    num_labels: int,
    folds: int,
    log_dir: Path | None = None,
    verbose: int = 0,
) -> tuple[np.ndarray, list[keras.Model]]:
    """Out-of-fold probabilities [n, labels] over `pool`, and the head trained for each fold."""
    out_of_fold = np.zeros(pool.labels.shape, np.float32)
    heads = []
    for fold, validation_indices in enumerate(fold_indices(len(pool), folds, config["seed"])):
        train_indices = np.setdiff1d(np.arange(len(pool)), validation_indices)
        validation = pool.subset(validation_indices)
        keras.utils.set_random_seed(config["seed"] + fold)
        head = fit_head(
            pool.subset(train_indices),
            validation,
            config,
            stage,
            num_labels,
            log_dir=None if log_dir is None else Path(log_dir) / f"fold_{fold}",
            name=f"{config['model']['type']}_fold_{fold}",
            verbose=verbose,
        )
        out_of_fold[validation_indices] = predict_features(head, validation)
        heads.append(head)
    return out_of_fold, heads


def average_heads(heads: list[keras.Model], name: str = "fold_ensemble") -> keras.Model:
    """One model whose output is the mean of the heads' probabilities (same inputs)."""
    if len(heads) == 1:
        return heads[0]
    inputs = {
        name_: keras.Input(tensor.shape[1:], dtype=tensor.dtype, name=name_)
        for name_, tensor in heads[0].input.items()
    }
    outputs = keras.layers.Average(name="probabilities")([head(inputs) for head in heads])
    return keras.Model(inputs, outputs, name=name)
