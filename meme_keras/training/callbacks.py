"""Callbacks shared by every training stage, and resuming a killed fit exactly."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import keras
import numpy as np
from keras import ops

from meme_keras.pipeline.length_bucketed_batches import EpochCounter
from meme_keras.training.distribution import is_chief, worker_scratch_folder

METADATA = "training_metadata.json"

log = logging.getLogger(__name__)


class LearningRateLogger(keras.callbacks.Callback):
    """Puts the optimizer's learning rate into the epoch logs, so TensorBoard plots it."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(ops.convert_to_numpy(self.model.optimizer.learning_rate))


class EpochClock(keras.callbacks.Callback):
    """The epoch `fit` is in, for datasets that shuffle by (seed, epoch).

    A shuffle whose random state advances from epoch to epoch would, in a process that resumes
    at epoch k, order epoch k like epoch 0; seeded by (seed, epoch) it orders it like an
    uninterrupted run. Keras creates each epoch's data iterator after `on_epoch_begin`.
    """

    def __init__(self):
        super().__init__()
        # Datasets hold this counter, never the callback (which holds the model).
        self.counter = EpochCounter()

    @property
    def epoch(self) -> int:
        return self.counter.epoch

    @epoch.setter
    def epoch(self, epoch: int) -> None:
        self.counter.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch


class ResumableBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that resumes a fit exactly and commits each backup atomically.

    Keras's callback saves the weights (with the optimizer's state) and the epoch. Resuming
    from that alone changes the result, so this also saves:
    - the models' random seed states (Dropout's `SeedGenerator`s are not weights): else the
      resumed epochs reuse the dropout masks of the stage's first epochs;
    - `early_stopping`'s state (wait, best value and epoch, best weights): else the resumed
      fit forgets a best epoch before the kill and restores different weights at the end.
    Each epoch's files get new names and `training_metadata.json`, replaced atomically,
    names them: a kill while saving leaves the previous backup usable (Keras writes the
    weights and the epoch in place, so such a kill could pair one epoch's weights with another
    epoch's count, or leave a truncated file). And Keras never resets `model._initial_epoch`:
    after a resumed fit, the next fit of the same model (the next stage) would skip as many
    epochs; this resets it when a fit ends.
    """

    def __init__(
        self,
        backup_dir,
        early_stopping: keras.callbacks.EarlyStopping | None = None,
        write_dir=None,
    ):
        # Backups are read from `backup_dir` and written to `write_dir` (default: the same).
        # The workers of a multi-worker run other than the chief resume from the chief's
        # backup (every worker's weights are the same) and write theirs to a scratch folder:
        # they must still save, as saving reads distributed variables in step with the chief.
        super().__init__(str(write_dir or backup_dir), save_freq="epoch")
        self.read_dir = str(backup_dir)
        self.early_stopping = early_stopping

    def _seed_states(self) -> list:
        weights = {id(weight) for weight in self.model.weights}
        return [v for v in self.model.variables if id(v) not in weights]

    def _save_model(self):
        backup = Path(self.backup_dir)
        backup.mkdir(parents=True, exist_ok=True)
        epoch = self._current_epoch
        weights, state = f"epoch_{epoch}.weights.h5", f"epoch_{epoch}.state.npz"
        self.model.save_weights(str(backup / weights), overwrite=True)
        arrays = {f"seed_{i}": np.asarray(v) for i, v in enumerate(self._seed_states())}
        metadata = {"epoch": epoch, "batch": 0, "weights": weights, "state": state}
        stopper = self.early_stopping
        if stopper is not None:
            best = None if stopper.best is None else float(stopper.best)
            metadata["early_stopping"] = {
                "monitor": stopper.monitor,
                "wait": stopper.wait,
                "best": best,
                "best_epoch": stopper.best_epoch,
                "stopped_epoch": stopper.stopped_epoch,
                "best_weights": stopper.best_weights is not None,
            }
            for i, weight in enumerate(stopper.best_weights or []):
                arrays[f"best_{i}"] = weight
        with open(backup / state, "wb") as stream:
            np.savez(stream, **arrays)
        temporary = backup / f"{METADATA}.tmp"
        temporary.write_text(json.dumps(metadata))
        os.replace(temporary, backup / METADATA)  # the commit point
        for old in backup.glob("epoch_*"):
            if old.name not in (weights, state):
                old.unlink()

    def _load_model(self):
        metadata_path = Path(self.read_dir) / METADATA
        if not metadata_path.exists():
            self.model._initial_epoch = None
            return
        metadata = json.loads(metadata_path.read_text())
        if "weights" not in metadata:  # written by Keras's own BackupAndRestore
            super()._load_model()
            return
        backup = Path(self.read_dir)
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(str(backup / metadata["weights"]))
        with np.load(backup / metadata["state"]) as state:
            seeds = self._seed_states()
            if len(seeds) != sum(name.startswith("seed_") for name in state.files):
                raise ValueError(f"{self.read_dir}: the backup is of a different model")
            for i, variable in enumerate(seeds):
                variable.assign(state[f"seed_{i}"])
            best_weights = [
                state[name]
                for name in sorted(
                    (name for name in state.files if name.startswith("best_")),
                    key=lambda name: int(name.split("_")[1]),
                )
            ]
        epoch = metadata["epoch"]
        stopper, saved = self.early_stopping, metadata.get("early_stopping")
        if stopper is not None and saved is not None:
            if saved.get("monitor", "val_loss") != stopper.monitor:
                # A best value of one metric is no best value of another.
                raise ValueError(
                    f"{self.read_dir}: backed up while early stopping watched "
                    f"{saved.get('monitor', 'val_loss')}, now {stopper.monitor}; delete the "
                    "folder to train this stage from its start"
                )
            stopper.wait, stopper.best = saved["wait"], saved["best"]
            stopper.best_epoch, stopper.stopped_epoch = saved["best_epoch"], saved["stopped_epoch"]
            stopper.best_weights = best_weights if saved["best_weights"] else None
            if stopper.stopped_epoch > 0:
                # Early stopping had ended the fit: run no more epochs, only its end (which
                # restores the best weights).
                epoch = self.params["epochs"]
        self.model._initial_epoch = epoch
        log.info("%s: resuming at epoch %d", self.read_dir, epoch + 1)

    def on_train_end(self, logs=None):
        self.model._initial_epoch = None
        # The metadata first: a kill while deleting leaves no half backup that looks whole.
        (Path(self.backup_dir) / METADATA).unlink(missing_ok=True)
        shutil.rmtree(self.backup_dir, ignore_errors=True)


# What early stopping may watch, and whether lower is better.
MONITORS = {"val_loss": "min", "val_pr_auc": "max"}


def training_callbacks(
    log_dir: Path | None,
    validation: bool,
    patience: int,
    backup: bool = False,
    clock: EpochClock | None = None,
    monitor: str = "val_loss",
) -> list[keras.callbacks.Callback]:
    """Learning-rate logging, TensorBoard, early stopping on `monitor` (one of `MONITORS`;
    the best epoch's weights are restored), and (with
    `backup`) a `ResumableBackup` in `log_dir/backup`: a killed fit started again with the
    same command resumes from its last finished epoch to the same result (its dataset must
    shuffle by `clock`, which is then included). The backup is deleted when the fit ends.

    The order matters: early stopping updates its state before the backup saves it, at each
    epoch's end, and resets it before the backup restores it, when the fit begins.
    """
    check_monitor(monitor)
    callbacks: list[keras.callbacks.Callback] = [LearningRateLogger()]
    if clock is not None:
        callbacks.insert(0, clock)
    early_stopping = None
    if validation and patience:
        early_stopping = keras.callbacks.EarlyStopping(
            monitor=monitor, mode=MONITORS[monitor], patience=patience, restore_best_weights=True
        )
        callbacks.append(early_stopping)
    if log_dir is None:
        return callbacks
    # Across workers, every worker runs the same callbacks, but only the chief writes into
    # `log_dir`; the others write to a scratch folder of their own.
    log_dir = Path(log_dir)
    written = log_dir
    if not is_chief():
        written = worker_scratch_folder() / "logs" / log_dir.relative_to(log_dir.anchor)
    if backup:
        callbacks.append(ResumableBackup(log_dir / "backup", early_stopping, written / "backup"))
    callbacks.append(keras.callbacks.TensorBoard(str(written), write_graph=False))
    return callbacks


def validated_each_epoch(stage: dict, validation):
    """The validation data a stage's fit scores each epoch: none in a stage of one epoch, where
    early stopping has no other epoch to choose and keeps the one trained, so the pass (and
    its traced step) would change nothing but the logs; ~10% of a subtask-3 fold's time."""
    return validation if stage["epochs"] > 1 else None


def epochs_kept(callbacks: list[keras.callbacks.Callback], epochs: int) -> int:
    """How many epochs trained the weights a fit ended with: early stopping's best epoch
    (whose weights it restores when the fit ends) + 1, else all `epochs`."""
    for callback in callbacks:
        stops_early = isinstance(callback, keras.callbacks.EarlyStopping)
        if stops_early and callback.best_weights is not None:
            return callback.best_epoch + 1
    return epochs


def stage_callbacks(
    config: dict, stage: dict, log_dir: Path | None, validation: bool, clock: EpochClock
) -> list[keras.callbacks.Callback]:
    """`training_callbacks` with a stage's settings: its patience and monitor (else the
    config's) and the config's backup switch."""
    patience = stage.get("patience")
    patience = config["early_stopping_patience"] if patience is None else patience
    monitor = stage_monitor(config, stage)
    return training_callbacks(
        log_dir, validation, patience, config["backup_and_restore"], clock, monitor
    )


def stage_monitor(config: dict, stage: dict) -> str:
    """What early stopping watches in `stage`: its "monitor", else the config's."""
    monitor = stage.get("monitor") or config["early_stopping_monitor"]
    return check_monitor(monitor, f"stage {stage.get('name')!r}: ")


def check_monitor(monitor: str, where: str = "") -> str:
    """`monitor` if early stopping can watch it (one of `MONITORS`); else a ValueError that
    starts with `where`."""
    if monitor not in MONITORS:
        raise ValueError(
            f"{where}early stopping monitor must be one of {sorted(MONITORS)}, got {monitor!r}"
        )
    return monitor
