"""What `check_image` accepts, the TF pipeline decodes to RGB; what it refuses, TF would trip on."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from corpus_fixtures import image_bytes

from meme_keras.data.corpus import default_data_dir
from meme_keras.data.errors import CorpusError
from meme_keras.data.image_pipeline import decode_and_resize, image_dataset
from meme_keras.data.images import check_image

ACCEPTED = [
    ("PNG", "L"),
    ("PNG", "LA"),
    ("PNG", "RGBA"),
    ("PNG", "P"),
    ("PNG", "1"),
    ("PNG", "I;16"),
    ("JPEG", "L"),
    ("JPEG", "RGB"),
    ("JPEG", "CMYK"),
    ("GIF", "P"),
    ("GIF", "L"),
    ("BMP", "RGB"),
    ("BMP", "RGBA"),
    ("BMP", "L"),
    ("WEBP", "RGB"),
    ("WEBP", "RGBA"),
]


@pytest.mark.parametrize("image_format, mode", ACCEPTED)
def test_accepted_modes_decode_to_rgb(tmp_path, image_format, mode):
    data = image_bytes(image_format, mode, size=(12, 9))
    path = tmp_path / "meme.png"  # the name never matters
    path.write_bytes(data)
    assert check_image(path, path, "m") == image_format
    image = decode_and_resize(tf.constant(data), 16)
    assert image.shape == (16, 16, 3) and image.dtype == tf.float32


def test_jpeg_named_png_through_the_dataset(tmp_path):
    paths = []
    for name, data in [("a.png", image_bytes("JPEG")), ("b.png", image_bytes("PNG", "RGBA"))]:
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    (batch,) = list(image_dataset(paths, 24, batch_size=2))
    assert batch.shape == (2, 24, 24, 3)
    assert check_image(paths[0], paths[0], "a") == "JPEG"


@pytest.mark.parametrize(
    "data",
    [
        image_bytes("BMP", "1"),  # TF cannot read 1-bit BMPs
        image_bytes("PNG", size=(32, 32))[:-3],  # cut inside IEND: PIL alone reads it
        image_bytes("JPEG", size=(32, 32))[:200],
        image_bytes("TIFF"),
    ],
    ids=["1-bit BMP", "PNG cut in IEND", "truncated JPEG", "TIFF"],
)
def test_refused_images_are_ones_tf_cannot_decode(tmp_path, data):
    path = tmp_path / "meme.png"
    path.write_bytes(data)
    with pytest.raises(CorpusError):
        check_image(path, path, "m")
    with pytest.raises(tf.errors.InvalidArgumentError):
        decode_and_resize(tf.constant(data), 8)


def test_an_image_checked_once_is_checked_again_when_its_content_changes(tmp_path):
    path = tmp_path / "meme.png"
    path.write_bytes(image_bytes("JPEG", size=(32, 32)))
    assert check_image(path, path, "m") == check_image(path, path, "m") == "JPEG"
    path.write_bytes(image_bytes("JPEG", size=(32, 32))[:200])  # another size: checked anew
    with pytest.raises(CorpusError, match="corrupt or truncated") as refused:
        check_image(path, tmp_path / "memes.json", "m")
    assert str(path) in str(refused.value) and "'m'" in str(refused.value)


def _reference_resize(data: bytes, size: int) -> np.ndarray:
    """Full decode, then an antialiased resize: the pipeline before DCT-scaled JPEG decoding."""
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    return tf.image.resize(image, (size, size), antialias=True).numpy()


def test_scaled_jpeg_decoding_stays_close_to_a_full_decode():
    # Real corpus memes: JPEG content whose shorter side allows 1/2 or 1/4 scaled decoding.
    paths = sorted((default_data_dir() / "images" / "train").iterdir())[:12]
    jpegs = [path.read_bytes() for path in paths if path.read_bytes()[:2] == b"\xff\xd8"]
    assert len(jpegs) >= 8
    for data in jpegs:
        fast = decode_and_resize(tf.constant(data), 224).numpy()
        assert np.abs(fast - _reference_resize(data, 224)).mean() < 8.0


@pytest.mark.parametrize("size, ratio", [((1000, 900), 4), ((500, 460), 2), ((300, 230), 1)])
def test_jpeg_scale_keeps_the_shorter_side_at_least_the_target(size, ratio):
    data = image_bytes("JPEG", size=size)
    shorter = min(size)
    assert shorter // ratio >= 224 and (ratio == 8 or shorter // (ratio * 2) < 224)
    image = decode_and_resize(tf.constant(data), 224)
    scaled = tf.io.decode_jpeg(data, channels=3, ratio=ratio)
    expected = tf.clip_by_value(tf.image.resize(scaled, (224, 224)), 0.0, 255.0)
    np.testing.assert_array_equal(image.numpy(), expected.numpy())


def test_grid_features_match_predict_in_order():
    from meme_keras.backbones.features import grid_features

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3, strides=2, padding="same")(inputs))
    images = np.random.default_rng(0).uniform(0, 255, (37, 8, 8, 3)).astype("float32")
    batches = tf.data.Dataset.from_tensor_slices(images).batch(16)
    features = grid_features(model, batches, len(images))
    expected = model.predict(images, verbose=0).reshape(37, 16, 4)
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="expected 40 images"):
        grid_features(model, batches, 40)
