"""Early stopping watches the configured metric in the right direction."""

import dataclasses

import keras
import numpy as np
import pytest

from meme_keras.config import StageConfig, make_config
from meme_keras.training.callbacks import EpochClock, stage_callbacks, validated_each_epoch
from meme_keras.training.head_training import compile_model


def test_pr_auc_early_stopping_restores_the_best_epoch():
    config = make_config({"early_stopping_monitor": "val_pr_auc", "backup_and_restore": False})
    stage = StageConfig(name="frozen", epochs=6, learning_rate=0.05, patience=2)
    callbacks = stage_callbacks(config, stage, None, validation=True, clock=EpochClock())
    (early_stopping,) = [c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)]
    assert early_stopping.monitor == "val_pr_auc"
    assert early_stopping.mode == "max"

    rng = np.random.default_rng(0)
    features = rng.normal(size=(64, 4)).astype("float32")
    labels = (features[:, :3] > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="sigmoid")])
    compile_model(model, config, stage, labels)
    history = model.fit(
        features,
        labels,
        validation_data=(features, labels),
        epochs=stage["epochs"],
        callbacks=callbacks,
        verbose=0,
    )
    scores = history.history["val_pr_auc"]
    assert all(0.0 <= score <= 1.0 for score in scores)
    # The restored weights score the best epoch's PR-AUC, not the last one's.
    restored = model.evaluate(features, labels, return_dict=True, verbose=0)["pr_auc"]
    assert abs(restored - max(scores)) < 1e-6


def test_a_backup_does_not_resume_under_another_monitor(tmp_path):

    from meme_keras.training.callbacks import ResumableBackup

    class Killed(Exception):
        pass

    class KillAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise Killed

    rng = np.random.default_rng(0)
    features = rng.normal(size=(16, 4)).astype("float32")
    labels = (features[:, :3] > 0).astype("float32")
    config = make_config()

    def fit(monitor, extra=()):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="sigmoid")])
        compile_model(
            model, config, dataclasses.replace(config["stages"][0], learning_rate=0.01), labels
        )
        mode = "max" if monitor == "val_pr_auc" else "min"
        stopper = keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=2)
        backup = ResumableBackup(tmp_path / "backup", stopper)
        model.fit(
            features,
            labels,
            validation_data=(features, labels),
            epochs=3,
            callbacks=[stopper, backup, *extra],
            verbose=0,
        )

    with pytest.raises(Killed):
        fit("val_loss", [KillAfterFirstEpoch()])
    with pytest.raises(ValueError, match="watched val_loss, now val_pr_auc"):
        fit("val_pr_auc")
    fit("val_loss")  # the same monitor resumes


def test_a_one_epoch_stage_is_not_validated_and_ends_with_the_same_weights():
    config = make_config()
    one, two = (StageConfig(name="s", epochs=epochs, learning_rate=0.05) for epochs in (1, 2))
    assert validated_each_epoch(one, "validation") is None
    assert validated_each_epoch(two, "validation") == "validation"

    rng = np.random.default_rng(0)
    features = rng.normal(size=(64, 4)).astype("float32")
    labels = (features[:, :3] > 0).astype("float32")

    def fitted_weights(validation):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="sigmoid")])
        compile_model(model, config, one, labels)
        callbacks = stage_callbacks(config, one, None, validation is not None, EpochClock())
        model.fit(
            features, labels, validation_data=validation, epochs=1, callbacks=callbacks, verbose=0
        )
        return model.get_weights()

    # With validation, early stopping watches the one epoch and restores it: the same weights.
    for got, expected in zip(fitted_weights(None), fitted_weights((features, labels)), strict=True):
        np.testing.assert_array_equal(got, expected)
