"""Batches of cached features trimmed to their longest text, for fast head training.

Texts are 21 tokens long at the median and 101 at most: padding every batch to the longest
text in the corpus wastes most of the transformer's work. Batches here hold memes of similar
length and are cut to a multiple of `length_step`, which keeps the number of distinct shapes
(and so of traced graphs) small.
"""

from __future__ import annotations

import itertools
import math
from typing import Protocol

import keras
import numpy as np
import tensorflow as tf

from meme_keras.pipeline.batch_prediction import predict_batches
from meme_keras.pipeline.feature_sets import FeatureSet
from meme_keras.pipeline.padded_length import padded_length
from meme_keras.pipeline.row_files import RowFile, take_rows


class EpochSource(Protocol):
    """Tells a dataset which epoch it is building (training's `EpochClock` callback)."""

    epoch: int


def length_bucketed_order(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None, length_step: int
) -> list[np.ndarray]:
    """Row indices per batch. With `rng`, sorting uses a random jitter of up to `length_step`
    tokens and the batch order is shuffled, so batches change from epoch to epoch."""
    jitter = 0 if rng is None else rng.uniform(0, length_step, len(lengths))
    order = np.argsort(lengths + jitter, kind="stable")
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


def length_bucketed_dataset(
    features: FeatureSet,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    length_step: int = 16,
    with_labels: bool = True,
    clock: EpochSource | None = None,
) -> tf.data.Dataset:
    """A tf.data pipeline of ({text_features, padding_mask, image_features}, labels) batches.

    With `clock` (a callback of the fit), epoch e is shuffled by (seed, e) alone, so a fit
    resumed at epoch e sees the batches an uninterrupted one would; without it, by one random
    stream that advances from epoch to epoch.
    """
    if _replicas() > 1:
        return _fixed_length_dataset(features, batch_size, shuffle, seed, with_labels, clock)
    lengths = features.padding_mask.sum(axis=1)
    rng = np.random.default_rng(seed) if shuffle else None
    full_length = features.padding_mask.shape[1]
    epoch_of = _epoch_reader(clock)

    def batch_rows():
        epoch_rng = rng
        if shuffle and epoch_of is not None:
            epoch_rng = np.random.default_rng([seed, epoch_of()])
        for rows in length_bucketed_order(lengths, batch_size, epoch_rng, length_step):
            yield rows, padded_length(lengths[rows].max(), length_step, full_length)

    arrays = {
        "text_features": (features.text_features, tf.float32),
        "padding_mask": (features.padding_mask, tf.int32),
        "image_features": (features.image_features, tf.float32),
    }
    if with_labels:
        arrays["labels"] = (features.labels, tf.float32)
    dataset = gathered_batches(arrays, {"text_features", "padding_mask"}, batch_rows)

    def split(batch):
        labels = batch.pop("labels", None)
        return (batch, labels) if with_labels else (batch,)

    dataset = dataset.map(split)
    # A generator has unknown length; telling tf.data lets Keras size its epochs and progress.
    dataset = dataset.apply(
        tf.data.experimental.assert_cardinality(math.ceil(len(features) / batch_size))
    )
    return dataset.prefetch(2)


def gathered_batches(arrays: dict, sequence_fields: set[str], batch_rows) -> tf.data.Dataset:
    """A dataset of batches `{name: rows of arrays[name]}`, one for each `(rows, length)` that
    `batch_rows()` yields; the arrays of `sequence_fields` are cut to `length` positions.

    `arrays`: name -> (numpy array or `RowFile`, dtype). tf.data never frees a generator
    (see `_epoch_reader`), so `batch_rows` must hold row numbers, not features: numpy arrays
    go into constants that go with the dataset, and a `RowFile`'s rows are read from disk
    batch by batch in the generator (which then holds only a file name and row numbers), so
    memory holds a batch of them, not all.
    """
    on_disk = {
        name: (array, dtype)
        for name, (array, dtype) in arrays.items()
        if isinstance(array, RowFile)
    }
    constants = {
        name: tf.constant(np.asarray(array), dtype)
        for name, (array, dtype) in arrays.items()
        if name not in on_disk
    }

    def batches():
        for rows, length in batch_rows():
            read = []
            for name, (array, dtype) in on_disk.items():
                if name in sequence_fields:
                    array = array[:, :length]  # reads only the positions kept
                read.append(array.take(rows).astype(dtype.as_numpy_dtype, copy=False))
            yield (rows, length, *read)

    signature = (
        tf.TensorSpec((None,), tf.int64),
        tf.TensorSpec((), tf.int64),
        *(
            tf.TensorSpec((None, *_tail(array, name in sequence_fields)), dtype)
            for name, (array, dtype) in on_disk.items()
        ),
    )

    def gather(rows, length, *read):
        batch = dict(zip(on_disk, read, strict=True))
        for name, constant in constants.items():
            rows_of = tf.gather(constant, rows)
            batch[name] = rows_of[:, :length] if name in sequence_fields else rows_of
        return {name: batch[name] for name in arrays}  # the order asked for

    return tf.data.Dataset.from_generator(batches, output_signature=signature).map(gather)


def _tail(array, sequence: bool) -> tuple:
    """A row's shape, the sequence axis of unknown length where `sequence`."""
    tail = tuple(array.shape[1:])
    return (None, *tail[1:]) if sequence else tail


class EpochCounter:
    """The epoch number alone: what a dataset's generator may hold of the fit's clock."""

    __slots__ = ("epoch",)

    def __init__(self, epoch: int = 0):
        self.epoch = epoch


def _epoch_reader(clock: EpochSource | None):
    """A function that reads `clock`'s epoch, holding only its `counter` (an `EpochCounter`)
    when it has one (None without a clock).

    tf.data never frees the generator of `Dataset.from_generator`, nor what it refers to
    (tensorflow/tensorflow#57690). The training clock is a callback of a fit, which refers to
    its model: held by a generator, every stage's model of every fold would stay in memory
    (gigabytes a fold when a backbone is fine-tuned).
    """
    if clock is None:
        return None
    source = getattr(clock, "counter", clock)
    return lambda: source.epoch


def shuffled_rows(tensors, count: int, seed: int, clock: EpochSource | None) -> tf.data.Dataset:
    """The `count` rows of `tensors` (a structure of arrays), in a new order each epoch: epoch
    e's from (seed, e), so a resumed fit sees the order an uninterrupted one would (without
    `clock`, the epochs are counted here)."""
    epochs = itertools.count()
    epoch_of = _epoch_reader(clock)

    def epoch_order():
        epoch = epoch_of() if epoch_of is not None else next(epochs)
        yield from np.random.default_rng([seed, epoch]).permutation(count)

    constants = tf.nest.map_structure(tf.constant, tensors)
    return tf.data.Dataset.from_generator(
        epoch_order, output_signature=tf.TensorSpec((), tf.int64)
    ).map(lambda row: tf.nest.map_structure(lambda t: tf.gather(t, row), constants))


def _replicas() -> int:
    return tf.distribute.get_strategy().num_replicas_in_sync


def _fixed_length_dataset(
    features, batch_size, shuffle, seed, with_labels, clock=None
) -> tf.data.Dataset:
    # Under a multi-replica strategy, Keras 3.15 / TF 2.21 fail on a batch that does not split
    # evenly across replicas (AddN shape error, even for a plain Dense model). So batches here
    # are multiples of the replica count: the batch size is rounded up, and the data is padded
    # with copies of the first meme that get sample weight 0 (and are cut from predictions).
    replicas = _replicas()
    batch_size = math.ceil(batch_size / replicas) * replicas
    padding = -len(features) % replicas
    rows = np.concatenate([np.arange(len(features)), np.zeros(padding, int)])
    weights = np.concatenate([np.ones(len(features)), np.zeros(padding)]).astype(np.float32)
    inputs = {  # whole arrays in memory: `RowFile` features are read here
        "text_features": take_rows(features.text_features, rows),
        "padding_mask": features.padding_mask[rows],
        "image_features": take_rows(features.image_features, rows),
    }
    tensors = (inputs, features.labels[rows], weights) if with_labels else (inputs,)
    if not shuffle:
        return tf.data.Dataset.from_tensor_slices(tensors).batch(batch_size).prefetch(2)
    dataset = (
        shuffled_rows(tensors, len(rows), seed, clock)
        .batch(batch_size)
        .apply(tf.data.experimental.assert_cardinality(math.ceil(len(rows) / batch_size)))
    )
    return dataset.prefetch(2)


def predict_features(model: keras.Model, features: FeatureSet, batch_size: int = 64) -> np.ndarray:
    """The model's outputs for every meme of `features`, in the memes' order."""
    dataset = length_bucketed_dataset(features, batch_size, shuffle=False, with_labels=False)
    outputs = predict_batches(model, dataset)
    if _replicas() > 1:
        return outputs[: len(features)]
    order = np.concatenate(
        length_bucketed_order(features.padding_mask.sum(axis=1), batch_size, None, 16)
    )
    in_order = np.empty_like(outputs)
    in_order[order] = outputs
    return in_order
