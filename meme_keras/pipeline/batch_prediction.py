"""`predict_batches`: a model's outputs over a dataset, on this worker alone."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def predict_batches(model: keras.Model, dataset: tf.data.Dataset) -> np.ndarray:
    """`model.predict(dataset)`, except across workers, where each worker predicts every batch
    itself: Keras's `predict` fails under MultiWorkerMirroredStrategy as its `fit` does, and
    predictions are cheap next to training (and so come out in the dataset's order)."""
    if not isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        return model.predict(dataset, verbose=0)
    forward = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)
    return np.concatenate([np.asarray(forward(batch[0])) for batch in dataset])
