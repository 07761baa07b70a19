"""tf.data pipelines that decode meme images by content and resize them for a backbone."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


def decode_and_resize(encoded: tf.Tensor, image_size: int) -> tf.Tensor:
    """Encoded JPEG/PNG/GIF/BMP bytes -> float32 RGB [size, size, 3] with values in [0, 255].

    `decode_image` looks at the bytes, not the name (most corpus `.png` files are JPEG), and
    `channels=3` turns grayscale, palette and RGBA images into RGB.
    """
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image = tf.image.resize(image, (image_size, image_size), antialias=True)
    return tf.clip_by_value(image, 0.0, 255.0)


def image_dataset(paths: Sequence[str], image_size: int, batch_size: int = 32) -> tf.data.Dataset:
    """Batches of resized images, in the order of `paths`."""
    return (
        tf.data.Dataset.from_tensor_slices([str(path) for path in paths])
        .map(lambda path: decode_and_resize(tf.io.read_file(path), image_size), AUTOTUNE)
        .batch(batch_size)
        .prefetch(AUTOTUNE)
    )
