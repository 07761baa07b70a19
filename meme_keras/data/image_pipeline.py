"""tf.data pipelines that decode meme images by content and resize them for a backbone."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
# Names how pixels are made from the bytes; part of the feature-cache key, so features made by
# an older pipeline are recomputed rather than mixed with new ones.
IMAGE_PREPROCESSING = "jpeg-dct-scaled+bilinear/v2"
JPEG_SCALE_RATIOS = (8, 4, 2)
# The path or bytes of a meme without an image: it is shown a black image, whose features the
# model learns to read as "no image" when it trains on text-only memes.
NO_IMAGE = ""


def image_source(image_path) -> str:
    """The path to read a meme's image from (`NO_IMAGE` for a meme without one)."""
    return NO_IMAGE if image_path is None else str(image_path)


def read_image_bytes(path: tf.Tensor) -> tf.Tensor:
    """The file's bytes, or empty bytes for `NO_IMAGE`."""
    return tf.cond(
        tf.equal(path, NO_IMAGE), lambda: tf.constant(NO_IMAGE), lambda: tf.io.read_file(path)
    )


def _decode_jpeg_scaled(encoded: tf.Tensor, image_size: int) -> tf.Tensor:
    """A JPEG decoded at 1/8, 1/4 or 1/2 scale in the DCT domain (libjpeg's own scaling),
    keeping the shorter side at least `image_size`.

    DCT scaling skips most of the decoding work and averages pixels as it goes, so the bilinear
    resize that follows shrinks by less than 2x and needs no antialiasing. On the corpus (720 px
    at the median) decode+resize ran about 2x faster than a full decode with an antialiased
    resize, for a mean change of about 4/255 per pixel.
    """
    shape = tf.io.extract_jpeg_shape(encoded)
    shorter = tf.minimum(shape[0], shape[1])

    def decode(ratio):
        return lambda: tf.io.decode_jpeg(encoded, channels=3, ratio=ratio)

    image = tf.case(
        [(shorter // ratio >= image_size, decode(ratio)) for ratio in JPEG_SCALE_RATIOS],
        default=decode(1),
    )
    return tf.image.resize(image, (image_size, image_size))


def _decode_other(encoded: tf.Tensor, image_size: int) -> tf.Tensor:
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    return tf.image.resize(image, (image_size, image_size), antialias=True)


def decode_and_resize(encoded: tf.Tensor, image_size: int) -> tf.Tensor:
    """Encoded JPEG/PNG/GIF/BMP/WebP bytes -> float32 RGB [size, size, 3] in [0, 255].

    The format comes from the bytes, not the name (most corpus `.png` files are JPEG).
    `channels=3` turns grayscale, palette, CMYK and RGBA images into RGB. JPEGs are decoded
    scaled down (`_decode_jpeg_scaled`); other formats in full, then resized with antialiasing.
    Empty bytes (`NO_IMAGE`, a meme without an image) give a black image.
    """

    def decode():
        return tf.cond(
            tf.io.is_jpeg(encoded),
            lambda: _decode_jpeg_scaled(encoded, image_size),
            lambda: _decode_other(encoded, image_size),
        )

    image = tf.cond(
        tf.equal(tf.strings.length(encoded), 0),
        lambda: tf.zeros((image_size, image_size, 3), tf.float32),
        decode,
    )
    image = tf.ensure_shape(image, (image_size, image_size, 3))
    return tf.clip_by_value(image, 0.0, 255.0)


def image_dataset(paths: Sequence[str], image_size: int, batch_size: int = 32) -> tf.data.Dataset:
    """Batches of resized images, in the order of `paths` (`NO_IMAGE`: a black image)."""
    return (
        tf.data.Dataset.from_tensor_slices([str(path) for path in paths])
        .map(lambda path: decode_and_resize(read_image_bytes(path), image_size), AUTOTUNE)
        .batch(batch_size)
        .prefetch(AUTOTUNE)
    )
