"""Checks that a meme image is there and decodable, by content rather than by file name."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image

from meme_keras.data.errors import CorpusError

# What `tf.io.decode_image` decodes; most corpus files named .png are JPEG inside.
DECODABLE_FORMATS = frozenset({"JPEG", "PNG", "GIF", "BMP"})
# Larger images are refused rather than decoded into gigabytes of memory (10000x10000 RGB is
# 300 MB as uint8 and 1.2 GB as float); the corpus's largest is 2617x2048.
MAX_IMAGE_PIXELS = 40_000_000


def check_image(path: Path, source: Path, meme_id: str) -> str:
    """Returns the image's real format, or raises CorpusError naming `source` and `meme_id`."""
    if not path.is_file():
        raise CorpusError(source, meme_id, f"image not found: {path}")
    if path.stat().st_size == 0:
        raise CorpusError(source, meme_id, f"image is an empty file: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image_format, (width, height) = image.format, image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise CorpusError(
                        source,
                        meme_id,
                        f"image too large ({width}x{height} > {MAX_IMAGE_PIXELS:,} pixels): {path}",
                    )
                # Decoding at 1/8 scale (JPEG DCT scaling) still reads every byte, so truncated
                # files fail here, at a fraction of a full decode's cost.
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
    except CorpusError:
        raise
    except Exception as error:  # PIL raises many types for corrupt data
        raise CorpusError(source, meme_id, f"image cannot be decoded ({error}): {path}") from None
    if image_format not in DECODABLE_FORMATS:
        raise CorpusError(
            source,
            meme_id,
            f"unsupported image format {image_format} (not JPEG/PNG/GIF/BMP): {path}",
        )
    return image_format
