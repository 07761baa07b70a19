"""Puts live backbones under a feature head, for the fine-tuning stages.

The head takes `{"text_features", "padding_mask", "image_features"}`. Composing it with the
text backbone replaces `text_features` by `{"token_ids", "segment_ids"}` (plus the same
`padding_mask`); with only its top, by `text_cut_features` (the hidden states where the top
starts, cached); with the image backbone, `image_features` by raw `images`; with only the
backbone's top, by `image_cut_features` (the activations where the top starts, cached). Layers
are shared, so training the composed model trains the head in place.
"""

from __future__ import annotations

import keras

from meme_keras.models.flatten_grid import FlattenGrid


def compose_classifier(
    head: keras.Model,
    text_backbone: keras.Model | None = None,
    image_backbone: keras.Model | None = None,
    text_width: int | None = None,
    image_shape: tuple[int, int] | None = None,
    image_top: keras.Model | None = None,
    text_top: keras.Model | None = None,
    name: str = "meme_classifier",
) -> keras.Model:
    """A model on token ids and/or pixels that ends in `head`.

    Args:
        head: the feature head.
        text_backbone: keras-hub backbone (token_ids/segment_ids/padding_mask ->
            sequence_output), or None to keep cached text features as an input.
        image_backbone: pixels -> grid, or None to keep cached image features as an input.
        text_width: width of cached text features (when `text_backbone` is None).
        image_shape: (cells, channels) of cached image features (when `image_backbone` is None).
        image_top: the top of the image backbone (cut activations -> grid), to take cached
            cut activations [cells, channels] as input instead (when `image_backbone` is None).
        text_top: the top of the text backbone ([hidden states, padding_mask] ->
            sequence_output), to take cached hidden states [length, width] as input instead
            (when `text_backbone` is None).
    """
    if image_backbone is not None and image_top is not None:
        raise ValueError("give the whole image backbone or its top, not both")
    if text_backbone is not None and text_top is not None:
        raise ValueError("give the whole text backbone or its top, not both")
    padding_mask = keras.Input((None,), dtype="int32", name="padding_mask")
    inputs = {"padding_mask": padding_mask}
    if text_backbone is not None:
        inputs["token_ids"] = keras.Input((None,), dtype="int32", name="token_ids")
        inputs["segment_ids"] = keras.Input((None,), dtype="int32", name="segment_ids")
        text_features = text_backbone(
            {
                "token_ids": inputs["token_ids"],
                "segment_ids": inputs["segment_ids"],
                "padding_mask": padding_mask,
            }
        )["sequence_output"]
    elif text_top is not None:
        width = text_top.input_shape[0][-1]
        inputs["text_cut_features"] = keras.Input((None, width), name="text_cut_features")
        text_features = text_top([inputs["text_cut_features"], padding_mask])
    else:
        text_features = keras.Input((None, text_width), name="text_features")
        inputs["text_features"] = text_features
    if image_backbone is not None:
        size = image_backbone.input_shape[1:]
        inputs["images"] = keras.Input(size, name="images")
        image_features = FlattenGrid(name="flatten_grid")(image_backbone(inputs["images"]))
    elif image_top is not None:
        height, width, channels = image_top.input_shape[1:]
        inputs["image_cut_features"] = keras.Input(
            (height * width, channels), name="image_cut_features"
        )
        grid = keras.layers.Reshape((height, width, channels), name="cut_grid")(
            inputs["image_cut_features"]
        )
        image_features = FlattenGrid(name="flatten_grid")(image_top(grid))
    else:
        image_features = keras.Input(image_shape, name="image_features")
        inputs["image_features"] = image_features
    outputs = head(
        {
            "text_features": text_features,
            "padding_mask": padding_mask,
            "image_features": image_features,
        }
    )
    return keras.Model(inputs, outputs, name=name)
