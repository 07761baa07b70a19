"""Loads a run folder and predicts techniques for any memes (a corpus split or a folder)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import yaml

import meme_keras.models.flatten_grid  # noqa: F401  (registers layers for loading)
import meme_keras.models.masked_mean_pooling  # noqa: F401
from meme_keras.data.meme import Meme
from meme_keras.thresholds import TunedThresholds
from meme_keras.training.config import make_config
from meme_keras.training.feature_sets import feature_set_chunks, load_frozen_backbones
from meme_keras.training.fine_tuning import predict_probabilities


class TechniquePredictor:
    """A trained run: its config, its model over features, and its tuned thresholds."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        for required in ("config.yaml", "model.keras", "thresholds.json"):
            if not (self.run_dir / required).exists():
                raise FileNotFoundError(f"{self.run_dir}: not a run folder (no {required})")
        self.config = make_config(yaml.safe_load((self.run_dir / "config.yaml").read_text()))
        self.model = keras.saving.load_model(self.run_dir / "model.keras", compile=False)
        self.thresholds = TunedThresholds.from_json(self.run_dir / "thresholds.json")
        self.techniques = self.thresholds.techniques
        self._backbones = None

    def probabilities(
        self, memes: Sequence[Meme], chunk_size: int = 256, **feature_options
    ) -> np.ndarray:
        """[memes, techniques] probabilities, computed `chunk_size` memes at a time (memory
        stays flat however many memes there are); the backbones load once per predictor."""
        if self._backbones is None:
            self._backbones = load_frozen_backbones(self.config)
        chunks = feature_set_chunks(
            memes,
            self.techniques,
            self.config,
            chunk_size,
            self._backbones,
            cut_features=False,
            **feature_options,
        )
        parts = [predict_probabilities(self.model, chunk, self.config) for chunk in chunks]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.techniques)), "float32")

    def predict(self, memes: Sequence[Meme], **feature_options) -> np.ndarray:
        """Multi-hot decisions [memes, techniques] at the run's tuned thresholds."""
        return self.thresholds.apply(self.probabilities(memes, **feature_options))
