"""A trained `spans` run: texts in, character spans of techniques out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

import meme_keras.losses  # noqa: F401  (saved models name the loss they were compiled with)
import meme_keras.models  # noqa: F401  (registers the custom layers for loading)
from meme_keras.backbones.adapted_text import text_preset
from meme_keras.backbones.features import encode_texts, text_features
from meme_keras.data.meme import Meme, Span
from meme_keras.evaluation.span_predictions import prediction_records
from meme_keras.inference.raw_memes import memes_from_lists
from meme_keras.inference.run_folder import read_run_config
from meme_keras.pipeline.token_tags import decode_spans, predict_tag_probabilities, token_tag_data


def decision_thresholds(thresholds: dict, techniques: tuple[str, ...], run_dir: Path):
    """A run's token threshold from its `thresholds.json`: the global one (float), or float64
    [K] in `techniques` order where the run tuned one per technique."""
    if "technique_thresholds" not in thresholds:
        return float(thresholds["token_threshold"])
    own = thresholds["technique_thresholds"]
    if set(own) != set(techniques):
        raise ValueError(f"{run_dir}: thresholds.json's technique_thresholds name other techniques")
    return np.array([float(own[technique]) for technique in techniques])


class SpanModel:
    """A run folder's per-token tagger with its token-probability threshold (one, or one per
    technique).

    Example:
    ```python
    model = SpanModel("runs/spans")
    model.predict(texts=["I HATE TRUMP"])
    # [{"id": "0", "text": "I HATE TRUMP", "labels": [{"start": 2, "end": 6,
    #   "technique": "Loaded Language", "text_fragment": "HATE"}]}]
    ```
    """

    needs_images = reads_images = False

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.config = read_run_config(self.run_dir, ("model.keras", "thresholds.json"))
        self.task = self.config.task
        self.model = keras.saving.load_model(self.run_dir / "model.keras", compile=False)
        thresholds = json.loads((self.run_dir / "thresholds.json").read_text(encoding="utf-8"))
        if "techniques" not in thresholds:
            raise ValueError(f"{self.run_dir}: thresholds.json lists no techniques: retrain it")
        self.techniques = tuple(thresholds["techniques"])
        self.threshold = decision_thresholds(thresholds, self.techniques, self.run_dir)

    def spans(self, memes: Sequence[Meme], cache_dir=None, **options) -> dict[str, list[Span]]:
        """Deduplicated character spans of each meme, keyed by meme id."""
        backbone = self.config["text_backbone"]
        name, length, preset = backbone["name"], backbone["sequence_length"], text_preset(backbone)
        if "token_ids" in self.model.input:  # the model holds its (fine-tuned) backbone
            tokens = encode_texts(memes, name, length, preset)
            encoded = {
                "token_ids": tokens.token_ids,
                "padding_mask": tokens.padding_mask,
                "offsets": tokens.offsets,
            }
        else:
            encoded = text_features(
                memes, name, length, preset=preset, cache_dir=cache_dir, **options
            )
        data = token_tag_data(memes, encoded, self.techniques)
        probabilities = predict_tag_probabilities(self.model, data.inputs_of(self.model))
        return decode_spans(data, probabilities, self.techniques, self.threshold)

    def predict_memes(self, memes: Sequence[Meme], **options) -> list[dict]:
        """Task-format predictions: each meme's id, text and spans (`labels`)."""
        return prediction_records(memes, self.spans(memes, **options))

    def predict(self, texts: Sequence[str], ids: Sequence[str] | None = None) -> list[dict]:
        """Predictions for texts given as a list (ids default to "0", "1", ...)."""
        return self.predict_memes(memes_from_lists(texts, None, ids))
