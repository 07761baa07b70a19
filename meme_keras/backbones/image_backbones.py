"""Image backbones by name: Keras models from raw RGB pixels in [0, 255] to a feature grid.

Each backbone owns its input normalisation (a layer inside the model), so callers only decode
and resize. Weights: "imagenet" (the backbone's default source), a local file, or None (random,
for tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras

from meme_keras.backbones.caffe_preprocessing import CaffePreprocessing
from meme_keras.backbones.efficientnet_lite import efficientnet_lite0


def _resnet50(weights: str | None, image_size: int) -> keras.Model:
    # keras.applications downloads "imagenet" weights when online; a local .h5/.weights.h5 path
    # (e.g. resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5) works offline.
    pixels = keras.Input((image_size, image_size, 3), name="images")
    resnet = keras.applications.ResNet50(
        include_top=False, weights=weights, input_shape=(image_size, image_size, 3)
    )
    return keras.Model(
        pixels, resnet(CaffePreprocessing(name="caffe_preprocessing")(pixels)), name="resnet50"
    )


def _efficientnet_lite0(weights: str | None, image_size: int) -> keras.Model:
    return efficientnet_lite0(weights=weights, input_shape=(image_size, image_size, 3))


@dataclass(frozen=True)
class ImageBackboneSpec:
    """An image backbone: its builder, native input size and feature-grid width."""

    name: str
    build: Callable[[str | None, int], keras.Model]
    image_size: int
    channels: int


IMAGE_BACKBONES = {
    "efficientnet_lite0": ImageBackboneSpec("efficientnet_lite0", _efficientnet_lite0, 224, 1280),
    "resnet50": ImageBackboneSpec("resnet50", _resnet50, 224, 2048),
}


def image_backbone_spec(name: str) -> ImageBackboneSpec:
    if name not in IMAGE_BACKBONES:
        raise ValueError(
            f"unknown image backbone {name!r}; choose one of {sorted(IMAGE_BACKBONES)}"
        )
    return IMAGE_BACKBONES[name]


def load_image_backbone(
    name: str, weights: str | None = "imagenet", image_size: int | None = None
) -> keras.Model:
    """Builds the named backbone: pixels [batch, size, size, 3] -> grid [batch, h, w, channels]."""
    spec = image_backbone_spec(name)
    try:
        return spec.build(weights, image_size or spec.image_size)
    except Exception as error:
        raise RuntimeError(
            f"cannot load image backbone {name!r} with weights {weights!r} "
            f"({type(error).__name__}: {error})"
        ) from error
