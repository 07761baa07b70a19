"""Mean over the real (unpadded) positions of a sequence."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="meme_keras")
class MaskedMeanPooling(keras.layers.Layer):
    """[batch, length, width] and an optional [batch, length] 0/1 mask -> [batch, width].

    A layer of our own because the mask arrives as a model input (int32, as keras-hub
    preprocessors give it), not as a Keras mask attached to the tensor.
    """

    def call(self, sequence, padding_mask=None):
        if padding_mask is None:
            return ops.mean(sequence, axis=1)
        weights = ops.expand_dims(ops.cast(padding_mask, sequence.dtype), -1)
        return ops.sum(sequence * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)

    def compute_output_shape(self, sequence_shape, padding_mask_shape=None):
        return (sequence_shape[0], sequence_shape[2])
