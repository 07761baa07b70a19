"""A trained `techniques` or `text_techniques` run: memes in, techniques with probabilities out."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

import meme_keras.losses  # noqa: F401  (saved models name the loss they were compiled with)
import meme_keras.models  # noqa: F401  (registers the custom layers for loading)
from meme_keras.data.meme import Meme
from meme_keras.evaluation.technique_predictions import technique_predictions
from meme_keras.inference.raw_memes import MemeInputError, memes_from_lists
from meme_keras.inference.run_folder import read_run_config
from meme_keras.pipeline.classifier_inputs import predict_probabilities
from meme_keras.pipeline.feature_sets import feature_set_chunks, load_frozen_backbones
from meme_keras.progress import tracked
from meme_keras.thresholds import TunedThresholds


class TechniqueModel:
    """A run folder's model over backbone features, with its tuned decision rule.

    Example:
    ```python
    model = TechniqueModel("runs/main")
    model.predict(texts=["I HATE TRUMP"], images=["meme.jpg"])
    # [{"id": "0", "labels": [...], "probabilities": {"Smears": 0.61, ...}}]
    ```
    """

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.config = read_run_config(self.run_dir, ("model.keras", "thresholds.json"))
        self.task = self.config.task
        self.model = keras.saving.load_model(self.run_dir / "model.keras", compile=False)
        self.thresholds = TunedThresholds.from_json(self.run_dir / "thresholds.json")
        self.techniques = self.thresholds.techniques
        self._backbones = None
        self._backbones_loading = threading.Lock()  # threads may share one model

    @property
    def reads_images(self) -> bool:
        """Whether the model takes images at all (False for a text-only run)."""
        return self.config["image_backbone"] is not None

    @property
    def needs_images(self) -> bool:
        """Whether every meme needs an image: a multimodal run that never trained on memes
        without one. The others show a meme without an image a black image, which such a run
        learned to read as "no image" (`extra_memes`, `text_only_fraction`)."""
        return self.reads_images and not self.config.accepts_text_only

    def probabilities(
        self, memes: Sequence[Meme], chunk_size: int = 256, cache_dir=None, **feature_options
    ) -> np.ndarray:
        """[memes, techniques] probabilities, computed `chunk_size` memes at a time (memory
        stays flat however many memes there are); the backbones load once per model.
        `cache_dir`: where to cache backbone features (None: no caching)."""
        if self.needs_images:
            for row, meme in enumerate(memes):
                if meme.image_path is None:
                    raise MemeInputError(
                        f"row {row} (id {meme.id!r}): this model needs an image for every meme, "
                        "and none was given"
                    )
        with self._backbones_loading:
            if self._backbones is None:
                self._backbones = load_frozen_backbones(self.config)
        chunks = feature_set_chunks(
            memes,
            self.techniques,
            self.config,
            chunk_size,
            self._backbones,
            cut_features=False,
            cache_dir=cache_dir,
            **feature_options,
        )
        parts = [
            predict_probabilities(self.model, chunk, self.config)
            for chunk in tracked(chunks, "prediction", total=-(-len(memes) // chunk_size))
        ]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.techniques)), "float32")

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        """Multi-hot decisions at the run's tuned thresholds."""
        return self.thresholds.apply(probabilities)

    def predict_memes(self, memes: Sequence[Meme], **feature_options) -> list[dict]:
        """Task-format predictions, with each technique's probability."""
        probabilities = self.probabilities(memes, **feature_options)
        return technique_predictions(
            memes, self.decide(probabilities), self.techniques, probabilities
        )

    def predict(
        self,
        texts: Sequence[str],
        images: Sequence[str | Path | bytes] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[dict]:
        """Predictions for memes given as lists: texts, images (paths or encoded bytes, None
        for a meme without one where the run allows it; not for text-only runs) and optional
        ids (default "0", "1", ...)."""
        if images is not None and not self.reads_images:
            raise ValueError(f"{self.run_dir}: a {self.task} run reads text only; drop images")
        with tempfile.TemporaryDirectory(prefix="meme_keras_") as scratch:
            memes = memes_from_lists(texts, images, ids, self.needs_images, scratch)
            return self.predict_memes(memes)
