"""Trains a config of any task into a run folder: the task's trainer, chosen by `task`."""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path

from meme_keras.config import TypedConfig, config_from_dict, load_config
from meme_keras.inference.run_folder import keep_text_backbone
from meme_keras.tasks import get_task
from meme_keras.training.distribution import worker_scratch_folder, writes_run_folder
from meme_keras.training.garbage import collecting_young_garbage
from meme_keras.training.text_adaptation import ensure_adapted_text_backbone

log = logging.getLogger(__name__)


def resolve_config(config, seed=None, data_dir=None, strategy=None) -> TypedConfig:
    """A typed config from a path, a dict or a typed config, with the given settings."""
    if isinstance(config, str | Path):
        config = load_config(config)
    elif isinstance(config, Mapping) and not isinstance(config, TypedConfig):
        config = config_from_dict(config)
    if seed is not None:
        config["seed"] = seed
    if data_dir is not None:
        config["data_dir"] = str(data_dir)
    if strategy is not None:
        if "strategy" not in config:
            raise ValueError(f"a {config.task} run has no strategy setting")
        config["strategy"] = strategy
    return config


def train_config(
    config, output=None, seed=None, data_dir=None, verbose=1, reuse_finished=False, strategy=None
) -> dict:
    """Trains `config` into `output` (default `runs/<name>`); returns the run's metrics."""
    config = resolve_config(config, seed, data_dir, strategy)
    output = Path(output) if output is not None else Path("runs") / config.name
    trainer = get_task(config.task).load_trainer()
    if not writes_run_folder(config.get("strategy", "default")):
        with collecting_young_garbage():
            return _train_as_worker(trainer, config, output, verbose)
    output.mkdir(parents=True, exist_ok=True)
    with logged_to(output / "train.log"), collecting_young_garbage():
        log.info("training %s run %r into %s", config.task, config.name, output)
        adapted = ensure_adapted_text_backbone(config["text_backbone"], verbose)
        metrics = trainer(config, output, verbose=verbose, reuse_finished=reuse_finished)
        if adapted is not None:
            keep_text_backbone(adapted, output)
        return metrics


def _train_as_worker(trainer, config, output: Path, verbose: int) -> dict:
    # A multi-worker run's other workers train in step with the chief, which alone writes
    # `output`; they read its backups there (to resume) and write the rest to a scratch folder,
    # deleted at the end.
    scratch = worker_scratch_folder()
    try:
        with logged_to(scratch / "train.log"):
            log.info("training %s run %r as a worker of %s", config.task, config.name, output)
            ensure_adapted_text_backbone(config["text_backbone"], verbose)
            return trainer(config, output, verbose=verbose)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def logged_to(path: Path):
    """meme_keras's log records also go to `path` (appended) while the block runs."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    package = logging.getLogger("meme_keras")
    previous = package.level
    package.setLevel(min(previous or logging.INFO, logging.INFO))
    package.addHandler(handler)
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(previous)
        handler.close()
