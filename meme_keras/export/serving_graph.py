"""Pieces both SavedModel exports build their serving graphs from."""

from __future__ import annotations

import tensorflow as tf


def assert_no_rows(bad: tf.Tensor, problem: str):
    """An assertion that fails naming the rows where `bad` (bool [batch]) holds."""
    rows = tf.where(bad)[:, 0]
    return tf.debugging.Assert(
        tf.equal(tf.size(rows), 0), [problem + " at rows", rows], summarize=20
    )


def text_model_inputs(wanted: set[str], token_ids, padding_mask, text_backbone=None) -> dict:
    """The text inputs of a model that takes `wanted`: packed token ids (for a fine-tuned
    backbone inside it) and/or the frozen `text_backbone`'s features."""
    text_inputs = {
        "token_ids": token_ids,
        "segment_ids": tf.zeros_like(token_ids),
        "padding_mask": padding_mask,
    }
    inputs = {name: text_inputs[name] for name in wanted & set(text_inputs)}
    if "text_features" in wanted:
        inputs["text_features"] = text_backbone(text_inputs, training=False)["sequence_output"]
    return inputs
