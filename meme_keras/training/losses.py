"""Multilabel losses with label smoothing: binary cross-entropy and a positive-weighted focal loss.

Both take sigmoid probabilities, smooth targets towards 0.5 (`t = y (1 - s) + s / 2`), average
over the last (technique) axis, and leave weighting to Keras: `sample_weight` of shape `[B]`
for memes, or `[B, L]` for per-token tags `[B, L, K]`, where 0 masks a padding token.
"""

from __future__ import annotations

import keras
from keras import ops


def _check_label_smoothing(label_smoothing: float) -> float:
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    return float(label_smoothing)


def _smooth(y_true, label_smoothing: float):
    return y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing


@keras.saving.register_keras_serializable(package="meme_keras")
class SmoothedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy on smoothed targets, averaged over the last axis.

    Args:
        label_smoothing: float in [0, 1]; targets become `y (1 - s) + s / 2`.
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
        reduction: str | None = "sum_over_batch_size",
        name: str = "smoothed_binary_crossentropy",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.label_smoothing = _check_label_smoothing(label_smoothing)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        return keras.losses.binary_crossentropy(
            y_true, y_pred, label_smoothing=self.label_smoothing, axis=-1
        )

    def get_config(self):
        config = super().get_config()
        config.update({"label_smoothing": self.label_smoothing, "dtype": self._dtype_policy.name})
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

    def call(self, y_true, y_pred):
        target = _smooth(ops.cast(y_true, y_pred.dtype), self.label_smoothing)
        epsilon = keras.backend.epsilon()
        probability = ops.clip(y_pred, epsilon, 1.0 - epsilon)
        positive = self.alpha * target * ops.power(1.0 - probability, self.gamma)
        positive = positive * ops.log(probability)
        negative = (1.0 - target) * ops.power(probability, self.gamma)
        negative = negative * ops.log(1.0 - probability)
        return -ops.mean(positive + negative, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "alpha": self.alpha,
                "gamma": self.gamma,
                "label_smoothing": self.label_smoothing,
                "dtype": self._dtype_policy.name,
            }
        )
        return config
