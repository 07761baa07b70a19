"""Typed run configs: one dataclass per task, every key checked on load."""

from meme_keras.config.loading import (
    config_from_dict,
    load_config,
    make_config,
    span_config,
    write_config,
)
from meme_keras.config.sections import (
    ImageBackboneConfig,
    LossConfig,
    StageConfig,
    TextBackboneConfig,
    ThresholdsConfig,
)
from meme_keras.config.spans_config import SpansConfig
from meme_keras.config.techniques_config import TechniquesConfig
from meme_keras.config.text_techniques_config import TextTechniquesConfig
from meme_keras.config.typed_config import ConfigError, TypedConfig

__all__ = [
    "ConfigError",
    "ImageBackboneConfig",
    "LossConfig",
    "SpansConfig",
    "StageConfig",
    "TechniquesConfig",
    "TextBackboneConfig",
    "TextTechniquesConfig",
    "ThresholdsConfig",
    "TypedConfig",
    "config_from_dict",
    "load_config",
    "make_config",
    "span_config",
    "write_config",
]
