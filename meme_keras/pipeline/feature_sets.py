"""Memes with their cached backbone features and multi-hot labels, ready for a head."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from meme_keras.backbones.adapted_text import text_preset
from meme_keras.backbones.features import (
    DEFAULT_CACHE,
    image_features,
    text_cut_features,
    text_features,
)
from meme_keras.backbones.image_backbones import image_backbone_spec, load_image_backbone
from meme_keras.backbones.text_backbones import load_text_backbone
from meme_keras.data.meme import Meme
from meme_keras.evaluation.multilabel_f1 import labels_to_multi_hot
from meme_keras.pipeline.examples import Examples


@dataclass
class FeatureSet(Examples):
    """Memes with their cached backbone features and multi-hot labels (`Examples` selects,
    stacks and trims them)."""

    SEQUENCE_FIELDS: ClassVar[tuple[str, ...]] = (
        "text_features",
        "padding_mask",
        "token_ids",
        "text_cut_features",
    )

    text_features: np.ndarray  # [n, length, width]
    padding_mask: np.ndarray  # [n, length]
    image_features: np.ndarray  # [n, cells, channels]
    labels: np.ndarray  # [n, techniques] multi-hot
    token_ids: np.ndarray | None = None  # [n, length], for fine-tuning the text backbone
    # [n, cells, channels] activations where the image backbone's top starts, for
    # fine-tuning that top (`image_top` stages)
    image_cut_features: np.ndarray | None = None
    # [n, length, width] hidden states where the text backbone's top starts (`text_top` stages)
    text_cut_features: np.ndarray | None = None

    def inputs(self) -> dict[str, np.ndarray]:
        return {
            "text_features": self.text_features,
            "padding_mask": self.padding_mask,
            "image_features": self.image_features,
        }


def build_feature_set(
    memes: Sequence[Meme],
    techniques: Sequence[str],
    config: dict,
    cache_dir=DEFAULT_CACHE,
    image_model=None,
    text_model=None,
    cut_features: bool = True,
    **kwargs,
) -> FeatureSet:
    """Features of `memes` for the configured backbones (cached on disk between runs).

    `cache_dir`: as in `image_features`/`text_features` (None: no caching).
    `image_model` / `text_model`: already loaded backbones, to load them once for many sets.
    `cut_features`: also the activations an `image_top` or `text_top` stage trains on, when
    the config has one (training needs them; predicting with the trained model does not).
    """
    image = config["image_backbone"]
    text = config["text_backbone"]
    if image is None:
        image_grid = functools.partial(no_image_features, len(memes))
    else:
        image_grid = functools.partial(
            image_features,
            memes,
            image["name"],
            image["weights"],
            image["image_size"],
            model=image_model,
            cache_dir=cache_dir,
            **kwargs,
        )
    tokens = text_features(
        memes,
        text["name"],
        text["sequence_length"],
        text_preset(text),
        model=text_model,
        cache_dir=cache_dir,
        **kwargs,
    )
    top_from = image_top_layer(config) if cut_features else None
    text_cut = None
    if cut_features and trains_text_top(config):
        text_cut = text_cut_features(
            memes,
            text["name"],
            text["sequence_length"],
            text_preset(text),
            text["top_from"],
            model=text_model,
            cache_dir=cache_dir,
            **kwargs,
        )
    # Positions past the longest text are padding in every meme: dropping them saves time.
    length = max(int(tokens["padding_mask"].sum(axis=1).max()), 1)
    return FeatureSet(
        list(memes),
        tokens["features"][:, :length],
        tokens["padding_mask"][:, :length],
        image_grid(),
        labels_to_multi_hot([meme.labels for meme in memes], techniques).astype(np.float32),
        tokens["token_ids"][:, :length],
        None if top_from is None else image_grid(cut=top_from),
        None if text_cut is None else text_cut[:, :length],
    )


def no_image_features(count: int, cut: str | None = None) -> np.ndarray:
    """The image features of a text-only run: one constant cell per meme, so that every head
    and pipeline takes the same inputs in every task (text heads ignore them)."""
    return np.zeros((count, 1, 1), np.float32)


def image_top_layer(config: dict) -> str | None:
    """The layer an `image_top` stage of `config` cuts the image backbone at; None if none
    of its stages trains the image backbone's top."""
    if not any("image_top" in stage.get("train", []) for stage in config["stages"]):
        return None
    image = config["image_backbone"]
    return image["top_from"] or image_backbone_spec(image["name"]).top_from


def trains_text_top(config: dict) -> bool:
    """Whether a stage of `config` fine-tunes the text backbone's top (`text_top`)."""
    return any("text_top" in stage.get("train", []) for stage in config["stages"])


def load_frozen_backbones(config: dict) -> dict:
    """The configured backbones as `build_feature_set`'s `image_model` and `text_model`."""
    image, text = config["image_backbone"], config["text_backbone"]
    return {
        "image_model": None
        if image is None
        else load_image_backbone(image["name"], image["weights"], image["image_size"]),
        "text_model": load_text_backbone(text["name"], text_preset(text)),
    }


def feature_set_chunks(
    memes: Sequence[Meme],
    techniques: Sequence[str],
    config: dict,
    chunk_size: int = 256,
    backbones: dict | None = None,
    **kwargs,
) -> Iterator[FeatureSet]:
    """Feature sets of consecutive chunks of `memes`, in order, with the backbones loaded once.

    Memory is bound by the chunk, not by the number of memes (about 0.45 MB of features per
    meme on the default backbones), so prediction over any number of memes stays flat.
    `kwargs` go to `build_feature_set` (e.g. `cache_dir`).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
    backbones = backbones or load_frozen_backbones(config)
    for start in range(0, len(memes), chunk_size):
        chunk = memes[start : start + chunk_size]
        yield build_feature_set(chunk, techniques, config, **backbones, **kwargs)
