"""Classifier heads over backbone features: the report's baseline, its proposed fusion, and a
text-only head (subtask 1).

All take `{"text_features": [b, length, d_text], "padding_mask": [b, length],
"image_features": [b, cells, d_image]}` and return per-technique probabilities [b, labels].
They train on cached features and also sit on top of live backbones for fine-tuning.
"""

from __future__ import annotations

import keras
import keras_hub

from meme_keras.models.masked_mean_pooling import MaskedMeanPooling


def feature_inputs(text_width: int, image_width: int, image_cells: int | None = None):
    return {
        "text_features": keras.Input((None, text_width), name="text_features"),
        "padding_mask": keras.Input((None,), dtype="int32", name="padding_mask"),
        "image_features": keras.Input((image_cells, image_width), name="image_features"),
    }


def baseline_concat_head(
    num_labels: int, text_width: int, image_width: int, dropout: float = 0.1, name="baseline_concat"
) -> keras.Model:
    """Pooled image + pooled text features, concatenated, -> Dense(num_labels, sigmoid)."""
    inputs = feature_inputs(text_width, image_width)
    text = MaskedMeanPooling(name="text_pooling")(inputs["text_features"], inputs["padding_mask"])
    image = MaskedMeanPooling(name="image_pooling")(inputs["image_features"])
    joint = keras.layers.Concatenate(name="concat")([text, image])
    joint = keras.layers.Dropout(dropout, name="dropout")(joint)
    outputs = keras.layers.Dense(num_labels, activation="sigmoid", name="probabilities")(joint)
    return keras.Model(inputs, outputs, name=name)


def _project(features, width, dropout, name):
    features = keras.layers.Dense(width, name=f"{name}_projection")(features)
    features = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm")(features)
    return keras.layers.Dropout(dropout, name=f"{name}_dropout")(features)


def fusion_head(
    num_labels: int,
    text_width: int,
    image_width: int,
    image_cells: int,
    hidden_dim: int = 256,
    num_layers: int = 1,
    num_heads: int = 4,
    intermediate_dim: int = 512,
    dropout: float = 0.3,
    name: str = "fusion",
) -> keras.Model:
    """The proposed transformer fusion (after AIMH, Messina et al., SemEval-2021).

    Text tokens and image grid cells are projected to `hidden_dim`. One transformer stack runs
    over the text tokens with cross-attention to the image cells, another over the image cells
    with cross-attention to the text; each is pooled into its own sigmoid head and the two
    probability vectors are averaged (an ensemble that regularises on this small corpus).
    """
    inputs = feature_inputs(text_width, image_width, image_cells)
    mask = inputs["padding_mask"]
    text = _project(inputs["text_features"], hidden_dim, dropout, "text")
    image = _project(inputs["image_features"], hidden_dim, dropout, "image")
    image = image + keras_hub.layers.PositionEmbedding(image_cells, name="image_positions")(image)
    text_stream, image_stream = text, image
    for layer in range(num_layers):
        block = dict(intermediate_dim=intermediate_dim, num_heads=num_heads, dropout=dropout)
        text_stream = keras_hub.layers.TransformerDecoder(**block, name=f"text_block_{layer}")(
            text_stream, image, decoder_padding_mask=mask, use_causal_mask=False
        )
        image_stream = keras_hub.layers.TransformerDecoder(**block, name=f"image_block_{layer}")(
            image_stream, text, encoder_padding_mask=mask, use_causal_mask=False
        )
    heads = []
    for stream_name, stream, stream_mask in (
        ("text", text_stream, mask),
        ("image", image_stream, None),
    ):
        pooled = MaskedMeanPooling(name=f"{stream_name}_pooling")(stream, stream_mask)
        pooled = keras.layers.Dropout(dropout, name=f"{stream_name}_head_dropout")(pooled)
        heads.append(
            keras.layers.Dense(num_labels, activation="sigmoid", name=f"{stream_name}_head")(pooled)
        )
    outputs = keras.layers.Average(name="probabilities")(heads)
    return keras.Model(inputs, outputs, name=name)


def text_head(
    num_labels: int,
    text_width: int,
    image_width: int,
    image_cells: int | None = None,
    hidden_dim: int = 256,
    num_layers: int = 1,
    num_heads: int = 4,
    intermediate_dim: int = 512,
    dropout: float = 0.3,
    name: str = "text",
) -> keras.Model:
    """Text tokens projected to `hidden_dim`, `num_layers` transformer encoder blocks over them,
    masked mean pooling and a sigmoid head. It takes the same inputs as the other heads, so one
    pipeline serves every task, and ignores `image_features` (a text-only run feeds one
    constant cell there)."""
    inputs = feature_inputs(text_width, image_width, image_cells)
    mask = inputs["padding_mask"]
    text = _project(inputs["text_features"], hidden_dim, dropout, "text")
    for layer in range(num_layers):
        text = keras_hub.layers.TransformerEncoder(
            intermediate_dim=intermediate_dim,
            num_heads=num_heads,
            dropout=dropout,
            name=f"text_block_{layer}",
        )(text, padding_mask=mask)
    pooled = MaskedMeanPooling(name="text_pooling")(text, mask)
    pooled = keras.layers.Dropout(dropout, name="text_head_dropout")(pooled)
    outputs = keras.layers.Dense(num_labels, activation="sigmoid", name="probabilities")(pooled)
    return keras.Model(inputs, outputs, name=name)
