"""The config of a `techniques` run (subtask 3: meme text + image -> 22 techniques)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from meme_keras.config.sections import (
    ImageBackboneConfig,
    LossConfig,
    Monitor,
    RunSettings,
    StageConfig,
    TextBackboneConfig,
    ThresholdsConfig,
)
from meme_keras.config.typed_config import ConfigError, TypedConfig


@dataclass
class ClassifierHeadConfig(TypedConfig):
    # AIMH-style fusion, a linear probe on pooled features, or a text-only transformer head.
    type: Literal["fusion", "baseline_concat", "text"] = "fusion"
    hidden_dim: int = 256
    num_layers: int = 1
    num_heads: int = 4
    intermediate_dim: int = 512
    dropout: float = 0.3


@dataclass
class CompanionConfig(TypedConfig):
    """A second head per model on the frozen features, trained a fixed number of epochs and
    averaged with the staged model (training.frozen_companion)."""

    epochs: int
    learning_rate: float

    def check(self, where: str) -> None:
        if self.epochs < 1 or self.learning_rate <= 0:
            raise ConfigError(f"{where}: needs epochs >= 1 and learning_rate > 0")


def _frozen_stage() -> list[StageConfig]:
    return [StageConfig(name="frozen", epochs=40, learning_rate=5e-5)]


@dataclass
class TechniquesConfig(RunSettings):
    task: Literal["techniques"] = "techniques"
    image_backbone: ImageBackboneConfig = field(default_factory=ImageBackboneConfig)
    text_backbone: TextBackboneConfig = field(default_factory=TextBackboneConfig)
    model: ClassifierHeadConfig = field(default_factory=ClassifierHeadConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    batch_size: int = 16
    # Staged fine-tuning; the first stage trains the head on frozen features.
    stages: list[StageConfig] = field(default_factory=_frozen_stage)
    frozen_companion: CompanionConfig | None = None
    early_stopping_patience: int = 8
    # "val_pr_auc": validation PR-AUC averaged over techniques, which the rare techniques move
    # as much as the frequent ones that dominate the loss.
    early_stopping_monitor: Monitor = "val_loss"
    # Each fit backs up every epoch (keras.callbacks.BackupAndRestore) so a killed run resumes.
    backup_and_restore: bool = True
    thresholds: ThresholdsConfig = field(default_factory=ThresholdsConfig)
    strategy: Literal["default", "mirrored", "multi_worker"] = "default"
    # Labelled memes added to the training part of every fold, never to a validation part:
    # "semeval2024", the SemEval-2024 Task 4 English memes (text only: a multimodal run shows
    # them a black image, its "no image").
    extra_memes: list[Literal["semeval2024"]] = field(default_factory=list)
    # The fraction of each fold's training memes added again without their image (a black
    # image), so that a multimodal model also learns to predict from text alone.
    text_only_fraction: float = 0.0
    # The network model.keras holds: the fold models averaged ("fold_ensemble"), or one model
    # refit on all of train+dev with each stage's median early-stopping epoch over the folds
    # ("refit"): one network to ship, as fast as one fold model; or the fold models' weights
    # averaged ("soup", every fold's head started alike): one network and no training of its own.
    final_model: Literal["fold_ensemble", "refit", "soup"] = "fold_ensemble"

    @property
    def accepts_text_only(self) -> bool:
        """Whether the model may be given memes without an image: a text-only run, or a
        multimodal one that trained on text-only memes."""
        return self.image_backbone is None or bool(self.extra_memes) or self.text_only_fraction > 0

    def check(self, where: str) -> None:
        at = f"{where}: " if where else ""
        if not 0.0 <= self.text_only_fraction <= 1.0:
            raise ConfigError(f"{at}text_only_fraction: must be in [0, 1]")
        if self.text_only_fraction > 0 and self.image_backbone is None:
            raise ConfigError(f"{at}text_only_fraction: a text-only run has no images to drop")
        one_network = self.final_model != "fold_ensemble"
        if one_network and self.thresholds.tune_on != "folds":
            raise ConfigError(
                f"{at}final_model: {self.final_model} is made from the folds' models (tune_on)"
            )
        if one_network and self.frozen_companion is not None:
            raise ConfigError(
                f"{at}final_model: {self.final_model} does not train a frozen_companion"
            )
        if not self.stages:
            raise ConfigError(f"{at}stages: at least one stage is needed")
        if self.stages[0].train:
            raise ConfigError(f"{at}stages[0]: the first stage trains the head on frozen features")
        parts = {part for stage in self.stages for part in stage.train}
        for whole, top in (("image", "image_top"), ("text", "text_top")):
            if {whole, top} <= parts:
                raise ConfigError(
                    f"{at}stages: fine-tune the whole {whole} backbone or its top, not both"
                )
