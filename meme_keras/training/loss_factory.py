"""Builds the configured loss: BCE or focal, both with label smoothing and optionally
class-balanced positive weights."""

from __future__ import annotations

import numpy as np

from meme_keras.losses import (
    SmoothedBinaryCrossentropy,
    SmoothedFocalLoss,
    balanced_positive_weights,
)


def make_loss(
    loss_config: dict,
    reduction: str = "sum_over_batch_size",
    train_labels: np.ndarray | None = None,
):
    """The loss of `loss_config`. With `positive_weight_power` > 0, each technique's positive
    pairs are weighted by `balanced_positive_weights` of `train_labels` (`[n, techniques]`, the
    memes this loss trains on), capped at `max_positive_weight`."""
    kind = loss_config["type"]
    smoothing = loss_config["label_smoothing"]
    power = loss_config.get("positive_weight_power", 0.0)
    positive_weights = None
    if power:
        if train_labels is None:
            raise ValueError("loss.positive_weight_power needs the training labels")
        positive_weights = balanced_positive_weights(
            train_labels, power, loss_config.get("max_positive_weight", 10.0)
        )
    if kind == "bce":
        return SmoothedBinaryCrossentropy(
            label_smoothing=smoothing, positive_weights=positive_weights, reduction=reduction
        )
    if kind == "focal":
        return SmoothedFocalLoss(
            alpha=loss_config["alpha"],
            gamma=loss_config["gamma"],
            label_smoothing=smoothing,
            positive_weights=positive_weights,
            reduction=reduction,
        )
    raise ValueError(f"unknown loss type {kind!r}; choose 'bce' or 'focal'")
