"""Frozen-backbone features for a list of memes, computed once and cached on disk.

Image features: the backbone's grid, flattened to [memes, grid cells, channels].
Text features: per-token features [memes, length, width] with the encoder's ids, mask and
character offsets (kept for span tagging).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from meme_keras.backbones.feature_cache import (
    cached,
    default_cache_dir,
    file_fingerprint,
    fingerprint,
    weights_fingerprint,
)
from meme_keras.backbones.image_backbones import (
    image_backbone_spec,
    load_image_backbone,
    split_image_backbone,
)
from meme_keras.backbones.text_backbones import (
    load_text_backbone,
    split_text_backbone,
    text_top_from,
)
from meme_keras.backbones.text_encoders import make_text_encoder
from meme_keras.data.image_pipeline import (
    IMAGE_PREPROCESSING,
    NO_IMAGE,
    image_dataset,
    image_source,
)
from meme_keras.data.meme import Meme
from meme_keras.pipeline.padded_length import padded_length
from meme_keras.progress import tracked

log = logging.getLogger(__name__)
# The default of `cache_dir`: the default cache folder (None disables caching).
DEFAULT_CACHE = object()


def _cache_dir(cache_dir):
    return default_cache_dir() if cache_dir is DEFAULT_CACHE else cache_dir


def image_features(
    memes: Sequence[Meme],
    backbone: str = "efficientnet_lite0",
    weights: str | None = "imagenet",
    image_size: int | None = None,
    batch_size: int = 32,
    cache_dir: Path | None = DEFAULT_CACHE,
    model: keras.Model | None = None,
    verbose: int = 0,
    cut: str | None = None,
) -> np.ndarray:
    """[memes, grid cells, channels] float32 features of each meme's image.

    `cut`: a layer of the backbone; its output is returned instead of the backbone's (the
    input of the top an `image_top` stage fine-tunes, see `split_image_backbone`).
    """
    image_size = image_size or image_backbone_spec(backbone).image_size
    model = model or load_image_backbone(backbone, weights, image_size)
    if cut is not None:
        model, _ = split_image_backbone(model, cut)
    paths = [image_source(meme.image_path) for meme in memes]
    key = fingerprint(
        "image",
        backbone,
        image_size,
        IMAGE_PREPROCESSING,
        *([] if cut is None else [cut]),  # (keys of whole-backbone features stay as they were)
        weights_fingerprint(model),
        file_fingerprint(paths),
    )
    name = backbone if cut is None else f"{backbone}-{cut}"

    def compute():
        # Memes without an image all get the black image's features, computed once.
        real = [path for path in paths if path != NO_IMAGE]
        wanted = real + [NO_IMAGE] * (len(real) < len(paths))
        log.info("extracting %s features of %d images", name, len(real))
        computed = grid_features(
            model,
            image_dataset(wanted, image_size, batch_size),
            len(wanted),
            description=f"{name} features",
        )
        if len(real) == len(paths):
            return {"features": computed}
        rows = np.cumsum([path != NO_IMAGE for path in paths]) - 1
        rows[[path == NO_IMAGE for path in paths]] = len(wanted) - 1
        return {"features": computed[rows]}

    return cached(f"image-{name}-{image_size}", key, compute, _cache_dir(cache_dir))["features"]


def grid_features(
    model: keras.Model, batches: tf.data.Dataset, count: int, description: str = "image features"
) -> np.ndarray:
    """[images, grid cells, channels] float32 features of every batch, in order.

    A `tf.function` loop: benchmarks/run.py (section "compare") measured it as fast as
    `model.predict` at full size (within 5%), and each batch goes straight into one
    preallocated array (no list of per-batch outputs concatenated at the end, which held the
    features twice).
    """
    forward = _inference_function(model)
    *_, channels = model.output.shape
    cells = int(np.prod(model.output.shape[1:-1]))
    features, start = np.empty((count, cells, channels), np.float32), 0
    batch_count = int(batches.cardinality())  # negative when unknown
    for batch in tracked(batches, description, total=batch_count if batch_count >= 0 else None):
        grid = forward(batch).numpy()
        features[start : start + len(grid)] = grid.reshape(len(grid), cells, channels)
        start += len(grid)
    if start != count:
        raise ValueError(f"expected {count} images, the dataset gave {start}")
    return features


# One traced forward pass per backbone, shared by every call: a new tf.function per call (per
# split, per fold) retraced the same graph and made TensorFlow warn about retracing.
_FORWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _inference_function(model: keras.Model):
    if model not in _FORWARD:
        signature = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
        _FORWARD[model] = tf.function(
            lambda images: model(images, training=False), input_signature=[signature]
        )
    return _FORWARD[model]


def encode_texts(memes: Sequence[Meme], backbone: str, sequence_length: int, preset=None):
    """Token ids, padding mask and offsets of each meme's text for `backbone`."""
    return make_text_encoder(backbone, sequence_length, preset).encode([m.text for m in memes])


def text_inputs(encoded) -> dict[str, np.ndarray]:
    """The keras-hub backbone inputs for encoded texts (one segment)."""
    return {
        "token_ids": encoded.token_ids,
        "segment_ids": np.zeros_like(encoded.token_ids),
        "padding_mask": encoded.padding_mask,
    }


def sequence_features(
    model: keras.Model,
    encoded,
    batch_size: int,
    step: int = 16,
    description: str = "text features",
) -> np.ndarray:
    """Per-token features [texts, length, width], computed in batches of similar length cut to
    their longest text (rounded up to `step`, to bound the number of traced shapes): most
    texts are short, and an encoder's cost grows with the padded length. Padding positions
    stay zero; every consumer masks them. `model` returns the features, or a dict with them as
    `sequence_output` (a keras-hub backbone)."""
    inputs = text_inputs(encoded)
    lengths = encoded.padding_mask.sum(axis=1)
    order = np.argsort(lengths, kind="stable")
    features = None
    for start in tracked(range(0, len(order), batch_size), description):
        rows = order[start : start + batch_size]
        length = padded_length(lengths[rows].max(), step, encoded.padding_mask.shape[1])
        batch = {name: value[rows, :length] for name, value in inputs.items()}
        output = model.predict_on_batch(batch)
        if isinstance(output, dict):
            output = output["sequence_output"]
        output = np.asarray(output, np.float32)
        if features is None:
            features = np.zeros((*encoded.padding_mask.shape, output.shape[-1]), np.float32)
        features[rows, :length] = output
    return features


def text_features(
    memes: Sequence[Meme],
    backbone: str = "all_minilm_l6_v2",
    sequence_length: int = 128,
    preset: str | None = None,
    batch_size: int = 32,
    cache_dir: Path | None = DEFAULT_CACHE,
    model: keras.Model | None = None,
    verbose: int = 0,
) -> dict[str, np.ndarray]:
    """`features` [memes, length, width] plus `token_ids`, `padding_mask` and `offsets`."""
    encoded = encode_texts(memes, backbone, sequence_length, preset)
    model = model or load_text_backbone(backbone, preset)
    key = fingerprint(
        "text", backbone, sequence_length, weights_fingerprint(model), encoded.token_ids
    )

    def compute():
        log.info("extracting %s features of %d texts", backbone, len(memes))
        return {
            "features": sequence_features(
                model, encoded, batch_size, description=f"{backbone} features"
            )
        }

    features = cached(f"text-{backbone}-{sequence_length}", key, compute, _cache_dir(cache_dir))
    return {
        "features": features["features"],
        "token_ids": encoded.token_ids,
        "padding_mask": encoded.padding_mask,
        "offsets": encoded.offsets,
    }


def text_cut_features(
    memes: Sequence[Meme],
    backbone: str = "all_minilm_l6_v2",
    sequence_length: int = 128,
    preset: str | None = None,
    top_from: int | None = None,
    batch_size: int = 32,
    cache_dir: Path | None = DEFAULT_CACHE,
    model: keras.Model | None = None,
    verbose: int = 0,
) -> np.ndarray:
    """[memes, length, width] hidden states that transformer layer `top_from` reads (the
    input of the top a `text_top` stage fine-tunes, see `split_text_backbone`)."""
    encoded = encode_texts(memes, backbone, sequence_length, preset)
    model = model or load_text_backbone(backbone, preset)
    top_from = text_top_from(model, top_from)
    key = fingerprint(
        "text-cut",
        backbone,
        sequence_length,
        top_from,
        weights_fingerprint(model),
        encoded.token_ids,
    )
    name = f"{backbone}-layer{top_from}"

    def compute():
        bottom, _ = split_text_backbone(model, top_from)
        log.info("extracting %s activations of %d texts", name, len(memes))
        return {
            "features": sequence_features(
                bottom, encoded, batch_size, description=f"{name} activations"
            )
        }

    cached_features = cached(f"text-{name}-{sequence_length}", key, compute, _cache_dir(cache_dir))
    return cached_features["features"]
