"""Cross-validation over train+dev: out-of-fold probabilities for every meme and one model per
fold. Thresholds tuned on 750 out-of-fold predictions are steadier than on dev's 63 memes, and
the fold models averaged are the final model. With a frozen companion (`frozen_companion`), each
fold also trains one, and its out-of-fold probabilities are averaged in as the final model's
are."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from meme_keras.pipeline.classifier_inputs import predict_probabilities
from meme_keras.pipeline.feature_sets import FeatureSet
from meme_keras.pipeline.length_bucketed_batches import predict_features
from meme_keras.training.fine_tuning import train_stages
from meme_keras.training.folds import cross_validated
from meme_keras.training.frozen_companion import (
    COMPANION,
    companion_settings,
    fit_frozen_companion,
)
from meme_keras.training.traced_models import predict_reusing_trace


def text_only_rows(train_indices: np.ndarray, config: dict, fold: int = 0) -> np.ndarray:
    """The training rows whose text-only copies join the fold: `text_only_fraction` of them,
    drawn by (seed, fold)."""
    count = round(config["text_only_fraction"] * len(train_indices))
    rng = np.random.default_rng([config["seed"], fold])
    return np.sort(rng.choice(train_indices, size=count, replace=False))


def training_part(
    train: FeatureSet,
    train_indices: np.ndarray,
    config: dict,
    fold: int,
    extra: FeatureSet | None = None,
    text_only: FeatureSet | None = None,
) -> FeatureSet:
    """A fold's training memes (`train`, rows `train_indices` of the pool) with what joins
    every training part and never a validation part: text-only copies (`text_only`, row for
    row the pool without images) of `text_only_fraction` of them, and the `extra` memes."""
    parts = [train]
    if text_only is not None:
        parts.append(text_only.subset(text_only_rows(train_indices, config, fold)))
    if extra is not None:
        parts.append(extra)
    return train if len(parts) == 1 else FeatureSet.concatenate(parts)


def cross_validate(
    pool: FeatureSet,
    config: dict,
    num_labels: int,
    folds: int,
    log_dir: Path | None = None,
    verbose: int = 0,
    extra: FeatureSet | None = None,
    text_only: FeatureSet | None = None,
) -> tuple[np.ndarray, list[keras.Model], list[keras.Model], list[list[int]]]:
    """Out-of-fold probabilities [n, labels] over `pool`, the staged model trained for each
    fold, each fold's frozen companion (an empty list without one), and each fold's epochs
    per stage behind the weights kept. `extra` and `text_only` join each fold's training
    part as `training_part` says."""
    companions, stage_epochs = [], []

    def fit_fold(fold, train_indices, validation_indices):
        validation = pool.subset(validation_indices)
        train = training_part(
            pool.subset(train_indices), train_indices, config, fold, extra, text_only
        )
        fold_log = None if log_dir is None else Path(log_dir) / f"fold_{fold}"
        epochs: list[int] = []
        model = train_stages(
            train,
            validation,
            config,
            num_labels,
            log_dir=fold_log,
            name=f"{config['model']['type']}_fold_{fold}",
            verbose=verbose,
            stage_epochs=epochs,
        )
        stage_epochs.append(epochs)
        probabilities = predict_reusing_trace(
            "out_of_fold",
            model,
            lambda fold_model: predict_probabilities(fold_model, validation, config),
        )
        if companion_settings(config):
            companion = fit_frozen_companion(
                train,
                config,
                num_labels,
                None if fold_log is None else fold_log / "frozen_companion",
                name=f"frozen_companion_fold_{fold}",
                verbose=verbose,
            )
            # As the final model averages them (`with_frozen_companions`).
            companion_probabilities = predict_reusing_trace(
                (COMPANION, "out_of_fold"),
                companion,
                lambda fold_companion: predict_features(fold_companion, validation),
            )
            probabilities = (probabilities + companion_probabilities) / 2
            companions.append(companion)
        return probabilities, model

    out_of_fold, models = cross_validated(
        len(pool), folds, config["seed"], fit_fold, same_start=config["final_model"] == "soup"
    )
    return out_of_fold, models, companions, stage_epochs


def refit_epochs(fold_stage_epochs: list[list[int]]) -> list[int]:
    """Each stage's epochs for a model refit on all of train+dev: the median over the folds
    of the epochs early stopping kept (halves rounded up), at least 1."""
    per_stage = np.array(fold_stage_epochs, dtype=np.float64).T
    return [max(1, int(np.floor(np.median(epochs) + 0.5))) for epochs in per_stage]
