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
from meme_keras.backbones.efficientnet_lite import efficientnet_lite


def _resnet50(weights: str | None, image_size: int) -> keras.Model:
    # keras.applications downloads "imagenet" weights when online; a local .h5/.weights.h5 path
    # (e.g. resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5) works offline.
    # Built on the preprocessed pixels (`input_tensor`), so the model is one flat graph whose
    # inner layers can be cut at (`split_image_backbone`).
    pixels = keras.Input((image_size, image_size, 3), name="images")
    resnet = keras.applications.ResNet50(
        include_top=False,
        weights=weights,
        input_tensor=CaffePreprocessing(name="caffe_preprocessing")(pixels),
    )
    return keras.Model(pixels, resnet.output, name="resnet50")


def _efficientnet_lite(variant: str) -> Callable[[str | None, int], keras.Model]:
    def build(weights: str | None, image_size: int) -> keras.Model:
        return efficientnet_lite(variant, weights, input_shape=(image_size, image_size, 3))

    return build


@dataclass(frozen=True)
class ImageBackboneSpec:
    """An image backbone: its builder, native input size, feature-grid width, and the layer
    whose output starts its top (what an `image_top` stage fine-tunes): the last stage's
    final block for EfficientNet-Lite0 (7x7 grid, about 1.0M of 3.4M weights) and -Lite2 (9x9
    grid, about 1.2M of 4.9M), the last residual block for ResNet50 (about 4.5M of 23.6M)."""

    name: str
    build: Callable[[str | None, int], keras.Model]
    image_size: int
    channels: int
    top_from: str


IMAGE_BACKBONES = {
    "efficientnet_lite0": ImageBackboneSpec(
        "efficientnet_lite0", _efficientnet_lite("lite0"), 224, 1280, "blocks_14_add"
    ),
    "efficientnet_lite2": ImageBackboneSpec(
        "efficientnet_lite2", _efficientnet_lite("lite2"), 260, 1280, "blocks_19_add"
    ),
    "resnet50": ImageBackboneSpec("resnet50", _resnet50, 224, 2048, "conv5_block2_out"),
}


def image_backbone_spec(name: str) -> ImageBackboneSpec:
    if name not in IMAGE_BACKBONES:
        raise ValueError(
            f"unknown image backbone {name!r}; choose one of {sorted(IMAGE_BACKBONES)}"
        )
    return IMAGE_BACKBONES[name]


def configured_image_size(image: dict) -> int:
    """The input size of a config's `image_backbone` section: its `image_size`, or the
    backbone's native size when that is None."""
    return image["image_size"] or image_backbone_spec(image["name"]).image_size


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


def split_image_backbone(model: keras.Model, layer_name: str) -> tuple[keras.Model, keras.Model]:
    """`(bottom, top)` with `top(bottom(x)) == model(x)`, cut at `layer_name`'s output.

    Both share `model`'s layers, so training `top` trains `model` in place. Caching the
    bottom's output once lets a fine-tuning stage train the top without decoding an image
    or running the bottom again.
    """
    try:
        cut = model.get_layer(layer_name).output
    except ValueError:
        raise ValueError(f"image backbone {model.name!r} has no layer {layer_name!r}") from None
    try:
        top = keras.Model(cut, model.output, name=f"{model.name}_top")
    except ValueError as error:
        raise ValueError(
            f"cannot cut image backbone {model.name!r} at {layer_name!r}: a path to the output "
            f"bypasses it ({error})"
        ) from None
    return keras.Model(model.input, cut, name=f"{model.name}_bottom"), top
