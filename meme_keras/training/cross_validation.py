"""Cross-validation over train+dev: out-of-fold probabilities for every meme and one model per
fold. Thresholds tuned on 750 out-of-fold predictions are steadier than on dev's 63 memes, and
the fold models averaged are the final model."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from meme_keras.training.feature_sets import FeatureSet
from meme_keras.training.fine_tuning import predict_probabilities, train_stages
from meme_keras.training.head_training import fold_indices


def cross_validate(
    pool: FeatureSet,
    config: dict,
    num_labels: int,
    folds: int,
    log_dir: Path | None = None,
    verbose: int = 0,
) -> tuple[np.ndarray, list[keras.Model]]:
    """Out-of-fold probabilities [n, labels] over `pool`, and the model trained for each fold."""
    out_of_fold = np.zeros(pool.labels.shape, np.float32)
    models = []
    for fold, validation_indices in enumerate(fold_indices(len(pool), folds, config["seed"])):
        train_indices = np.setdiff1d(np.arange(len(pool)), validation_indices)
        validation = pool.subset(validation_indices)
        keras.utils.set_random_seed(config["seed"] + fold)
        model = train_stages(
            pool.subset(train_indices),
            validation,
            config,
            num_labels,
            log_dir=None if log_dir is None else Path(log_dir) / f"fold_{fold}",
            name=f"{config['model']['type']}_fold_{fold}",
            verbose=verbose,
        )
        out_of_fold[validation_indices] = predict_probabilities(model, validation, config)
        models.append(model)
    return out_of_fold, models
