"""A trained run folder, read without the trainer: its typed config and required files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from meme_keras.config import TypedConfig, load_config

# The adapted text backbone a run trained from, kept in the run folder: a run folder is
# complete without the feature cache (`text_backbone.adaptation`).
RUN_TEXT_BACKBONE = "text_backbone"


def read_run_config(run_dir: str | Path, required: tuple[str, ...] = ()) -> TypedConfig:
    """The run's config (it names the task); FileNotFoundError if `run_dir` is no run folder.

    A run trained on an adapted text backbone reads it from its own copy in the folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: run folder not found")
    for name in ("config.yaml", *required):
        if not (run_dir / name).exists():
            raise FileNotFoundError(f"{run_dir}: not a finished run folder (no {name})")
    config = load_config(run_dir / "config.yaml")
    kept = run_dir / RUN_TEXT_BACKBONE
    if config["text_backbone"].get("adaptation") and kept.is_dir():
        config["text_backbone"] = config["text_backbone"].replace(
            preset=str(kept.resolve()), adaptation=None
        )
    return config


def keep_text_backbone(adapted: Path, run_dir: Path) -> None:
    """Puts the adapted backbone folder `adapted` into `run_dir` (hard links where the file
    system allows: the cache and the runs usually share a disk)."""
    target = Path(run_dir) / RUN_TEXT_BACKBONE
    partial = target.with_name(f"{RUN_TEXT_BACKBONE}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(adapted, partial, copy_function=_link_or_copy)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)
