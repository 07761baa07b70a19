"""Memes as per-token examples for the span task: encoder outputs, multi-hot token targets
from gold character spans, and the way back from token probabilities to character spans."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import keras
import numpy as np

from meme_keras.data.meme import Meme, Span
from meme_keras.data.span_tags import spans_to_token_tags, token_probabilities_to_spans
from meme_keras.evaluation.span_f1 import deduplicate_spans
from meme_keras.pipeline.examples import Examples


@dataclass
class TokenTagData(Examples):
    """Memes with their per-token features, encoder outputs and multi-hot token targets
    (`Examples` selects, stacks and trims them).

    Attributes:
        memes: the memes, in row order.
        features: float32 [n, L, d] frozen backbone features (None on the fine-tuning path).
        token_ids, padding_mask, offsets: the encoder's [n, L], [n, L], [n, L, 2] arrays.
        tags: float32 [n, L, K] targets.
        token_weights: float32 [n, L], 1 for real text tokens (the loss mask).
        cut_features: float32 [n, L, d] hidden states where the text backbone's top starts,
            for fine-tuning that top (None otherwise).
    """

    SEQUENCE_FIELDS: ClassVar[tuple[str, ...]] = (
        "features",
        "token_ids",
        "padding_mask",
        "offsets",
        "tags",
        "token_weights",
        "cut_features",
    )

    features: np.ndarray | None
    token_ids: np.ndarray
    padding_mask: np.ndarray
    offsets: np.ndarray
    tags: np.ndarray
    token_weights: np.ndarray
    cut_features: np.ndarray | None = None

    def head_inputs(self) -> dict[str, np.ndarray]:
        return {"text_features": self.features, "padding_mask": self.padding_mask}

    def backbone_inputs(self) -> dict[str, np.ndarray]:
        return {
            "token_ids": self.token_ids,
            "segment_ids": np.zeros_like(self.token_ids),
            "padding_mask": self.padding_mask,
        }

    def inputs_of(self, model: keras.Model) -> dict[str, np.ndarray]:
        """What `model` reads: token ids when it holds the backbone, else frozen features."""
        if "token_ids" in model.input:
            return self.backbone_inputs()
        return self.head_inputs()

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


def ptc_token_tag_data(
    sentences: Sequence[Meme], encoded: dict[str, np.ndarray], techniques: Sequence[str]
) -> TokenTagData:
    """`token_tag_data` of PTC sentences: the techniques PTC never annotates are
    `UNKNOWN_LABEL` on every token (left out of the loss), not taught as absent."""
    from meme_keras.data.ptc import annotated_mask
    from meme_keras.losses import UNKNOWN_LABEL

    data = token_tag_data(sentences, encoded, techniques)
    data.tags[:, :, annotated_mask(techniques) == 0] = UNKNOWN_LABEL
    return data


def predict_tag_probabilities(model: keras.Model, inputs: dict, batch_size: int = 64) -> np.ndarray:
    return np.asarray(model.predict(inputs, batch_size=batch_size, verbose=0), np.float32)


def decode_spans(
    data: TokenTagData,
    probabilities: np.ndarray,
    techniques: Sequence[str],
    threshold: float | Sequence[float],
    max_gap_words: int = 0,
) -> dict[str, list[Span]]:
    """Deduplicated character spans of every meme, keyed by id (`token_probabilities_to_spans`'s
    threshold, one or one per technique, and `max_gap_words`)."""
    return {
        meme.id: deduplicate_spans(
            token_probabilities_to_spans(
                meme.text,
                data.offsets[i],
                data.padding_mask[i],
                probabilities[i],
                techniques,
                threshold,
                max_gap_words,
            )
        )
        for i, meme in enumerate(data.memes)
    }
