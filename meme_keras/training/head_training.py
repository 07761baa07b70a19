"""Trains classifier heads on cached features (the frozen stage), and averages fold models."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path

import keras
import numpy as np

from meme_keras.models.heads import baseline_concat_head, fusion_head, text_head
from meme_keras.pipeline.feature_sets import FeatureSet
from meme_keras.pipeline.length_bucketed_batches import length_bucketed_dataset
from meme_keras.training.callbacks import (
    EpochClock,
    epochs_kept,
    stage_callbacks,
    validated_each_epoch,
)
from meme_keras.training.fitting import fit
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
    if kind == "text":
        return text_head(
            num_labels, text_width, image_width, image_cells, **model_config, name=name
        )
    raise ValueError(f"unknown model type {kind!r}; choose 'fusion', 'baseline_concat' or 'text'")


def monitoring_metrics(num_labels: int, threshold: float = 0.3) -> list[keras.metrics.Metric]:
    """Micro/macro F1 at `threshold` and PR-AUC averaged over labels (`pr_auc`).

    Monitoring only (decisions use tuned thresholds). Keras's macro F1 counts a label absent
    from gold and prediction as 0, the task's scorer as 1: the final scores use our scorer.
    `pr_auc` scores a label without positives 0, the same at every epoch.
    """
    return [
        keras.metrics.F1Score(average="micro", threshold=threshold, name="micro_f1"),
        keras.metrics.F1Score(average="macro", threshold=threshold, name="macro_f1"),
        keras.metrics.AUC(curve="PR", multi_label=True, num_labels=num_labels, name="pr_auc"),
    ]


def compile_model(
    model: keras.Model, config: dict, stage: dict, train_labels: np.ndarray
) -> keras.Model:
    """Nadam at the `stage`'s learning rate and steps per call, the configured loss (whose
    positive weights, if any, come from `train_labels`, `[n, techniques]`) and
    `monitoring_metrics`."""
    model.compile(
        optimizer=keras.optimizers.Nadam(learning_rate=stage["learning_rate"]),
        loss=make_loss(config["loss"], train_labels=train_labels),
        # Weighted: under MirroredStrategy, the zero-weight rows that pad the last batch must
        # not count (plain `metrics` ignore sample weights).
        weighted_metrics=monitoring_metrics(train_labels.shape[-1]),
        steps_per_execution=stage["steps_per_execution"],
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
    stage_epochs: list[int] | None = None,
    trace_key: Hashable | None = None,
) -> keras.Model:
    """Trains a head (new unless `model` is given) for one stage on cached features.
    `stage_epochs`, if given, gets the number of epochs behind the weights kept; `trace_key`
    is `fit`'s."""
    model = model or build_head(config, train, num_labels, name)
    compile_model(model, config, stage, train.labels)
    validation = validated_each_epoch(stage, validation)
    clock = EpochClock()  # shuffles epoch e by (seed, e): a resumed fit sees the same batches
    callbacks = stage_callbacks(config, stage, log_dir, validation is not None, clock)
    fit(
        model,
        length_bucketed_dataset(train, config["batch_size"], seed=config["seed"], clock=clock),
        None if validation is None else length_bucketed_dataset(validation, 64, shuffle=False),
        epochs=stage["epochs"],
        callbacks=callbacks,
        verbose=verbose,
        trace_key=trace_key,
    )
    if stage_epochs is not None:
        stage_epochs.append(epochs_kept(callbacks, stage["epochs"]))
    return model
