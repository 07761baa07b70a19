"""The cross-validation every task uses: a seeded split of train+dev into validation folds,
and one loop over them.

Extra training rows, when a run has them, never enter a validation fold: folds index the
corpus's own rows only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import keras
import numpy as np

from meme_keras.progress import tracked
from meme_keras.training.garbage import collect_garbage

log = logging.getLogger(__name__)
M = TypeVar("M")


def fold_indices(num_examples: int, folds: int, seed: int) -> list[np.ndarray]:
    """A seeded shuffle of 0..n-1 cut into `folds` nearly equal validation folds."""
    order = np.random.default_rng(seed).permutation(num_examples)
    return [np.sort(fold) for fold in np.array_split(order, folds)]


def fold_splits(
    num_examples: int, folds: int, seed: int
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(fold, training rows, validation rows) of each fold, in order."""
    for fold, validation in enumerate(fold_indices(num_examples, folds, seed)):
        yield fold, np.setdiff1d(np.arange(num_examples), validation), validation


def cross_validated(
    num_examples: int,
    folds: int,
    seed: int,
    fit_fold: Callable[[int, np.ndarray, np.ndarray], tuple[np.ndarray, M]],
    description: str = "folds",
    same_start: bool = False,
) -> tuple[np.ndarray, list[M]]:
    """The cross-validation loop every task runs: out-of-fold predictions and the fold models.

    `fit_fold(fold, training_rows, validation_rows)` trains a fold (with whatever joins its
    training part) and returns its predictions for the validation rows (any shape after the
    first axis) and its model (or models). Each fold starts from the seed `seed + fold`, or
    with `same_start` from `seed` itself: every fold's new weights start alike, so that the
    fold models can be averaged weight by weight (a soup; their backbones start pretrained).
    """
    out_of_fold: np.ndarray | None = None
    models: list[M] = []
    splits = fold_splits(num_examples, folds, seed)
    for fold, train_indices, validation_indices in tracked(splits, description, total=folds):
        started = time.perf_counter()
        keras.utils.set_random_seed(seed if same_start else seed + fold)
        predictions, model = fit_fold(fold, train_indices, validation_indices)
        predictions = np.asarray(predictions, np.float32)
        if out_of_fold is None:
            out_of_fold = np.zeros((num_examples, *predictions.shape[1:]), np.float32)
        out_of_fold[validation_indices] = predictions
        models.append(model)
        collect_garbage()  # the fold's datasets, in reference cycles (see `garbage`)
        log.info(
            "%s: fold %d/%d trained in %.0f s",
            description,
            fold + 1,
            folds,
            time.perf_counter() - started,
        )
    return out_of_fold, models
