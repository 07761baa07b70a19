"""Loads a span-tagging run folder and tags the spans of any memes' texts (subtask 2)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import keras
import yaml

import meme_keras.models.span_tagger  # noqa: F401  (registers the head for loading)
from meme_keras.backbones.features import text_features
from meme_keras.data.corpus import default_data_dir
from meme_keras.data.meme import Meme, Span
from meme_keras.data.techniques import read_techniques
from meme_keras.training.span_training import decode_spans, predict_probabilities, token_tag_data


class SpanPredictor:
    """A trained tagger: its config, per-token model and token-probability threshold."""

    def __init__(self, run_dir: str | Path, data_dir: str | Path | None = None):
        self.run_dir = Path(run_dir)
        for required in ("config.yaml", "model.keras", "thresholds.json"):
            if not (self.run_dir / required).exists():
                raise FileNotFoundError(f"{self.run_dir}: not a span run folder (no {required})")
        self.config = yaml.safe_load((self.run_dir / "config.yaml").read_text())
        self.model = keras.saving.load_model(self.run_dir / "model.keras", compile=False)
        thresholds = json.loads((self.run_dir / "thresholds.json").read_text())
        self.threshold = thresholds["token_threshold"]
        self.techniques = read_techniques(data_dir or default_data_dir(), "text")

    def predict(self, memes: Sequence[Meme], **feature_options) -> dict[str, list[Span]]:
        """Deduplicated character spans of each meme, keyed by meme id."""
        backbone = self.config["text_backbone"]
        encoded = text_features(
            memes,
            backbone["name"],
            backbone["sequence_length"],
            preset=backbone["preset"],
            **feature_options,
        )
        data = token_tag_data(memes, encoded, self.techniques)
        probabilities = predict_probabilities(self.model, data.head_inputs())
        return decode_spans(data, probabilities, self.techniques, self.threshold)
