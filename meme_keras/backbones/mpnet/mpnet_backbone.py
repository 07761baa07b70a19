"""The MPNet encoder network as a keras-hub `Backbone`."""

from __future__ import annotations

import keras
import keras_hub
from keras import ops

from meme_keras.backbones.mpnet.mpnet_layer import MPNetLayer
from meme_keras.backbones.mpnet.relative_position_bias import RelativePositionBias


@keras.saving.register_keras_serializable(package="meme_keras")
class MPNetBackbone(keras_hub.models.Backbone):
    """Token ids -> `{"sequence_output": [batch, length, hidden_dim]}`.

    Inputs follow the project's text-backbone convention, `{"token_ids", "segment_ids",
    "padding_mask"}`; MPNet has no segment embeddings, so `segment_ids` is taken and unused.
    Positions count real tokens from `padding_id + 1` (RoBERTa's and MPNet's convention), so
    padding never shifts them.

    ```python
    backbone = MPNetBackbone(vocabulary_size=30527, num_layers=12, num_heads=12,
                             hidden_dim=768, intermediate_dim=3072)
    ```
    """

    def __init__(
        self,
        vocabulary_size: int,
        num_layers: int,
        num_heads: int,
        hidden_dim: int,
        intermediate_dim: int,
        dropout: float = 0.1,
        max_sequence_length: int = 512,
        num_buckets: int = 32,
        max_distance: int = 128,
        layer_norm_epsilon: float = 1e-5,
        padding_id: int = 1,
        dtype=None,
        **kwargs,
    ):
        # === Layers ===
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size, hidden_dim, dtype=dtype, name="token_embedding"
        )
        self.position_embedding = keras.layers.Embedding(
            max_sequence_length + padding_id + 1, hidden_dim, dtype=dtype, name="position_embedding"
        )
        self.embeddings_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="embeddings_layer_norm"
        )
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embeddings_dropout"
        )
        self.position_bias = RelativePositionBias(
            num_heads, num_buckets, max_distance, dtype=dtype, name="relative_position_bias"
        )
        self.transformer_layers = [
            MPNetLayer(
                num_heads,
                hidden_dim,
                intermediate_dim,
                dropout,
                layer_norm_epsilon,
                dtype=dtype,
                name=f"transformer_layer_{index}",
            )
            for index in range(num_layers)
        ]

        # === Functional model ===
        token_ids = keras.Input((None,), dtype="int32", name="token_ids")
        segment_ids = keras.Input((None,), dtype="int32", name="segment_ids")
        padding_mask = keras.Input((None,), dtype="int32", name="padding_mask")
        mask = ops.cast(padding_mask, "int32")
        positions = ops.cumsum(mask, axis=1) * mask + padding_id
        hidden = self.token_embedding(token_ids) + self.position_embedding(positions)
        hidden = self.embeddings_dropout(self.embeddings_norm(hidden))
        bias = self.position_bias(hidden)
        for layer in self.transformer_layers:
            hidden = layer(hidden, bias, mask)
        super().__init__(
            inputs={
                "token_ids": token_ids,
                "segment_ids": segment_ids,
                "padding_mask": padding_mask,
            },
            outputs={"sequence_output": hidden},
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.max_sequence_length = max_sequence_length
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.layer_norm_epsilon = layer_norm_epsilon
        self.padding_id = padding_id

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "max_sequence_length": self.max_sequence_length,
            "num_buckets": self.num_buckets,
            "max_distance": self.max_distance,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "padding_id": self.padding_id,
        }
