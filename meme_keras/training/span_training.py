"""Trains the span tagger on cached frozen features: targets, folds, the loss grid, thresholds.

Gold character spans become per-token multi-hot targets through the encoder's character
offsets; only real text tokens count in the loss (a per-token `sample_weight`, 0 for padding,
[CLS] and [SEP]). Choices (loss point, token threshold) are made on out-of-fold probabilities
over train+dev, scored with the task's span F1 after decoding to character spans.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from meme_keras.evaluation.span_f1 import SpanScores, span_scores
from meme_keras.models.model_average import average_models
from meme_keras.models.span_tagger import SpanTaggerHead, span_tagger_with_backbone
from meme_keras.pipeline.token_tags import (
    TokenTagData,
    decode_spans,
    predict_tag_probabilities,
)
from meme_keras.training.callbacks import training_callbacks
from meme_keras.training.folds import cross_validated
from meme_keras.training.loss_factory import make_loss
from meme_keras.training.span_decoder import sweep_row
from meme_keras.training.traced_models import fit_reusing_trace, reusing_traces

log = logging.getLogger(__name__)


def lost_gold_characters(data: TokenTagData, techniques: Sequence[str]) -> float:
    """Fraction of gold span characters that no tagged token covers (tokenization/truncation)."""
    column = {technique: k for k, technique in enumerate(techniques)}
    total = lost = 0
    for i, meme in enumerate(data.memes):
        for span in meme.spans:
            covered = np.zeros(span.end - span.start, bool)
            for start, end in data.offsets[i][data.tags[i, :, column[span.technique]] > 0]:
                covered[
                    max(start, span.start) - span.start : max(0, min(end, span.end) - span.start)
                ] = True
            non_space = np.array([not c.isspace() for c in span.fragment(meme.text)], bool)
            total += non_space.sum()
            lost += (non_space & ~covered).sum()
    return float(lost / total) if total else 0.0


# --- Training ------------------------------------------------------------------------------


def build_span_tagger(
    config: dict, feature_dim: int, num_techniques: int, name: str = "span_tagger_head"
) -> SpanTaggerHead:
    return SpanTaggerHead(
        num_techniques=num_techniques, feature_dim=feature_dim, name=name, **config["model"]
    )


def token_rows(data: TokenTagData) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every real text token as a sequence of one: inputs [N, 1, d] and targets [N, 1, K].

    A position-wise head (no transformer layers) sees each token alone, so training on these
    rows is the same model and loss as on padded sequences (the loss averages over real tokens
    either way), with no compute spent on padding.
    """
    real = data.token_weights > 0
    inputs = {
        "text_features": data.features[real][:, None, :],
        "padding_mask": np.ones((int(real.sum()), 1), np.int32),
    }
    return inputs, data.tags[real][:, None, :]


def _training_arrays(data: TokenTagData, config: dict, position_wise: bool):
    """(inputs, targets, sample weights, batch size) for `fit`."""
    if position_wise:
        inputs, targets = token_rows(data)
        weights = np.ones(targets.shape[:2], np.float32)
        # About as many tokens per step as `batch_size` memes have.
        mean_tokens = max(1, round(float(data.token_weights.sum(1).mean())))
        return inputs, targets, weights, config["batch_size"] * mean_tokens
    return data.head_inputs(), data.tags, data.token_weights, config["batch_size"]


def fit_span_taggers(
    train: TokenTagData,
    configs: Sequence[dict],
    num_techniques: int,
    log_dir: Path | None = None,
    names: Sequence[str] | None = None,
    verbose: int = 0,
) -> list[SpanTaggerHead]:
    """New heads, one per config, trained on `train`'s cached features side by side.

    The heads share only their inputs: their weights are disjoint, so each gets the gradients
    it would get alone (Nadam adapts per weight), and one `fit` amortizes the per-step
    overhead that dominates such small heads on CPU. The configs must agree on the optimizer,
    epochs and batch size; each brings its own head and loss.
    """
    shared = ("learning_rate", "epochs", "batch_size", "steps_per_execution")
    for config in configs:
        if any(config[key] != configs[0][key] for key in shared):
            raise ValueError(f"configs trained together must share {shared}")
    names = names or [f"span_tagger_{i}" for i in range(len(configs))]
    feature_dim = train.features.shape[-1]
    heads = [
        build_span_tagger(config, feature_dim, num_techniques, name)
        for config, name in zip(configs, names, strict=True)
    ]
    position_wise = all(head.num_transformer_layers == 0 for head in heads)
    inputs, targets, weights, batch_size = _training_arrays(train, configs[0], position_wise)
    model_inputs = {
        "text_features": keras.Input((None, feature_dim), name="text_features"),
        "padding_mask": keras.Input((None,), dtype="int32", name="padding_mask"),
    }
    together = keras.Model(model_inputs, [head(model_inputs) for head in heads])
    together.compile(
        optimizer=keras.optimizers.Nadam(learning_rate=configs[0]["learning_rate"]),
        # Averaged over real tokens only: the per-token sample_weight is the mask.
        loss=[make_loss(c["loss"], reduction="mean_with_sample_weight") for c in configs],
        steps_per_execution=configs[0]["steps_per_execution"],
    )
    fit_reusing_trace(
        ("span_taggers", len(heads)),  # the same heads in every fold: traced once
        together,
        lambda fitted: fitted.fit(
            inputs,
            [targets] * len(heads),
            sample_weight=[weights] * len(heads),
            batch_size=batch_size,
            epochs=configs[0]["epochs"],
            shuffle=True,
            # Fixed epochs, no early stopping: held-out memes tune the threshold instead.
            callbacks=training_callbacks(log_dir, validation=False, patience=0),
            verbose=verbose,
        ),
    )
    return heads


def fit_span_tagger(
    train: TokenTagData,
    config: dict,
    num_techniques: int,
    log_dir: Path | None = None,
    name: str = "span_tagger_head",
    verbose: int = 0,
) -> SpanTaggerHead:
    """A new head trained on `train`'s cached features for `config["epochs"]` epochs."""
    return fit_span_taggers(train, [config], num_techniques, log_dir, [name], verbose)[0]


def cross_validate_span_taggers(
    pool: TokenTagData,
    configs: Sequence[dict],
    num_techniques: int,
    folds: int,
    seed: int,
    log_dir: Path | None = None,
    extra: TokenTagData | None = None,
) -> tuple[list[np.ndarray], list[list[SpanTaggerHead]]]:
    """For each config, out-of-fold probabilities [n, L, K] over `pool` and its fold heads.
    `extra` joins every fold's training part, never a validation part."""

    def fit_fold(fold, train_indices, validation_indices):
        train = pool.subset(train_indices)
        fold_heads = fit_span_taggers(
            train if extra is None else TokenTagData.concatenate([train, extra]),
            configs,
            num_techniques,
            log_dir=None if log_dir is None else Path(log_dir) / f"fold_{fold}",
            names=[f"span_tagger_{i}_fold_{fold}" for i in range(len(configs))],
        )
        inputs = pool.subset(validation_indices).head_inputs()
        # [rows, configs, L, K]: one out-of-fold array holds every config's probabilities.
        probabilities = [predict_tag_probabilities(head, inputs) for head in fold_heads]
        return np.stack(probabilities, axis=1), fold_heads

    with reusing_traces():
        out_of_fold, fold_heads = cross_validated(len(pool), folds, seed, fit_fold, "span folds")
    heads = [[fold[i] for fold in fold_heads] for i in range(len(configs))]
    return [out_of_fold[:, i] for i in range(len(configs))], heads


def cross_validate_span_tagger(
    pool: TokenTagData,
    config: dict,
    num_techniques: int,
    log_dir: Path | None = None,
    extra: TokenTagData | None = None,
) -> tuple[np.ndarray, list[SpanTaggerHead]]:
    """Out-of-fold probabilities [n, L, K] over `pool` and the head of each fold."""
    out_of_fold, heads = cross_validate_span_taggers(
        pool, [config], num_techniques, config["folds"], config["seed"], log_dir, extra
    )
    return out_of_fold[0], heads[0]


def fine_tune_span_tagger(
    backbone: keras.Model,
    head: SpanTaggerHead,
    train: TokenTagData,
    config: dict,
    log_dir: Path | None = None,
    verbose: int = 0,
) -> keras.Model:
    """The live backbone + `head` (e.g. trained on frozen features), trained end to end.

    Uses `config["fine_tune"]` (the report's Nadam 5e-5) and the chosen loss; inputs are the
    encoder's token ids, so `train.features` is not needed.
    """
    settings = config["fine_tune"]
    tagger = span_tagger_with_backbone(backbone, head)
    tagger.compile(
        optimizer=keras.optimizers.Nadam(learning_rate=settings["learning_rate"]),
        loss=make_loss(config["loss"], reduction="mean_with_sample_weight"),
    )
    tagger.fit(
        train.backbone_inputs(),
        train.tags,
        sample_weight=train.token_weights,
        batch_size=settings["batch_size"],
        epochs=settings["epochs"],
        shuffle=True,
        callbacks=training_callbacks(log_dir, validation=False, patience=0),
        verbose=verbose,
    )
    return tagger


def average_span_taggers(heads: list[keras.Model], name: str = "span_tagger_folds"):
    """One model averaging the fold heads' per-token probabilities (same inputs as a head)."""
    feature_dim = heads[0].input["text_features"].shape[-1]
    inputs = {
        "text_features": keras.Input((None, feature_dim), name="text_features"),
        "padding_mask": keras.Input((None,), dtype="int32", name="padding_mask"),
    }
    return average_models(heads, name, inputs, output_name="tags")


# --- Decoding, thresholds ------------------------------------------------------------------


def score_at(data, probabilities, techniques, threshold) -> SpanScores:
    return span_scores(decode_spans(data, probabilities, techniques, threshold), data.gold())


def sweep_span_threshold(
    data: TokenTagData,
    probabilities: np.ndarray,
    techniques: Sequence[str],
    thresholds: Sequence[float],
) -> pd.DataFrame:
    """Span precision, recall and F1 (and the span count) at each token threshold."""
    rows = [
        sweep_row(threshold, score_at(data, probabilities, techniques, float(threshold)))
        for threshold in thresholds
    ]
    return pd.DataFrame(rows)


def best_threshold(table: pd.DataFrame) -> float:
    """The threshold of the highest F1 (the lowest such threshold on ties)."""
    return float(table.loc[table["f1"].idxmax(), "threshold"])


# --- The report's grid ---------------------------------------------------------------------


def grid_points(config: dict) -> list[dict]:
    """The loss configs of the grid: a BCE baseline, then smoothing x alpha focal points."""
    gamma = config["loss"]["gamma"]
    points = [{"type": "bce", "label_smoothing": 0.0, "alpha": 1.0, "gamma": gamma}]
    for smoothing in config["grid"]["label_smoothing"]:
        for alpha in config["grid"]["alpha"]:
            points.append(
                {"type": "focal", "label_smoothing": smoothing, "alpha": alpha, "gamma": gamma}
            )
    return points


def run_loss_grid(
    pool: TokenTagData,
    config: dict,
    techniques: Sequence[str],
    extra: TokenTagData | None = None,
) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Cross-validates every grid point; returns the table and each point's OOF probabilities."""
    losses = grid_points(config)
    started = time.perf_counter()
    out_of_fold, _ = cross_validate_span_taggers(
        pool,
        [{**config, "loss": loss} for loss in losses],
        len(techniques),
        config["grid_folds"],
        config["seed"],
        extra=extra,
    )
    training_seconds = time.perf_counter() - started
    rows = []
    for loss, probabilities in zip(losses, out_of_fold, strict=True):
        sweep = sweep_span_threshold(pool, probabilities, techniques, config["grid_thresholds"])
        best = sweep.loc[sweep["f1"].idxmax()]
        rows.append(
            {
                "loss": loss["type"],
                "label_smoothing": loss["label_smoothing"],
                "alpha": loss["alpha"],
                "gamma": loss["gamma"] if loss["type"] == "focal" else 0.0,
                "threshold": float(best["threshold"]),
                "precision": float(best["precision"]),
                "recall": float(best["recall"]),
                "f1": float(best["f1"]),
            }
        )
    log.info("grid: %d points trained together in %.0f s", len(losses), training_seconds)
    return pd.DataFrame(rows), out_of_fold


def chosen_loss(grid: pd.DataFrame, config: dict) -> dict:
    """The loss config of the grid's best row (first on ties)."""
    row = grid.loc[grid["f1"].idxmax()]
    return {
        "type": row["loss"],
        "label_smoothing": float(row["label_smoothing"]),
        "alpha": float(row["alpha"]),
        "gamma": config["loss"]["gamma"],
    }
