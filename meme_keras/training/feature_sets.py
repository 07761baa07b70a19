"""Memes with their cached backbone features and multi-hot labels, ready for a head."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from meme_keras.backbones.features import DEFAULT_CACHE, image_features, text_features
from meme_keras.data.meme import Meme
from meme_keras.evaluation.multilabel_f1 import labels_to_multi_hot


@dataclass
class FeatureSet:
    memes: list[Meme]
    text_features: np.ndarray  # [n, length, width]
    padding_mask: np.ndarray  # [n, length]
    image_features: np.ndarray  # [n, cells, channels]
    labels: np.ndarray  # [n, techniques] multi-hot
    token_ids: np.ndarray | None = None  # [n, length], for fine-tuning the text backbone

    def __len__(self) -> int:
        return len(self.memes)

    def inputs(self) -> dict[str, np.ndarray]:
        return {
            "text_features": self.text_features,
            "padding_mask": self.padding_mask,
            "image_features": self.image_features,
        }

    def subset(self, indices: Sequence[int]) -> FeatureSet:
        indices = np.asarray(indices)
        return FeatureSet(
            [self.memes[i] for i in indices],
            self.text_features[indices],
            self.padding_mask[indices],
            self.image_features[indices],
            self.labels[indices],
            None if self.token_ids is None else self.token_ids[indices],
        )

    @staticmethod
    def concatenate(parts: Sequence[FeatureSet]) -> FeatureSet:
        """Stacks sets, padding their text to the longest (sets are trimmed to their texts)."""
        length = max(part.padding_mask.shape[1] for part in parts)

        def pad(array):
            widths = [(0, 0)] * array.ndim
            widths[1] = (0, length - array.shape[1])
            return np.pad(array, widths)

        return FeatureSet(
            [meme for part in parts for meme in part.memes],
            np.concatenate([pad(part.text_features) for part in parts]),
            np.concatenate([pad(part.padding_mask) for part in parts]),
            np.concatenate([part.image_features for part in parts]),
            np.concatenate([part.labels for part in parts]),
            None
            if any(part.token_ids is None for part in parts)
            else np.concatenate([pad(part.token_ids) for part in parts]),
        )


def build_feature_set(
    memes: Sequence[Meme],
    techniques: Sequence[str],
    config: dict,
    cache_dir=DEFAULT_CACHE,
    image_model=None,
    text_model=None,
    **kwargs,
) -> FeatureSet:
    """Features of `memes` for the configured backbones (cached on disk between runs).

    `cache_dir`: as in `image_features`/`text_features` (None: no caching).
    `image_model` / `text_model`: already loaded backbones, to load them once for many sets.
    """
    image = config["image_backbone"]
    text = config["text_backbone"]
    grid = image_features(
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
        text["preset"],
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
        grid,
        labels_to_multi_hot([meme.labels for meme in memes], techniques).astype(np.float32),
        tokens["token_ids"][:, :length],
    )
