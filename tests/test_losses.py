"""Hand-computed values, masking and serialization of the smoothed BCE and focal losses."""

import math

import keras
import numpy as np
import pytest

from meme_keras.training.losses import SmoothedBinaryCrossentropy, SmoothedFocalLoss

Y_TRUE = np.array([[1.0, 0.0]], dtype="float32")
Y_PRED = np.array([[0.8, 0.4]], dtype="float32")
LOG = math.log


def value(loss, y_true=Y_TRUE, y_pred=Y_PRED, **kwargs):
    return float(keras.ops.convert_to_numpy(loss(y_true, y_pred, **kwargs)))


def test_bce_by_hand():
    assert value(SmoothedBinaryCrossentropy()) == pytest.approx(-(LOG(0.8) + LOG(0.6)) / 2)
    # s = 0.2 moves the targets to 0.9 and 0.1.
    expected = -(0.9 * LOG(0.8) + 0.1 * LOG(0.2) + 0.1 * LOG(0.4) + 0.9 * LOG(0.6)) / 2
    assert value(SmoothedBinaryCrossentropy(label_smoothing=0.2)) == pytest.approx(expected)


def test_focal_by_hand_with_positive_alpha():
    positive = 0.2**2 * LOG(0.8)  # (1 - p)^2 log p for the positive label
    negative = 0.4**2 * LOG(0.6)  # p^2 log(1 - p) for the negative label
    loss = SmoothedFocalLoss(alpha=1.2, gamma=2.0)
    assert value(loss) == pytest.approx(-(1.2 * positive + negative) / 2, rel=1e-6)
    # alpha only scales the positive term: negatives keep weight 1, even above alpha = 1.
    difference = value(loss) - value(SmoothedFocalLoss(alpha=1.0, gamma=2.0))
    assert difference == pytest.approx(-0.2 * positive / 2, rel=1e-5)


def test_focal_label_smoothing_by_hand():
    # t = [0.9, 0.1]: every element now has both a positive and a negative term.
    first = 1.2 * 0.9 * 0.2**2 * LOG(0.8) + 0.1 * 0.8**2 * LOG(0.2)
    second = 1.2 * 0.1 * 0.6**2 * LOG(0.4) + 0.9 * 0.4**2 * LOG(0.6)
    loss = SmoothedFocalLoss(alpha=1.2, gamma=2.0, label_smoothing=0.2)
    assert value(loss) == pytest.approx(-(first + second) / 2, rel=1e-6)


def test_focal_with_alpha_one_gamma_zero_is_bce():
    focal = SmoothedFocalLoss(alpha=1.0, gamma=0.0, label_smoothing=0.1)
    bce = SmoothedBinaryCrossentropy(label_smoothing=0.1)
    assert value(focal) == pytest.approx(value(bce), rel=1e-6)


@pytest.mark.parametrize("loss_class", [SmoothedBinaryCrossentropy, SmoothedFocalLoss])
def test_masked_tokens_contribute_nothing(loss_class):
    rng = np.random.default_rng(0)
    y_true = (rng.random((2, 3, 4)) < 0.5).astype("float32")
    y_pred = rng.uniform(0.05, 0.95, size=(2, 3, 4)).astype("float32")
    mask = np.array([[1, 1, 0], [1, 0, 0]], dtype="float32")
    scrambled = np.where(mask[..., None] == 1, y_pred, 1.0 - y_pred)

    loss = loss_class(label_smoothing=0.1)
    masked = value(loss, y_true, y_pred, sample_weight=mask)
    assert value(loss, y_true, scrambled, sample_weight=mask) == pytest.approx(masked)
    per_token = keras.ops.convert_to_numpy(loss.call(y_true, y_pred))
    # The default reduction divides by all B * L tokens; mean_with_sample_weight by real ones.
    assert masked == pytest.approx(per_token[mask == 1].sum() / 6, rel=1e-6)
    mean_loss = loss_class(label_smoothing=0.1, reduction="mean_with_sample_weight")
    mean_value = value(mean_loss, y_true, y_pred, sample_weight=mask)
    assert mean_value == pytest.approx(per_token[mask == 1].mean(), rel=1e-6)


@pytest.mark.parametrize(
    "loss",
    [
        SmoothedBinaryCrossentropy(label_smoothing=0.1, name="bce"),
        SmoothedFocalLoss(alpha=1.2, gamma=1.5, label_smoothing=0.1),
    ],
)
def test_config_round_trip(loss):
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is type(loss)
    assert restored.get_config() == loss.get_config()
    assert value(restored) == pytest.approx(value(loss))


def test_model_with_focal_loss_saves_and_reloads(tmp_path):
    inputs = keras.Input(shape=(3,))
    outputs = keras.layers.Dense(2, activation="sigmoid")(inputs)
    model = keras.Model(inputs, outputs)
    loss = SmoothedFocalLoss(alpha=1.2, label_smoothing=0.1)
    model.compile(optimizer="nadam", loss=loss)
    model.fit(np.ones((4, 3)), np.array([[1, 0]] * 4), epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)

    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded.loss, SmoothedFocalLoss)
    assert reloaded.loss.get_config() == loss.get_config()
