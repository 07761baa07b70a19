"""What `check_image` accepts, the TF pipeline decodes to RGB; what it refuses, TF would trip on."""

from __future__ import annotations

import pytest
import tensorflow as tf
from corpus_fixtures import image_bytes

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
