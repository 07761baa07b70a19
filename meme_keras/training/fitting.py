"""`fit`: Keras's `model.fit`, or, across workers, the same epochs and callbacks in a loop of
our own.

Keras 3.15's `model.fit` fails under `MultiWorkerMirroredStrategy` (open upstream as
keras-team/keras#20585): before the first step it reduces a distributed input batch eagerly
("Attempt to convert a value (PerReplica ...)"), and each step it reduces scalar metrics along
axis 0. The model's own `train_step` and `test_step` work under `strategy.run`, so the loop
below calls them there and drives the callbacks as `fit` does: EarlyStopping, TensorBoard and
the resumable backup behave the same. Metrics are read in cross-replica context, which sums
their variables over every replica of every worker: each worker gets the same logs, so early
stopping stops every worker at the same epoch.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Hashable

import keras
import numpy as np
import tensorflow as tf

from meme_keras.training.distribution import is_multi_worker
from meme_keras.training.traced_models import fit_reusing_trace

log = logging.getLogger(__name__)


def fit(
    model: keras.Model,
    dataset: tf.data.Dataset,
    validation_data: tf.data.Dataset | None,
    epochs: int,
    callbacks: list[keras.callbacks.Callback],
    verbose: int = 0,
    trace_key: Hashable | None = None,
) -> keras.callbacks.History:
    """`model.fit(dataset, validation_data=..., epochs=..., callbacks=...)` under any strategy.

    `dataset` yields global batches `(inputs, labels[, sample_weights])`; across workers,
    each worker trains on every n-th row of each (see `worker_rows`). Within
    `reusing_traces()`, fits with the same `trace_key` share one traced model (one worker).
    """
    if not is_multi_worker():

        def fit_on_one_worker(fitted: keras.Model) -> keras.callbacks.History:
            with warnings.catch_warnings():
                # Fine-tuning datasets are length-bucketed generators of unknown size that end
                # with their epoch (see `classifier_dataset`); Keras warns each time one does.
                warnings.filterwarnings("ignore", message="Your input ran out of data")
                return fitted.fit(
                    dataset,
                    validation_data=validation_data,
                    epochs=epochs,
                    shuffle=False,  # our datasets shuffle themselves
                    callbacks=callbacks,
                    verbose=verbose,
                )

        return fit_reusing_trace(trace_key, model, fit_on_one_worker)
    return _fit_across_workers(model, dataset, validation_data, epochs, callbacks)


def _fit_across_workers(model, dataset, validation_data, epochs, callbacks):
    strategy = tf.distribute.get_strategy()
    _build(model, dataset)
    history = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList(
        [*callbacks, history], model=model, epochs=epochs, verbose=0, steps=None
    )
    train_step = tf.function(
        lambda batch: strategy.run(model.train_step, args=(batch,)), reduce_retracing=True
    )
    test_step = tf.function(
        lambda batch: strategy.run(model.test_step, args=(batch,)), reduce_retracing=True
    )
    training = _distribute(strategy, dataset)
    validation = None if validation_data is None else _distribute(strategy, validation_data)
    model.stop_training = False
    callback_list.on_train_begin()
    logs: dict = {}
    for epoch in range(model._initial_epoch or 0, epochs):  # set by a restored backup
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        for batch in training:
            train_step(batch)
        logs = _metric_results(model)
        if validation is not None:
            model.reset_metrics()
            for batch in validation:
                test_step(batch)
            logs.update({f"val_{name}": value for name, value in _metric_results(model).items()})
        callback_list.on_epoch_end(epoch, logs)
        log.info("epoch %d: %s", epoch + 1, {k: round(v, 4) for k, v in logs.items()})
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    return history


def _build(model: keras.Model, dataset: tf.data.Dataset) -> None:
    # What `fit` builds before its first step (compiled loss and metrics, optimizer slots),
    # from one local batch: variables must exist before `strategy.run` traces a step.
    # `_symbolic_build` is the step that upstream bug breaks; given a plain batch, it works.
    batch = next(iter(dataset))
    model._symbolic_build(data_batch=batch)


def _metric_results(model: keras.Model) -> dict[str, float]:
    return {
        name: float(np.asarray(value))
        for name, value in model.get_metrics_result().items()
        if np.ndim(value) == 0
    }


def _distribute(strategy: tf.distribute.Strategy, dataset: tf.data.Dataset):
    replicas = strategy.num_replicas_in_sync

    def replica_dataset(context: tf.distribute.InputContext) -> tf.data.Dataset:
        local = replicas // context.num_input_pipelines
        first = context.input_pipeline_id * local
        return dataset.flat_map(
            lambda *batch: tf.data.Dataset.range(first, first + local).map(
                lambda replica: worker_rows(batch, replica, replicas)
            )
        )

    options = tf.distribute.InputOptions(experimental_fetch_to_device=False)
    return strategy.distribute_datasets_from_function(replica_dataset, options)


def worker_rows(batch: tuple, replica, replicas: int) -> tuple:
    """Rows `replica`, `replica + replicas`, ... of a global batch `(inputs, labels[,
    weights])`, with sample weights. A batch whose size does not divide by `replicas` is first
    padded with copies of its first row at weight 0, so every replica gets a non-empty
    sub-batch of the same size (an empty one would make its mean loss NaN)."""
    inputs, labels = batch[0], batch[1]
    size = tf.shape(labels)[0]
    weights = batch[2] if len(batch) > 2 else tf.ones([size], tf.float32)
    padded = (size + replicas - 1) // replicas * replicas
    rows = tf.concat([tf.range(size), tf.zeros([padded - size], tf.int32)], axis=0)
    weights = tf.concat([weights, tf.zeros([padded - size], weights.dtype)], axis=0)
    taken = tf.range(tf.cast(replica, tf.int32), padded, replicas)
    pick = lambda tensor: tf.gather(tensor, tf.gather(rows, taken))  # noqa: E731
    return tf.nest.map_structure(pick, inputs), pick(labels), tf.gather(weights, taken)
