"""Inputs of a trained classifier (cached features, token ids, images or cut image
activations) as tf.data, and its probabilities in meme order."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from meme_keras.backbones.image_backbones import configured_image_size
from meme_keras.data.image_pipeline import decode_and_resize, image_source, read_image_bytes
from meme_keras.pipeline.batch_prediction import predict_batches
from meme_keras.pipeline.feature_sets import FeatureSet
from meme_keras.pipeline.length_bucketed_batches import (
    EpochSource,
    predict_features,
    shuffled_rows,
)

AUTOTUNE = tf.data.AUTOTUNE
TEXT_KEYS = frozenset(
    {"token_ids", "segment_ids", "padding_mask", "text_features", "text_cut_features"}
)
LENGTH_BUCKETS = [16, 24, 32, 48, 64, 96]


def classifier_dataset(
    features: FeatureSet,
    live: frozenset[str],
    image_size: int,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    with_labels: bool = True,
    clock: EpochSource | None = None,
) -> tf.data.Dataset:
    """Inputs for a composed classifier: token ids (or cut text activations, "text_top") and/or
    decoded images (or cut image activations, "image_top") where `live`.

    With `shuffle`, epoch e is shuffled by (seed, e): its epoch number comes from `clock` (a
    callback of the fit), so a fit resumed at epoch k sees the batches of an uninterrupted run.
    """
    inputs = {"padding_mask": features.padding_mask}
    for whole, raw in (("image", "raw images"), ("text", "token ids")):
        if {whole, f"{whole}_top"} <= live:
            raise ValueError(f"feed {raw} or cut {whole} activations, not both")
    if "text_top" in live:
        inputs["text_cut_features"] = cut_activations(features, "text")
    elif "text" in live:
        if features.token_ids is None:
            raise ValueError("fine-tuning the text backbone needs token ids in the feature set")
        inputs["token_ids"] = features.token_ids
        inputs["segment_ids"] = np.zeros_like(features.token_ids)
    else:
        inputs["text_features"] = features.text_features
    if "image" in live:
        inputs["images"] = np.array([image_source(meme.image_path) for meme in features.memes])
    elif "image_top" in live:
        inputs["image_cut_features"] = cut_activations(features, "image")
    else:
        inputs["image_features"] = features.image_features
    tensors = (inputs, features.labels) if with_labels else (inputs,)
    if shuffle:
        dataset = shuffled_rows(tensors, len(features), seed, clock)
    else:
        dataset = tf.data.Dataset.from_tensor_slices(tensors)

    def decode_and_trim(example, *labels):
        # Each meme's text inputs are cut to its own length; batches pad them back to their
        # longest text only (most texts are short: 21 tokens at the median, 101 at most).
        length = tf.reduce_sum(example["padding_mask"])
        example = {
            key: value[:length] if key in TEXT_KEYS else value for key, value in example.items()
        }
        if "image" in live:
            example["images"] = decode_and_resize(read_image_bytes(example["images"]), image_size)
        return (example, *labels)

    dataset = dataset.map(decode_and_trim, num_parallel_calls=AUTOTUNE)
    if shuffle:
        # Training batches hold texts of similar length (prediction keeps the memes' order).
        dataset = dataset.bucket_by_sequence_length(
            lambda example, *_: tf.shape(example["padding_mask"])[0],
            bucket_boundaries=LENGTH_BUCKETS,
            bucket_batch_sizes=[batch_size] * (len(LENGTH_BUCKETS) + 1),
        )
        # Its size is left unknown on purpose: given a known number of batches, Keras 3.15's
        # epoch iterator builds each next epoch's iterator at the end of an epoch (and throws it
        # away at the next epoch's start), and the fine-tuned folds then differ from a run that
        # reads each epoch to its end; see `fitting.fit` for the warning this causes.
    else:
        dataset = dataset.padded_batch(batch_size)
    return dataset.prefetch(AUTOTUNE)


def cut_activations(features: FeatureSet, backbone: str) -> np.ndarray:
    """The cached activations a `<backbone>_top` stage trains on ("text" or "image")."""
    cut = getattr(features, f"{backbone}_cut_features")
    if cut is None:
        raise ValueError(
            f"fine-tuning the {backbone} backbone's top needs its cut activations in the feature "
            f"set (build_feature_set computes them when a stage trains '{backbone}_top')"
        )
    return cut


def model_inputs(model: keras.Model) -> set[str]:
    return set(model.input) if isinstance(model.input, dict) else set()


def model_live_parts(model: keras.Model) -> frozenset[str]:
    """Which inputs a trained model takes besides cached features ("text": token ids,
    "text_top": cut text activations, "image": pixels, "image_top": cut image activations)."""
    names = model_inputs(model)
    return frozenset(
        part
        for part, key in (
            ("text", "token_ids"),
            ("text_top", "text_cut_features"),
            ("image", "images"),
            ("image_top", "image_cut_features"),
        )
        if key in names
    )


def predict_probabilities(model: keras.Model, features: FeatureSet, config: dict) -> np.ndarray:
    """Probabilities [memes, techniques] in meme order, for a head or a composed model."""
    live = model_live_parts(model)
    if not live:
        return predict_features(model, features)
    image = config["image_backbone"]
    image_size = None if image is None else configured_image_size(image)
    dataset = classifier_dataset(features, live, image_size, 32, with_labels=False)
    return predict_batches(model, dataset)
