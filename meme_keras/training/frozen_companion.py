"""A second head on the frozen backbones' features, averaged with the staged model.

Early stopping on validation loss ends the frozen stage after 1-2 epochs: the loss is carried
by the frequent techniques, which the head fits first. Trained longer, a head ranks the rarer
techniques better (higher out-of-fold mean average precision), but it then starts the
fine-tuning stages over-confident, and they gain little (`fusion_longer_frozen.yaml`). So the
companion is trained apart, on the same training memes, for a fixed number of epochs (no
early stopping, so its out-of-fold probabilities are not chosen on the fold they score), and
its probabilities are averaged with the staged model's.

In the saved model the companion reads the pretrained backbones (one copy, under all fold
companions averaged), and takes the same inputs as the staged model.
"""

from __future__ import annotations

from pathlib import Path

import keras

from meme_keras.config import StageConfig
from meme_keras.models.model_average import average_models
from meme_keras.pipeline.classifier_inputs import model_live_parts
from meme_keras.pipeline.feature_sets import FeatureSet
from meme_keras.training.fine_tuning import LiveBackbones
from meme_keras.training.head_training import fit_head

COMPANION = "frozen_companion"


def companion_settings(config) -> dict | None:
    """`config["frozen_companion"]` ({"epochs", "learning_rate"}, checked on load), or None."""
    settings = config["frozen_companion"]
    return None if settings is None else dict(settings)


def fit_frozen_companion(
    train: FeatureSet,
    config: dict,
    num_labels: int,
    log_dir: Path | None = None,
    name: str = COMPANION,
    verbose: int = 0,
) -> keras.Model:
    """A head of the configured model trained on `train`'s frozen features for the companion's
    fixed number of epochs. Inside `reusing_traces`, every fold's companion runs on the first
    one's traced step (about 20 s of tracing a fold on 2 cores)."""
    settings = companion_settings(config)
    stage = StageConfig(name=COMPANION, patience=0, **settings)
    return fit_head(
        train,
        None,
        config,
        stage,
        num_labels,
        log_dir,
        name=name,
        verbose=verbose,
        trace_key=(COMPANION,),
    )


def with_frozen_companions(
    staged: keras.Model, companions: list[keras.Model], config: dict, features: FeatureSet
) -> keras.Model:
    """One model averaging `staged`'s probabilities and the mean of the `companions`'; it takes
    `staged`'s inputs (the companions read them through pretrained copies of the backbones
    that `staged` runs). `features` gives the feature shapes."""
    companion = average_models(companions, name="frozen_companions")
    parts = model_live_parts(staged)
    if parts:
        companion = LiveBackbones(config, parts).compose(
            companion, frozenset(), features, used=parts
        )
    return average_models([staged, companion], name="staged_and_frozen_companions")
