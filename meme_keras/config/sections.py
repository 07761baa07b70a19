"""Config sections shared by the tasks: backbones, losses, thresholds, stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from meme_keras.config.typed_config import ConfigError, TypedConfig

Monitor = Literal["val_loss", "val_pr_auc"]
StagePart = Literal["text", "image", "image_top"]


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
class TextBackboneConfig(TypedConfig):
    name: str = "all_minilm_l6_v2"
    # A local keras-hub preset or Hugging Face folder (null: the backbone's offline default).
    preset: str | None = None
    sequence_length: int = 128


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
    the head on cached features), for how long, how fast, and its early stopping."""

    name: str
    epochs: int
    learning_rate: float
    train: list[StagePart] = field(default_factory=list)
    patience: int | None = None  # null: the run's early_stopping_patience
    monitor: Monitor | None = None  # null: the run's early_stopping_monitor

    def check(self, where: str) -> None:
        if self.epochs < 1 or self.learning_rate <= 0:
            raise ConfigError(f"{where}: needs epochs >= 1 and learning_rate > 0")


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
