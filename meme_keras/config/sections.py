"""Config sections shared by the tasks: backbones, losses, thresholds, stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from meme_keras.config.typed_config import ConfigError, TypedConfig

Monitor = Literal["val_loss", "val_pr_auc"]
StagePart = Literal["text", "text_top", "image", "image_top"]


@dataclass
class RunSettings(TypedConfig):
    """What every run has: its task, name (the run folder under runs/), seed and corpus."""

    task: str = "techniques"
    name: str = "main"
    seed: int = 42
    data_dir: str | None = None


@dataclass
class ImageBackboneConfig(TypedConfig):
    name: str = "efficientnet_lite0"
    # "imagenet", a local weights file, or null (random weights, for tests).
    weights: str | None = "imagenet"
    image_size: int | None = None
    # Where an `image_top` stage cuts the backbone (null: the backbone's own `top_from`).
    top_from: str | None = None


@dataclass
class TextAdaptationConfig(TypedConfig):
    """The text backbone fine-tuned once on extra labelled text before any fold sees it
    (`meme_keras.training.text_adaptation`). `semeval2024`: every 2024 meme with the 22
    techniques of subtask 3 and the 20 of subtask 1 as one multi-task head, a label set a meme
    lacks left out of the loss. `ptc`: a token tagger over the 20 text techniques on PTC
    sentences, those PTC never annotates left out of the loss. No 2021 meme takes part, so
    every fold and task may start from it."""

    corpora: list[Literal["semeval2024", "ptc"]] = field(default_factory=lambda: ["semeval2024"])
    epochs: int = 2
    learning_rate: float = 5e-5
    batch_size: int = 32
    label_smoothing: float = 0.1
    seed: int = 0

    def check(self, where: str) -> None:
        if len(set(self.corpora)) != 1:
            raise ConfigError(
                f"{where}: corpora names one corpus, semeval2024 (meme labels) or ptc (token "
                f"tags), not {self.corpora}"
            )
        if self.epochs < 1 or self.learning_rate <= 0 or self.batch_size < 1:
            raise ConfigError(f"{where}: needs epochs >= 1, learning_rate > 0, batch_size >= 1")


@dataclass
class TextBackboneConfig(TypedConfig):
    name: str = "all_minilm_l6_v2"
    # A local keras-hub preset or Hugging Face folder (null: the backbone's offline default).
    preset: str | None = None
    sequence_length: int = 128
    # null: the pretrained weights as they are; else adapted to extra memes first, once, cached.
    adaptation: TextAdaptationConfig | None = None
    # The first transformer layer a `text_top` stage fine-tunes, the layers below it frozen and
    # cached (null: the upper half).
    top_from: int | None = None

    def check(self, where: str) -> None:
        if self.top_from is not None and self.top_from < 0:
            raise ConfigError(f"{where}.top_from: a layer index, 0 or more")
        if self.adaptation is not None and self.name.startswith("all_mpnet"):
            raise ConfigError(
                f"{where}.adaptation: not for {self.name} yet (its loader reads Hugging Face "
                "folders, not the keras-hub presets an adaptation writes)"
            )


@dataclass
class LossConfig(TypedConfig):
    type: Literal["bce", "focal"] = "bce"
    label_smoothing: float = 0.1
    alpha: float = 1.0
    gamma: float = 2.0
    # > 0 weights each technique's positives by its rarity in the training rows
    # (losses.balanced_positive_weights), at most max_positive_weight.
    positive_weight_power: float = 0.0
    max_positive_weight: float = 10.0


@dataclass
class StageConfig(TypedConfig):
    """One stage of staged fine-tuning: what trains besides the head ([] = frozen backbones,
    the head on cached features), for how long, how fast, and its early stopping. A stage of
    one epoch has nothing for early stopping to choose and trains without a validation pass."""

    name: str
    epochs: int
    learning_rate: float
    train: list[StagePart] = field(default_factory=list)
    patience: int | None = None  # null: the run's early_stopping_patience
    monitor: Monitor | None = None  # null: the run's early_stopping_monitor
    # Training steps per call of the traced step (Keras's `steps_per_execution`). A small head
    # on cached features spends most of a step in Python and dispatch, and 32 a call trains the
    # linear probes in two thirds of the time to the same weights. Not a free lunch elsewhere:
    # the subtask-3 fusion model's steps inside one traced loop are slower on 2 cores and not
    # bit-identical to one step a call, so 1 unless a config says otherwise.
    steps_per_execution: int = 1

    def check(self, where: str) -> None:
        if self.epochs < 1 or self.learning_rate <= 0:
            raise ConfigError(f"{where}: needs epochs >= 1 and learning_rate > 0")
        if self.steps_per_execution < 1:
            raise ConfigError(f"{where}: needs steps_per_execution >= 1")


@dataclass
class RuleSelectionConfig(TypedConfig):
    """Choose the decision rule by cross-validation over the tuning rows: the best macro-F1
    among rules within `micro_tolerance` of the best micro-F1."""

    micro_tolerance: float = 0.005
    folds: int = 5
    repeats: int = 5


@dataclass
class ThresholdsConfig(TypedConfig):
    tune_on: Literal["folds", "dev"] = "folds"
    folds: int = 5
    mode: Literal["global", "per_label"] = "global"
    objective: Literal["micro", "macro", "mix"] = "micro"
    macro_weight: float = 0.0
    min_support: int = 10
    min_labels_per_meme: int = 1
    select_rule: RuleSelectionConfig | None = None
    # A fixed threshold for every technique, not tuned (the report's 0.28).
    fixed: float | None = None

    def check(self, where: str) -> None:
        if self.fixed is not None and self.select_rule is not None:
            raise ConfigError(f"{where}: a fixed threshold or select_rule, not both")
