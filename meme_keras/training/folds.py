"""The cross-validation folds every task uses: a seeded split of train+dev into validation folds.

Extra training rows, when a run has them, never enter a validation fold: folds index the
corpus's own rows only.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


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
