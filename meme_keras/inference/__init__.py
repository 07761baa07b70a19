"""Predicting with trained run folders; this package never imports `meme_keras.training`.

A run folder holds everything inference needs (config with its task, model, decision rule and
technique list), so no corpus is needed.
"""

from __future__ import annotations

from pathlib import Path

from meme_keras.inference.run_folder import read_run_config
from meme_keras.tasks import get_task


def load(run_dir: str | Path):
    """The trained model of any task's run folder (`TechniqueModel` or `SpanModel`)."""
    config = read_run_config(run_dir)
    return get_task(config.task).load_model_class()(run_dir)


__all__ = ["load", "read_run_config"]
