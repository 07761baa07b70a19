"""Configs by task: from YAML files or dicts, checked on load with the file and key named."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from meme_keras.config.spans_config import SpansConfig
from meme_keras.config.techniques_config import TechniquesConfig
from meme_keras.config.typed_config import ConfigError, TypedConfig
from meme_keras.tasks import TASKS


def config_from_dict(values: Mapping | None, where: str = "") -> TypedConfig:
    """The typed config of `values`' task (`task`, "techniques" when absent)."""
    values = dict(values or {})
    task = values.get("task", "techniques")
    if task not in TASKS:
        at = f"{where}: " if where else ""
        raise ConfigError(f"{at}task: must be one of {sorted(TASKS)}, got {task!r}")
    try:
        return TASKS[task].load_config_type().from_dict(values)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}" if where else str(error)) from None


def make_config(overrides: Mapping | None = None) -> TechniquesConfig:
    """A techniques config: the defaults with `overrides` applied (unknown keys are errors)."""
    return TechniquesConfig.from_dict(overrides)


def span_config(overrides: Mapping | None = None) -> SpansConfig:
    """A spans config: the defaults with `overrides` applied (unknown keys are errors)."""
    return SpansConfig.from_dict(overrides)


def load_config(path: str | Path) -> TypedConfig:
    """The typed config in the YAML file `path`; a problem is one line naming file and key."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(f"{path}: cannot read config ({reason})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: a config is a YAML mapping")
    return config_from_dict(values, str(path))


def write_config(config: TypedConfig, path: str | Path) -> Path:
    """The config as YAML, written atomically."""
    from meme_keras.atomic_files import write_text_atomically

    text = yaml.safe_dump(config.to_dict(), sort_keys=False)
    return write_text_atomically(text, path)
