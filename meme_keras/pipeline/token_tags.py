"""Memes as per-token examples for the span task: encoder outputs, multi-hot token targets
from gold character spans, and the way back from token probabilities to character spans."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np

from meme_keras.data.meme import Meme, Span
from meme_keras.data.span_tags import spans_to_token_tags, token_probabilities_to_spans
from meme_keras.evaluation.span_f1 import deduplicate_spans


@dataclass
class TokenTagData:
    """Memes with their per-token features, encoder outputs and multi-hot token targets.

    Attributes:
        memes: the memes, in row order.
        features: float32 [n, L, d] frozen backbone features (None on the fine-tuning path).
        token_ids, padding_mask, offsets: the encoder's [n, L], [n, L], [n, L, 2] arrays.
        tags: float32 [n, L, K] targets.
        token_weights: float32 [n, L], 1 for real text tokens (the loss mask).
    """

    memes: list[Meme]
    features: np.ndarray | None
    token_ids: np.ndarray
    padding_mask: np.ndarray
    offsets: np.ndarray
    tags: np.ndarray
    token_weights: np.ndarray

    def __len__(self) -> int:
        return len(self.memes)

    def subset(self, indices: Sequence[int]) -> TokenTagData:
        indices = np.asarray(indices)
        return TokenTagData(
            [self.memes[i] for i in indices],
            None if self.features is None else self.features[indices],
            self.token_ids[indices],
            self.padding_mask[indices],
            self.offsets[indices],
            self.tags[indices],
            self.token_weights[indices],
        )

    def concatenate(self, other: TokenTagData) -> TokenTagData:
        def join(a, b):
            return None if a is None or b is None else np.concatenate([a, b])

        return TokenTagData(
            self.memes + other.memes,
            join(self.features, other.features),
            join(self.token_ids, other.token_ids),
            join(self.padding_mask, other.padding_mask),
            join(self.offsets, other.offsets),
            join(self.tags, other.tags),
            join(self.token_weights, other.token_weights),
        )

    def trimmed(self, length: int) -> TokenTagData:
        """The first `length` positions (all real tokens must fit: checked)."""
        if self.padding_mask[:, length:].any():
            raise ValueError(f"real tokens beyond position {length}: cannot trim")
        return TokenTagData(
            self.memes,
            None if self.features is None else self.features[:, :length],
            self.token_ids[:, :length],
            self.padding_mask[:, :length],
            self.offsets[:, :length],
            self.tags[:, :length],
            self.token_weights[:, :length],
        )

    def head_inputs(self) -> dict[str, np.ndarray]:
        return {"text_features": self.features, "padding_mask": self.padding_mask}

    def backbone_inputs(self) -> dict[str, np.ndarray]:
        return {
            "token_ids": self.token_ids,
            "segment_ids": np.zeros_like(self.token_ids),
            "padding_mask": self.padding_mask,
        }

    def gold(self) -> dict[str, list[Span]]:
        return {meme.id: list(meme.spans) for meme in self.memes}


def text_token_weights(offsets: np.ndarray, padding_mask: np.ndarray) -> np.ndarray:
    """1.0 for tokens holding text characters; 0.0 for padding, [CLS] and [SEP] (offsets (0, 0))."""
    offsets = np.asarray(offsets)
    real = np.asarray(padding_mask).astype(bool) & (offsets[..., 1] > offsets[..., 0])
    return real.astype(np.float32)


def token_tag_data(
    memes: Sequence[Meme], encoded: dict[str, np.ndarray], techniques: Sequence[str]
) -> TokenTagData:
    """Targets for `memes` from `text_features(...)` (or any dict with the same encoder keys)."""
    offsets, mask = encoded["offsets"], encoded["padding_mask"]
    tags = np.stack(
        [
            spans_to_token_tags(meme.spans, offsets[i], mask[i], techniques)
            for i, meme in enumerate(memes)
        ]
    )
    return TokenTagData(
        list(memes),
        encoded.get("features"),
        encoded["token_ids"],
        mask,
        offsets,
        tags,
        text_token_weights(offsets, mask),
    )


def predict_tag_probabilities(model: keras.Model, inputs: dict, batch_size: int = 64) -> np.ndarray:
    return np.asarray(model.predict(inputs, batch_size=batch_size, verbose=0), np.float32)


def decode_spans(
    data: TokenTagData, probabilities: np.ndarray, techniques: Sequence[str], threshold: float
) -> dict[str, list[Span]]:
    """Deduplicated character spans of every meme, keyed by id."""
    return {
        meme.id: deduplicate_spans(
            token_probabilities_to_spans(
                meme.text,
                data.offsets[i],
                data.padding_mask[i],
                probabilities[i],
                techniques,
                threshold,
            )
        )
        for i, meme in enumerate(data.memes)
    }
