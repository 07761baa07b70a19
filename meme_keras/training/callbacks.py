"""Callbacks shared by every training stage."""

from __future__ import annotations

from pathlib import Path

import keras
from keras import ops


class LearningRateLogger(keras.callbacks.Callback):
    """Puts the optimizer's learning rate into the epoch logs, so TensorBoard plots it."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(ops.convert_to_numpy(self.model.optimizer.learning_rate))


def training_callbacks(
    log_dir: Path | None, validation: bool, patience: int, backup: bool = False
) -> list[keras.callbacks.Callback]:
    """Learning-rate logging, TensorBoard, early stopping on validation loss, and (with
    `backup`) `BackupAndRestore` in `log_dir/backup`: a killed fit started again with the same
    command resumes from its last finished epoch. Keras deletes the backup when a fit ends."""
    callbacks: list[keras.callbacks.Callback] = [LearningRateLogger()]
    if validation and patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            )
        )
    if backup and log_dir is not None:
        callbacks.append(keras.callbacks.BackupAndRestore(str(Path(log_dir) / "backup")))
    if log_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(str(log_dir), write_graph=False))
    return callbacks
