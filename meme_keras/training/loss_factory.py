"""Builds the configured loss: BCE or focal, both with label smoothing."""

from __future__ import annotations

from meme_keras.training.losses import SmoothedBinaryCrossentropy, SmoothedFocalLoss


def make_loss(loss_config: dict, reduction: str = "sum_over_batch_size"):
    kind = loss_config["type"]
    smoothing = loss_config["label_smoothing"]
    if kind == "bce":
        return SmoothedBinaryCrossentropy(label_smoothing=smoothing, reduction=reduction)
    if kind == "focal":
        return SmoothedFocalLoss(
            alpha=loss_config["alpha"],
            gamma=loss_config["gamma"],
            label_smoothing=smoothing,
            reduction=reduction,
        )
    raise ValueError(f"unknown loss type {kind!r}; choose 'bce' or 'focal'")
