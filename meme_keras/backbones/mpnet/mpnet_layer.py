"""One MPNet encoder layer: post-LayerNorm self-attention with an additive position bias, then
a GELU feed-forward block (BERT's layout; MPNet differs in the bias)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="meme_keras")
class MPNetLayer(keras.layers.Layer):
    """keras-hub's TransformerEncoder takes no additive attention bias, hence this layer."""

    def __init__(
        self,
        num_heads: int,
        hidden_dim: int,
        intermediate_dim: int,
        dropout: float = 0.1,
        layer_norm_epsilon: float = 1e-5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim {hidden_dim} is not a multiple of num_heads {num_heads}")
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.head_dim = hidden_dim // num_heads
        dense = {"dtype": self.dtype_policy}
        self.query = keras.layers.Dense(hidden_dim, name="query", **dense)
        self.key = keras.layers.Dense(hidden_dim, name="key", **dense)
        self.value = keras.layers.Dense(hidden_dim, name="value", **dense)
        self.attention_output = keras.layers.Dense(hidden_dim, name="attention_output", **dense)
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="attention_norm", **dense
        )
        self.intermediate = keras.layers.Dense(intermediate_dim, name="intermediate", **dense)
        self.output_dense = keras.layers.Dense(hidden_dim, name="output", **dense)
        self.output_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="output_norm", **dense
        )
        self.attention_dropout = keras.layers.Dropout(dropout)
        self.hidden_dropout = keras.layers.Dropout(dropout)

    def build(self, input_shape):
        width = input_shape[-1]
        for layer in (self.query, self.key, self.value, self.attention_output):
            layer.build((None, None, width))
        self.attention_norm.build((None, None, self.hidden_dim))
        self.intermediate.build((None, None, self.hidden_dim))
        self.output_dense.build((None, None, self.intermediate_dim))
        self.output_norm.build((None, None, self.hidden_dim))
        self.built = True

    def _heads(self, x):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        return ops.reshape(x, (batch, length, self.num_heads, self.head_dim))

    def call(self, hidden, position_bias, padding_mask, training=False):
        """hidden [b, L, d]; position_bias [1, heads, L, L]; padding_mask [b, L] (1 = token)."""
        query, key, value = (self._heads(f(hidden)) for f in (self.query, self.key, self.value))
        scores = ops.einsum("bqhd,bkhd->bhqk", query, key) / (self.head_dim**0.5)
        scores = scores + ops.cast(position_bias, scores.dtype)
        blocked = 1.0 - ops.cast(padding_mask[:, None, None, :], scores.dtype)
        scores = scores + blocked * ops.cast(-1e9, scores.dtype)
        weights = self.attention_dropout(ops.softmax(scores, axis=-1), training=training)
        context = ops.einsum("bhqk,bkhd->bqhd", weights, value)
        context = ops.reshape(context, ops.shape(hidden)[:2] + (self.hidden_dim,))
        attended = self.attention_output(context)
        attended = self.attention_norm(hidden + self.hidden_dropout(attended, training=training))
        inner = keras.activations.gelu(self.intermediate(attended), approximate=False)
        output = self.hidden_dropout(self.output_dense(inner), training=training)
        return self.output_norm(attended + output)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.hidden_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "layer_norm_epsilon": self.layer_norm_epsilon,
        }
