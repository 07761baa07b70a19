"""A trained run folder, read without the trainer: its typed config and required files."""

from __future__ import annotations

from pathlib import Path

from meme_keras.config import TypedConfig, load_config


def read_run_config(run_dir: str | Path, required: tuple[str, ...] = ()) -> TypedConfig:
    """The run's config (it names the task); FileNotFoundError if `run_dir` is no run folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: run folder not found")
    for name in ("config.yaml", *required):
        if not (run_dir / name).exists():
            raise FileNotFoundError(f"{run_dir}: not a finished run folder (no {name})")
    return load_config(run_dir / "config.yaml")
