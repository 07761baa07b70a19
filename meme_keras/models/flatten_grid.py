"""[batch, height, width, channels] -> [batch, height * width, channels]."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="meme_keras")
class FlattenGrid(keras.layers.Layer):
    """Turns a backbone's feature grid into a sequence of cells (the head's image tokens)."""

    def call(self, grid):
        shape = ops.shape(grid)
        return ops.reshape(grid, (shape[0], shape[1] * shape[2], shape[3]))

    def compute_output_shape(self, grid_shape):
        cells = None if None in grid_shape[1:3] else grid_shape[1] * grid_shape[2]
        return (grid_shape[0], cells, grid_shape[3])
