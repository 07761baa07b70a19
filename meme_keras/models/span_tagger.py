"""The span tagger: per-token technique probabilities over text-backbone features (subtask 2).

Spans of different techniques overlap and nest, so each token gets an independent sigmoid per
technique (multilabel tagging, not single-label BIO). The head trains on cached frozen features;
`span_tagger_with_backbone` puts it on a live backbone for fine-tuning end to end.
"""

from __future__ import annotations

import keras
import keras_hub


@keras.saving.register_keras_serializable(package="meme_keras")
class SpanTaggerHead(keras.Model):
    """Per-token technique probabilities from per-token features.

    Optionally a projection (Dense + LayerNorm + dropout) and transformer encoder layers that
    attend over the real tokens only, then `Dense(num_techniques, sigmoid)` on every token.
    Padding positions get probabilities too: the loss masks them with a per-token
    `sample_weight` and decoding ignores them.

    Args:
        num_techniques: int, the number of technique columns (20 for subtask 2).
        feature_dim: int, the width of the input features (384 for MiniLM).
        hidden_dim: int, width of a Dense projection before the output; 0 for none
            (the output then reads the backbone's features directly, the report's baseline).
        num_transformer_layers: int, transformer encoder layers after the projection
            (needs `hidden_dim > 0`).
        num_heads: int, attention heads of each transformer layer.
        intermediate_dim: int, feedforward width of each transformer layer.
        dropout: float, dropout on the features and inside the transformer layers.
        name: model name.

    Examples:
    >>> import numpy as np
    >>> head = SpanTaggerHead(num_techniques=20, feature_dim=384)
    >>> probabilities = head(
    ...     {"text_features": np.zeros((2, 16, 384), "float32"),
    ...      "padding_mask": np.ones((2, 16), "int32")}
    ... )  # [2, 16, 20]
    """

    def __init__(
        self,
        num_techniques: int = 20,
        feature_dim: int = 384,
        hidden_dim: int = 0,
        num_transformer_layers: int = 0,
        num_heads: int = 4,
        intermediate_dim: int = 512,
        dropout: float = 0.1,
        name: str = "span_tagger_head",
        **kwargs,
    ):
        if num_transformer_layers and not hidden_dim:
            raise ValueError("transformer layers need a projection: set hidden_dim > 0")

        # === Layers ===
        feature_dropout = keras.layers.Dropout(dropout, name="feature_dropout")
        projection = norm = None
        if hidden_dim:
            projection = keras.layers.Dense(hidden_dim, activation="gelu", name="projection")
            norm = keras.layers.LayerNormalization(epsilon=1e-6, name="projection_norm")
        encoders = [
            keras_hub.layers.TransformerEncoder(
                intermediate_dim=intermediate_dim,
                num_heads=num_heads,
                dropout=dropout,
                name=f"transformer_{layer}",
            )
            for layer in range(num_transformer_layers)
        ]
        output_layer = keras.layers.Dense(num_techniques, activation="sigmoid", name="tags")

        # === Functional Model ===
        inputs = {
            "text_features": keras.Input((None, feature_dim), name="text_features"),
            "padding_mask": keras.Input((None,), dtype="int32", name="padding_mask"),
        }
        x = feature_dropout(inputs["text_features"])
        if projection is not None:
            x = keras.layers.Dropout(dropout, name="projection_dropout")(norm(projection(x)))
        for encoder in encoders:
            x = encoder(x, padding_mask=inputs["padding_mask"])
        outputs = output_layer(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)

        # === Config ===
        self.num_techniques = num_techniques
        self.feature_dim = feature_dim
        self.hidden_dim = hidden_dim
        self.num_transformer_layers = num_transformer_layers
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout

    def get_config(self):
        return {
            "num_techniques": self.num_techniques,
            "feature_dim": self.feature_dim,
            "hidden_dim": self.hidden_dim,
            "num_transformer_layers": self.num_transformer_layers,
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "name": self.name,
            "trainable": self.trainable,
        }


def span_tagger_with_backbone(
    backbone: keras.Model, head: keras.Model, name: str = "span_tagger"
) -> keras.Model:
    """The live text backbone followed by the tagger head, for fine-tuning end to end.

    Inputs are the keras-hub backbone's `token_ids`, `segment_ids` and `padding_mask`; the
    output is `[batch, length, num_techniques]` probabilities, the same as the head's on
    cached features of the same encoded texts.
    """
    inputs = {
        "token_ids": keras.Input((None,), dtype="int32", name="token_ids"),
        "segment_ids": keras.Input((None,), dtype="int32", name="segment_ids"),
        "padding_mask": keras.Input((None,), dtype="int32", name="padding_mask"),
    }
    sequence = backbone(inputs)["sequence_output"]
    outputs = head({"text_features": sequence, "padding_mask": inputs["padding_mask"]})
    return keras.Model(inputs, outputs, name=name)
