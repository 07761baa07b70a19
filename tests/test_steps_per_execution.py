"""A stage's `steps_per_execution`: several training steps per traced call, the same weights."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from meme_keras.config import ConfigError, make_config
from meme_keras.training.head_training import compile_model

ROWS = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
LABELS = (np.random.default_rng(1).random((100, 3)) < 0.4).astype(np.float32)


def fitted_weights(steps_per_execution: int) -> list[np.ndarray]:
    config = make_config()
    stage = dataclasses.replace(
        config["stages"][0], learning_rate=1e-2, steps_per_execution=steps_per_execution
    )
    keras.utils.set_random_seed(3)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dropout(0.3)(keras.layers.Dense(8, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid")(hidden))
    compile_model(model, config, stage, LABELS)
    assert model.steps_per_execution == steps_per_execution
    train = tf.data.Dataset.from_tensor_slices((ROWS, LABELS)).batch(8)  # 13 steps, one short
    model.fit(train, validation_data=train, epochs=3, verbose=0)
    return model.get_weights()


def test_several_steps_per_call_train_the_same_weights_as_one():
    for got, expected in zip(fitted_weights(32), fitted_weights(1), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_steps_per_execution_below_one_is_refused():
    with pytest.raises(ConfigError, match="steps_per_execution"):
        make_config(
            {
                "stages": [
                    {"name": "frozen", "epochs": 1, "learning_rate": 1e-3, "steps_per_execution": 0}
                ]
            }
        )
