"""Pieces both SavedModel exports build their serving graphs from."""

from __future__ import annotations

import tensorflow as tf


class KerasParts:
    """The Keras models a serving module calls (the run's model, frozen backbones), held out of
    the SavedModel's object graph, as `keras.export.ExportArchive` holds the models it tracks:
    saving would otherwise walk every Keras layer's attributes and trace each layer's own call
    functions (about half of a tiny run's export), which a loader of the signature never runs.
    The module tracks `variables` instead, which is what the signature captures."""

    def __init__(self, **models):
        self._models = {name: model for name, model in models.items() if model is not None}

    def __getattr__(self, name):
        try:
            return self.__dict__["_models"][name]
        except KeyError:
            raise AttributeError(name) from None

    def get(self, name: str):
        """The model called `name`, or None."""
        return self._models.get(name)

    @property
    def variables(self) -> list:
        """Every model's variables, each once."""
        seen, variables = set(), []
        for model in self._models.values():
            for variable in model.variables:
                if id(variable) not in seen:
                    seen.add(id(variable))
                    variables.append(variable)
        return variables


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
