"""Multilabel losses with label smoothing: binary cross-entropy and a positive-weighted focal loss.

Both take sigmoid probabilities, smooth targets towards 0.5 (`t = y (1 - s) + s / 2`), average
over the last (technique) axis, and leave weighting to Keras: `sample_weight` of shape `[B]`
for memes, or `[B, L]` for per-token tags `[B, L, K]`, where 0 masks a padding token. Both can
also weight each technique's gold-positive pairs (`positive_weights`, see
`balanced_positive_weights`): Keras's losses weight a sample, not a label column's positives.

A target of `UNKNOWN_LABEL` (-1) marks a technique the example's corpus does not annotate (PTC
never marks Smears, for instance): its term is left out of the loss, neither positive nor
negative, and still counts in the average over techniques.

They live outside `meme_keras.training` because saved models name the loss they were compiled
with, and inference must load those models without the trainer.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

UNKNOWN_LABEL = -1.0


def _known(y_true):
    """1 where the target is a label (0 or 1), 0 where it is `UNKNOWN_LABEL`."""
    return ops.cast(y_true >= 0, y_true.dtype)


def _check_label_smoothing(label_smoothing: float) -> float:
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    return float(label_smoothing)


def _smooth(y_true, label_smoothing: float):
    return y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing


def _check_positive_weights(positive_weights) -> list[float] | None:
    if positive_weights is None:
        return None
    weights = [float(weight) for weight in np.ravel(positive_weights)]
    if not weights or not all(np.isfinite(weight) and weight > 0 for weight in weights):
        raise ValueError(f"positive_weights must be finite and > 0, got {weights}")
    return weights


def balanced_positive_weights(
    labels: np.ndarray, power: float, max_weight: float = 10.0
) -> np.ndarray:
    """Per-technique weights of gold-positive pairs: `((n - n_k + 1) / (n_k + 1)) ** power`,
    capped at `max_weight`, for `n` memes of which `n_k` show technique k.

    `power` 0 weights all 1; 1 balances a label's positives against its negatives (a label on
    1 meme in 100 weighs its positives ~50 times, up to the cap); 0.5 is in between. A common
    label's positives (`n_k > n / 2`) weigh less than 1.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty [n, techniques] matrix, got {labels.shape}")
    if power < 0 or max_weight <= 0:
        raise ValueError(f"power must be >= 0 and max_weight > 0, got {power} and {max_weight}")
    positives = labels.sum(axis=0).astype(np.float64)
    ratio = (len(labels) - positives + 1.0) / (positives + 1.0)
    return np.minimum(ratio**power, max_weight)


def _positive_example_weights(y_true, positive_weights):
    """`1 + (w_k - 1) y`: a gold-positive (meme, technique) pair weighs `w_k`, a negative 1.
    It weighs the pair's whole loss term by its gold label, not the smoothed target: weighing
    only `t log p` would also push a rare technique's negatives (t = s / 2) up."""
    weights = ops.convert_to_tensor(positive_weights, y_true.dtype)
    return 1.0 + (weights - 1.0) * y_true


@keras.saving.register_keras_serializable(package="meme_keras")
class SmoothedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy on smoothed targets, averaged over the last axis.

    Args:
        label_smoothing: float in [0, 1]; targets become `y (1 - s) + s / 2`.
        positive_weights: optional `[K]` weights of each technique's gold-positive pairs: the
            loss term of a (meme, technique k) pair whose gold label is 1 is multiplied by
            `w_k`; None weighs all 1.
        reduction: a Keras reduction. With per-token masks, `"mean_with_sample_weight"`
            averages over real tokens only; the default `"sum_over_batch_size"` still gives
            masked tokens zero loss but counts them in the denominator.
        name: loss name.
        dtype: computation dtype (defaults to `keras.backend.floatx()`).

    Examples:
    >>> loss = SmoothedBinaryCrossentropy(label_smoothing=0.1)
    >>> value = loss([[1.0, 0.0]], [[0.9, 0.2]])
    """

    def __init__(
        self,
        label_smoothing: float = 0.0,
        positive_weights=None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "smoothed_binary_crossentropy",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.label_smoothing = _check_label_smoothing(label_smoothing)
        self.positive_weights = _check_positive_weights(positive_weights)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        known = _known(y_true)
        y_true = y_true * known
        target = _smooth(y_true, self.label_smoothing)
        # Element-wise, so each pair can be weighed or left out (as
        # `keras.losses.binary_crossentropy`, which averages this over the last axis).
        elements = ops.binary_crossentropy(target, y_pred) * known
        if self.positive_weights is not None:
            elements = elements * _positive_example_weights(y_true, self.positive_weights)
        return ops.mean(elements, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "label_smoothing": self.label_smoothing,
                "positive_weights": self.positive_weights,
                "dtype": self._dtype_policy.name,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="meme_keras")
class SmoothedFocalLoss(keras.losses.Loss):
    """Focal loss whose `alpha` weights only the positive term, on smoothed targets.

    With `t = y (1 - s) + s / 2` and `p` the probability clipped to `[eps, 1 - eps]`:

        loss = -mean_k[alpha * t * (1 - p)^gamma * log(p) + (1 - t) * p^gamma * log(1 - p)]

    Negatives always have weight 1, so `alpha > 1` (the report's 1.2) up-weights positives.
    `keras.losses.BinaryFocalCrossentropy` instead weights negatives by `1 - alpha` (and only
    with `apply_class_balancing=True`), which turns negative for `alpha > 1`.
    `alpha=1, gamma=0` is plain binary cross-entropy.

    Args:
        alpha: weight of the positive term, >= 0.
        gamma: focusing exponent, >= 0.
        label_smoothing: float in [0, 1].
        positive_weights: optional `[K]` weights of each technique's gold-positive pairs (their
            whole term, on top of `alpha`), as in `SmoothedBinaryCrossentropy`.
        reduction: a Keras reduction (see `SmoothedBinaryCrossentropy` for masks).
        name: loss name.
        dtype: computation dtype (defaults to `keras.backend.floatx()`).

    Examples:
    >>> loss = SmoothedFocalLoss(alpha=1.2, gamma=2.0, label_smoothing=0.1)
    >>> value = loss([[1.0, 0.0]], [[0.9, 0.2]])
    """

    def __init__(
        self,
        alpha: float = 1.0,
        gamma: float = 2.0,
        label_smoothing: float = 0.0,
        positive_weights=None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "smoothed_focal_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if alpha < 0 or gamma < 0:
            raise ValueError(f"alpha and gamma must be >= 0, got {alpha} and {gamma}")
        self.alpha = float(alpha)
        self.gamma = float(gamma)
        self.label_smoothing = _check_label_smoothing(label_smoothing)
        self.positive_weights = _check_positive_weights(positive_weights)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        known = _known(y_true)
        y_true = y_true * known
        target = _smooth(y_true, self.label_smoothing)
        epsilon = keras.backend.epsilon()
        probability = ops.clip(y_pred, epsilon, 1.0 - epsilon)
        positive = self.alpha * target * ops.power(1.0 - probability, self.gamma)
        positive = positive * ops.log(probability)
        negative = (1.0 - target) * ops.power(probability, self.gamma)
        negative = negative * ops.log(1.0 - probability)
        elements = (positive + negative) * known
        if self.positive_weights is not None:
            elements = elements * _positive_example_weights(y_true, self.positive_weights)
        return -ops.mean(elements, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "alpha": self.alpha,
                "gamma": self.gamma,
                "label_smoothing": self.label_smoothing,
                "positive_weights": self.positive_weights,
                "dtype": self._dtype_policy.name,
            }
        )
        return config
