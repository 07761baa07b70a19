"""The span tagger with the text backbone's upper layers fine-tuned in every fold.

At the chosen loss point, each fold's head is first trained on frozen features (as the frozen
path does), then trained on together with transformer layers `text_backbone.top_from` and up,
on the cached hidden states that the lower layers give (`split_text_backbone`): the lower
layers never run in training. The fold models are averaged and the frozen lower layers put
once under the average (`with_text_bottom`), so the saved model takes token ids; or one
network is trained the same way on all of train+dev (`refit_span_text_top`); or the fold
models, started from the same weights, are averaged weight by weight into one network
(`span_soup_on_tokens`).
"""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from meme_keras.backbones.adapted_text import text_preset
from meme_keras.backbones.text_backbones import (
    load_text_backbone,
    split_text_backbone,
    text_top_from,
)
from meme_keras.models.model_average import average_models, weight_averaged_model
from meme_keras.models.span_tagger import SpanTaggerHead
from meme_keras.pipeline.length_bucketed_batches import gathered_batches, length_bucketed_order
from meme_keras.pipeline.padded_length import padded_length
from meme_keras.pipeline.token_tags import TokenTagData, predict_tag_probabilities
from meme_keras.training.callbacks import training_callbacks
from meme_keras.training.fine_tuning import with_text_bottom
from meme_keras.training.folds import cross_validated
from meme_keras.training.loss_factory import make_loss
from meme_keras.training.span_training import fit_span_tagger
from meme_keras.training.traced_models import fit_reusing_trace, reusing_traces

LENGTH_STEP = 8  # batches are cut to a multiple of this many tokens


def span_tagger_on_top(head: SpanTaggerHead, config, name: str) -> keras.Model:
    """`head` over a fresh copy of the text backbone's top: inputs `text_cut_features`
    [batch, length, width] (the hidden states the top starts from) and `padding_mask`."""
    text = config["text_backbone"]
    backbone = load_text_backbone(text["name"], text_preset(text))
    _, top = split_text_backbone(backbone, text_top_from(backbone, text["top_from"]))
    inputs = {
        "text_cut_features": keras.Input((None, top.input[0].shape[-1]), name="text_cut_features"),
        "padding_mask": keras.Input((None,), dtype="int32", name="padding_mask"),
    }
    sequence = top([inputs["text_cut_features"], inputs["padding_mask"]])
    outputs = head({"text_features": sequence, "padding_mask": inputs["padding_mask"]})
    return keras.Model(inputs, outputs, name=name)


def cut_inputs(data: TokenTagData) -> dict[str, np.ndarray]:
    if data.cut_features is None:
        raise ValueError(
            "fine-tuning the text backbone's top needs the cut activations in the tag data "
            "(the span run computes them when fine_tune_text_top is set)"
        )
    return {"text_cut_features": data.cut_features, "padding_mask": data.padding_mask}


def length_bucketed_tag_batches(data: TokenTagData, batch_size: int, seed: int) -> tf.data.Dataset:
    """Shuffled batches `(inputs, tags, token weights)` of memes of similar length, each cut to
    its longest text (a multiple of `LENGTH_STEP`): most texts are short, and a transformer
    spends its work on padding too. One random stream, advancing from epoch to epoch."""
    inputs = cut_inputs(data)
    lengths = data.padding_mask.sum(axis=1)
    full_length = data.padding_mask.shape[1]
    rng = np.random.default_rng(seed)

    def batch_rows():
        for rows in length_bucketed_order(lengths, batch_size, rng, LENGTH_STEP):
            yield rows, padded_length(lengths[rows].max(), LENGTH_STEP, full_length)

    arrays = {
        "text_cut_features": (inputs["text_cut_features"], tf.float32),
        "padding_mask": (inputs["padding_mask"], tf.int32),
        "tags": (data.tags, tf.float32),
        "weights": (data.token_weights, tf.float32),
    }
    dataset = gathered_batches(arrays, set(arrays), batch_rows).map(
        lambda batch: (
            {name: batch[name] for name in ("text_cut_features", "padding_mask")},
            batch["tags"],
            batch["weights"],
        )
    )
    dataset = dataset.apply(
        tf.data.experimental.assert_cardinality(math.ceil(len(data) / batch_size))
    )
    return dataset.prefetch(2)


def fine_tune_span_top(
    model: keras.Model, train: TokenTagData, config, seed: int, log_dir: Path | None = None
) -> keras.Model:
    """Trains `model` (from `span_tagger_on_top`) with the `fine_tune` settings and the
    chosen loss, averaged over real text tokens; fixed epochs (held-out memes tune the token
    threshold instead of stopping early)."""
    settings = config["fine_tune"]
    model.compile(
        optimizer=keras.optimizers.Nadam(learning_rate=settings["learning_rate"]),
        loss=make_loss(config["loss"], reduction="mean_with_sample_weight"),
    )
    dataset = length_bucketed_tag_batches(train, settings["batch_size"], seed)
    fit_reusing_trace(
        "span_text_top",  # every fold's model is the same graph: traced once
        model,
        lambda fitted: fitted.fit(
            dataset,
            epochs=settings["epochs"],
            shuffle=False,  # the dataset shuffles itself
            callbacks=training_callbacks(log_dir, validation=False, patience=0),
            verbose=0,
        ),
    )
    return model


def cross_validate_span_text_top(
    pool: TokenTagData, config, num_techniques: int, log_dir: Path | None = None
) -> tuple[np.ndarray, list[keras.Model]]:
    """Out-of-fold probabilities [n, L, K] over `pool` and the fold models (on cut
    activations), each a head trained on frozen features, then with the backbone's top."""
    seed = config["seed"]

    def fit_fold(fold, train_indices, validation_indices):
        train = pool.subset(train_indices)
        fold_log = None if log_dir is None else Path(log_dir) / f"fold_{fold}"
        head = fit_span_tagger(
            train,
            config,
            num_techniques,
            None if fold_log is None else fold_log / "frozen",
            name=f"span_tagger_fold_{fold}",
        )
        model = span_tagger_on_top(head, config, f"span_tagger_top_fold_{fold}")
        fine_tune_span_top(
            model, train, config, seed + fold, None if fold_log is None else fold_log / "top"
        )
        validation = cut_inputs(pool.subset(validation_indices))
        return predict_tag_probabilities(model, validation), model

    with reusing_traces():
        return cross_validated(
            len(pool),
            config["folds"],
            seed,
            fit_fold,
            "span folds",
            same_start=config["final_model"] == "soup",
        )


def span_tagger_on_tokens(fold_models: list[keras.Model], config) -> keras.Model:
    """The fold models averaged, on token ids: the frozen lower layers of the backbone compute
    the cut activations once for all of them."""
    averaged = average_models(fold_models, "span_tagger_folds", output_name="tags")
    return with_text_bottom(averaged, config)


def span_soup_on_tokens(fold_models: list[keras.Model], config) -> keras.Model:
    """One network whose weights are the fold models' mean (`final_model: soup`; the folds
    started alike), on token ids: one model's compute, where the ensemble runs each top."""
    return with_text_bottom(weight_averaged_model(fold_models, "span_tagger_soup"), config)


def train_span_text_top(pool: TokenTagData, config, num_techniques: int) -> keras.Model:
    """One network trained as each fold's, on all of `pool` (fixed epochs: the folds tune only
    the token threshold), on cut activations."""
    keras.utils.set_random_seed(config["seed"])
    head = fit_span_tagger(pool, config, num_techniques, name="span_tagger_refit")
    model = span_tagger_on_top(head, config, "span_tagger_top_refit")
    return fine_tune_span_top(model, pool, config, config["seed"])


def refit_span_text_top(pool: TokenTagData, config, num_techniques: int) -> keras.Model:
    """`train_span_text_top` on all of train+dev, on token ids (`final_model: refit`)."""
    return with_text_bottom(train_span_text_top(pool, config, num_techniques), config)
