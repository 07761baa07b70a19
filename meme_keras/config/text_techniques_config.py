"""The config of a `text_techniques` run (subtask 1: a meme's text -> 20 techniques).

The techniques pipeline without an image: the same stages, folds and decision rules, with a
text head (or the linear probe) on the text backbone alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from meme_keras.config.sections import ImageBackboneConfig
from meme_keras.config.techniques_config import ClassifierHeadConfig, TechniquesConfig
from meme_keras.config.typed_config import ConfigError


@dataclass
class TextTechniquesConfig(TechniquesConfig):
    task: Literal["text_techniques"] = "text_techniques"
    name: str = "text_techniques"
    image_backbone: ImageBackboneConfig | None = None
    model: ClassifierHeadConfig = field(default_factory=lambda: ClassifierHeadConfig(type="text"))

    def check(self, where: str) -> None:
        super().check(where)
        at = f"{where}: " if where else ""
        if self.image_backbone is not None:
            raise ConfigError(f"{at}image_backbone: a text_techniques run reads no images")
        if self.model.type == "fusion":
            raise ConfigError(f"{at}model.type: 'text' or 'baseline_concat' (fusion needs images)")
        for index, stage in enumerate(self.stages):
            if set(stage.train) - {"text", "text_top"}:
                raise ConfigError(
                    f"{at}stages[{index}].train: a text-only run trains only 'text' or 'text_top'"
                )
