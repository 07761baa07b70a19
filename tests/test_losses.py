"""Hand-computed values, masking and serialization of the smoothed BCE and focal losses."""

import math

import keras
import numpy as np
import pytest

from meme_keras.losses import (
    SmoothedBinaryCrossentropy,
    SmoothedFocalLoss,
    balanced_positive_weights,
)
from meme_keras.training.loss_factory import make_loss

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


def test_positive_weights_scale_only_their_labels_positive_term():
    # Label 0 is positive (weight 3 on -log 0.8); label 1 is negative (its weight 5 is unused).
    loss = SmoothedBinaryCrossentropy(positive_weights=[3.0, 5.0])
    assert value(loss) == pytest.approx(-(3.0 * LOG(0.8) + LOG(0.6)) / 2, rel=1e-6)
    smoothed = SmoothedBinaryCrossentropy(label_smoothing=0.2, positive_weights=[3.0, 5.0])
    # The positive pair's whole term weighs 3; the negative's weighs 1 (its 5 stays unused),
    # though its smoothed target 0.1 is not 0.
    expected = -(3 * (0.9 * LOG(0.8) + 0.1 * LOG(0.2)) + 0.1 * LOG(0.4) + 0.9 * LOG(0.6)) / 2
    assert value(smoothed) == pytest.approx(expected, rel=1e-6)
    # Weights of 1 are the unweighted loss.
    unweighted = SmoothedBinaryCrossentropy(label_smoothing=0.2)
    ones = SmoothedBinaryCrossentropy(label_smoothing=0.2, positive_weights=[1.0, 1.0])
    assert value(ones) == pytest.approx(value(unweighted), rel=1e-6)
    focal = SmoothedFocalLoss(alpha=1.2, gamma=2.0, positive_weights=[3.0, 5.0])
    positive = 0.2**2 * LOG(0.8)
    negative = 0.4**2 * LOG(0.6)
    assert value(focal) == pytest.approx(-(3.0 * 1.2 * positive + negative) / 2, rel=1e-6)
    smoothed_focal = SmoothedFocalLoss(
        alpha=1.2, gamma=2.0, label_smoothing=0.2, positive_weights=[3.0, 5.0]
    )
    # p = [0.8, 0.4], t = [0.9, 0.1]; pair 0 (gold 1) weighs 3, pair 1 (gold 0) weighs 1.
    pair_0 = 1.2 * 0.9 * 0.2**2 * LOG(0.8) + 0.1 * 0.8**2 * LOG(0.2)
    pair_1 = 1.2 * 0.1 * 0.6**2 * LOG(0.4) + 0.9 * 0.4**2 * LOG(0.6)
    assert value(smoothed_focal) == pytest.approx(-(3 * pair_0 + pair_1) / 2, rel=1e-5)


def test_balanced_positive_weights_by_hand():
    # 10 memes: label 0 on 1 (10 / 2 = 5), label 1 on 4 (7 / 5), label 2 on 9 (2 / 10),
    # label 3 on none (11 / 1 = 11, capped).
    labels = np.zeros((10, 4))
    labels[:1, 0] = labels[:4, 1] = labels[:9, 2] = 1
    np.testing.assert_allclose(balanced_positive_weights(labels, 1.0), [5.0, 1.4, 0.2, 10.0])
    np.testing.assert_allclose(
        balanced_positive_weights(labels, 0.5, max_weight=3.0), [5**0.5, 1.4**0.5, 0.2**0.5, 3]
    )
    np.testing.assert_allclose(balanced_positive_weights(labels, 0.0), 1.0)
    with pytest.raises(ValueError, match="power"):
        balanced_positive_weights(labels, -1.0)
    with pytest.raises(ValueError, match="positive_weights"):
        SmoothedBinaryCrossentropy(positive_weights=[1.0, 0.0])


def test_make_loss_weights_positives_from_the_training_labels():
    config = {"type": "bce", "label_smoothing": 0.1, "positive_weight_power": 1.0}
    labels = np.array([[1, 0], [0, 0], [0, 1], [0, 1]])
    loss = make_loss(config, train_labels=labels)
    np.testing.assert_allclose(loss.positive_weights, [2.0, 1.0])  # 4/2, 3/3
    with pytest.raises(ValueError, match="training labels"):
        make_loss(config)
    assert make_loss({**config, "positive_weight_power": 0.0}).positive_weights is None


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
        SmoothedBinaryCrossentropy(label_smoothing=0.1, positive_weights=[2.0, 0.5]),
        SmoothedFocalLoss(alpha=1.2, label_smoothing=0.1, positive_weights=[2.0, 0.5]),
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
