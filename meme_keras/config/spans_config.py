"""The config of a `spans` run (subtask 2: the character spans of 20 techniques)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from meme_keras.config.sections import LossConfig, RunSettings, TextBackboneConfig
from meme_keras.config.typed_config import ConfigError, TypedConfig


@dataclass
class TaggerHeadConfig(TypedConfig):
    hidden_dim: int = 128
    num_transformer_layers: int = 0
    num_heads: int = 4
    intermediate_dim: int = 512
    dropout: float = 0.1


@dataclass
class LossGridConfig(TypedConfig):
    """The report's search: label smoothing x focal alpha."""

    label_smoothing: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.2])
    alpha: list[float] = field(default_factory=lambda: [1.0, 1.2, 2.0, 3.0])


@dataclass
class ThresholdRangeConfig(TypedConfig):
    start: float = 0.05
    stop: float = 0.8
    step: float = 0.025

    def check(self, where: str) -> None:
        if not (self.step > 0 and self.start <= self.stop):
            raise ConfigError(f"{where}: needs step > 0 and start <= stop")


@dataclass
class TechniqueThresholdsConfig(TypedConfig):
    """A token threshold of its own for each technique with at least `min_gold_spans` gold
    spans among the out-of-fold memes, tuned from the global threshold on the same
    probabilities (`meme_keras.training.span_decoder`); the others keep the global one."""

    min_gold_spans: int = 20

    def check(self, where: str) -> None:
        if self.min_gold_spans < 1:
            raise ConfigError(f"{where}: min_gold_spans must be at least 1")


@dataclass
class FineTuneConfig(TypedConfig):
    epochs: int = 3
    learning_rate: float = 5e-5
    batch_size: int = 16


@dataclass
class ReferenceClassifierConfig(TypedConfig):
    """The meme-level reference: Dense(sigmoid) on mean-pooled frozen features."""

    learning_rate: float = 5e-3
    epochs: int = 60
    batch_size: int = 64


def _focal_loss() -> LossConfig:
    return LossConfig(type="focal", label_smoothing=0.1, alpha=1.2, gamma=2.0)


@dataclass
class SpansConfig(RunSettings):
    task: Literal["spans"] = "spans"
    name: str = "spans"
    text_backbone: TextBackboneConfig = field(default_factory=TextBackboneConfig)
    model: TaggerHeadConfig = field(default_factory=TaggerHeadConfig)
    # The grid's chosen point replaces it.
    loss: LossConfig = field(default_factory=_focal_loss)
    # The frozen path trains only the head: the report's Nadam 5e-5 (meant for fine-tuning the
    # backbone) would need hundreds of epochs here.
    learning_rate: float = 3e-3
    epochs: int = 30
    batch_size: int = 64  # memes per step
    # Training steps per call of the heads' traced step on frozen features (the grid's, the
    # folds' first stage): Keras's `steps_per_execution`, which saves per-step dispatch.
    steps_per_execution: int = 1
    folds: int = 5
    grid_folds: int = 3  # the grid's points train side by side, each on 3 folds
    grid: LossGridConfig = field(default_factory=LossGridConfig)
    grid_thresholds: list[float] = field(
        default_factory=lambda: [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7]
    )
    thresholds: ThresholdRangeConfig = field(default_factory=ThresholdRangeConfig)
    # Per-technique token thresholds after the global one (None: one threshold for all).
    technique_thresholds: TechniqueThresholdsConfig | None = None
    # After the head trains on frozen features, train it on in every fold together with the text
    # backbone's transformer layers `text_backbone.top_from` and up (the upper half by default),
    # on cached hidden states of the layers below, with the `fine_tune` settings.
    fine_tune_text_top: bool = False
    # The model to ship: the fold models averaged, or one network trained the same way on all
    # of train+dev ("refit"), or the fold models' weights averaged ("soup": every fold starts
    # from the same weights). The last two are for fine_tune_text_top: averaged fold heads
    # share one frozen backbone already, fine-tuned fold models would not.
    final_model: Literal["fold_ensemble", "refit", "soup"] = "fold_ensemble"
    # For `fine_tune_text_top` and `fine_tune_span_tagger` (the report's Nadam 5e-5).
    fine_tune: FineTuneConfig = field(default_factory=FineTuneConfig)
    reference_classifier: ReferenceClassifierConfig = field(
        default_factory=ReferenceClassifierConfig
    )
    # Extra tagged text in the training part of every fold, never in a validation part: "ptc",
    # the sentences of the PTC news articles (train and dev) that hold a span, plus
    # `extra_negative_ratio` times as many span-free ones (drawn by the seed). Techniques PTC
    # never annotates are unknown there, left out of the loss.
    extra_articles: list[Literal["ptc"]] = field(default_factory=list)
    extra_negative_ratio: float = 1.0

    def check(self, where: str) -> None:
        if self.steps_per_execution < 1:
            raise ConfigError(f"{where + ': ' if where else ''}steps_per_execution: must be >= 1")
        if self.extra_negative_ratio < 0:
            raise ConfigError(f"{where + ': ' if where else ''}extra_negative_ratio: must be >= 0")
        if self.final_model != "fold_ensemble" and not self.fine_tune_text_top:
            raise ConfigError(
                f"{where + ': ' if where else ''}final_model: {self.final_model} is for "
                "fine_tune_text_top "
                "(the frozen path's averaged heads are one network on one backbone)"
            )
        if self.fine_tune_text_top and self.extra_articles:
            raise ConfigError(
                f"{where + ': ' if where else ''}fine_tune_text_top: not with extra_articles yet "
                "(the PTC sentences would need their own cut activations and ten times the time)"
            )
