"""MPNet's relative position bias: T5-style log-spaced buckets of (key - query) distance, one
learned scalar per bucket and head, computed once and added to every layer's attention."""

from __future__ import annotations

import math

import keras
from keras import ops


def relative_position_buckets(relative, num_buckets: int = 32, max_distance: int = 128):
    """Bucket of each relative position (key - query): half the buckets for each direction,
    exact below a quarter of `num_buckets`, log-spaced up to `max_distance` beyond."""
    half = num_buckets // 2
    distance = -relative
    buckets = ops.cast(distance < 0, "int32") * half
    distance = ops.abs(distance)
    exact = half // 2
    # Beyond `exact`: log-spaced; truncation toward zero as the reference's `.to(long)`.
    scaled = ops.log(ops.cast(ops.maximum(distance, 1), "float32") / exact)
    scaled = scaled / math.log(max_distance / exact) * (half - exact)
    large = ops.minimum(exact + ops.cast(scaled, "int32"), half - 1)
    return buckets + ops.where(distance < exact, distance, large)


@keras.saving.register_keras_serializable(package="meme_keras")
class RelativePositionBias(keras.layers.Layer):
    """[1, heads, length, length] attention bias for a [batch, length, ...] input."""

    def __init__(self, num_heads: int, num_buckets: int = 32, max_distance: int = 128, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.num_buckets = num_buckets
        self.max_distance = max_distance

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            shape=(self.num_buckets, self.num_heads),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="embeddings",
        )

    def call(self, inputs):
        positions = ops.arange(ops.shape(inputs)[1], dtype="int32")
        relative = positions[None, :] - positions[:, None]  # key position - query position
        buckets = relative_position_buckets(relative, self.num_buckets, self.max_distance)
        bias = ops.take(self.embeddings, buckets, axis=0)  # [query, key, heads]
        return ops.expand_dims(ops.transpose(bias, (2, 0, 1)), 0)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "num_buckets": self.num_buckets,
            "max_distance": self.max_distance,
        }
