"""Checks that a meme image is there and decodable, by content rather than by file name.

The contract: an image that `check_image` accepts is one that `tf.io.decode_image(...,
channels=3, expand_animations=False)` (`image_pipeline.decode_and_resize`) decodes. PIL reads
the header first, so unsupported formats and huge images are refused before any pixel is
decoded; PIL alone is more lenient than TensorFlow in a few places (a PNG cut inside its last
chunks, a GIF cut before its end, palette or 1-bit BMPs, animated WebP), which are checked
explicitly below.
"""

from __future__ import annotations

import functools
import struct
import warnings
from pathlib import Path

from PIL import Image, ImageSequence, UnidentifiedImageError

from meme_keras.data.errors import CorpusError

# What `tf.io.decode_image` decodes (PIL names); most corpus files named .png are JPEG inside.
# MPO is JPEG data with extra pictures appended (cameras, phones): TF decodes the first.
DECODABLE_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP"})
# Larger images are refused rather than decoded into gigabytes of memory (10000x10000 RGB is
# 300 MB as uint8 and 1.2 GB as float); the corpus's largest is 2617x2048. For a GIF, which TF
# decodes frame by frame, the limit is on all frames together.
MAX_IMAGE_PIXELS = 40_000_000


def check_image(path: Path, source: Path, meme_id: str) -> str:
    """Returns the image's real format, or raises CorpusError naming `source` and `meme_id`.

    `source` is the file that refers to the image (a corpus file); when it is the image itself
    (a folder of memes), the image path is not repeated at the end of the message.
    """
    path, source = Path(path), Path(source)
    where = "" if path == source else f": {path}"

    def fail(problem: str) -> CorpusError:
        return CorpusError(source, meme_id, problem + where)

    if not path.exists():
        raise fail("image not found")
    if not path.is_file():
        raise fail("image is not a file")
    stat = path.stat()
    if stat.st_size == 0:
        raise fail("image is an empty file (0 bytes)")
    try:
        image_format = _checked_format(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    except _Undecodable as error:
        raise fail(str(error)) from None
    except CorpusError:
        raise
    except Image.DecompressionBombError:
        raise fail(f"image too large (over {MAX_IMAGE_PIXELS:,} pixels)") from None
    except UnidentifiedImageError:
        raise fail("not an image (content is no known image format)") from None
    except Exception as error:  # PIL raises many types for corrupt data
        raise fail(f"corrupt or truncated image ({type(error).__name__}: {error})") from None
    return image_format


class _Undecodable(Exception):
    """A problem `_check_decodable` found, before `check_image` names the meme."""


@functools.lru_cache(maxsize=100_000)
def _checked_format(path: str, size: int, modified_ns: int) -> str:
    """The format of the image at `path`, checked once per content (size and modification
    time): the runs of one process read the same memes again (a run and its linear probe),
    and a check decodes the image at 1/8 scale, ~5 ms."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return _check_decodable(Path(path), _Undecodable)


def _check_decodable(path: Path, fail) -> str:
    with Image.open(path) as image:  # reads the header only
        image_format, (width, height) = image.format, image.size
        if image_format not in DECODABLE_FORMATS:
            raise fail(
                f"unsupported image format {image_format} (readable: JPEG, PNG, GIF, BMP, WebP)"
            )
        if width * height > MAX_IMAGE_PIXELS:
            raise fail(f"image too large ({width}x{height} > {MAX_IMAGE_PIXELS:,} pixels)")
        frames = getattr(image, "n_frames", 1)
        if image_format == "WEBP" and frames > 1:
            raise fail("animated WebP is not supported (TensorFlow decodes only RGBA ones)")
        if image_format == "GIF" and frames * width * height > MAX_IMAGE_PIXELS:
            raise fail(
                f"animation too large ({frames} frames of {width}x{height} > "
                f"{MAX_IMAGE_PIXELS:,} pixels)"
            )
        if image_format == "BMP":
            _check_bmp(path, image.mode, fail)
        if image_format == "GIF":
            for _ in ImageSequence.Iterator(image):  # TF decodes every frame
                image.load()
        else:
            # Decoding a JPEG at 1/8 scale (DCT scaling) still reads every byte, so truncated
            # files fail here, at a fraction of a full decode's cost.
            image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            image.load()
    if image_format == "PNG":
        with Image.open(path) as image:
            image.verify()  # every chunk's CRC up to IEND (TF's libpng checks them)
        if _PNG_END not in _tail(path, 4096):  # verify() does not read IEND's own CRC
            raise fail("corrupt or truncated image (PNG has no complete IEND chunk)")
    if image_format == "GIF" and not _tail(path, 1) == b";":
        raise fail("corrupt or truncated image (GIF does not end with its trailer)")
    return image_format


_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _tail(path: Path, size: int) -> bytes:
    with path.open("rb") as file:
        file.seek(max(0, path.stat().st_size - size))
        return file.read()


def _check_bmp(path: Path, mode: str, fail) -> None:
    """TF reads uncompressed 24/32-bit BMPs, and 8-bit ones as gray (ignoring the palette)."""
    with path.open("rb") as file:
        header = file.read(34)
    header_size = struct.unpack_from("<I", header, 14)[0] if len(header) >= 18 else 0
    if header_size < 40 or len(header) < 34:
        raise fail("unsupported BMP variant (old OS/2 header)")
    bits, compression = struct.unpack_from("<HI", header, 28)
    if compression != 0 or not (bits in (24, 32) or (bits == 8 and mode == "L")):
        raise fail(
            f"unsupported BMP variant ({bits}-bit, compression {compression}; readable: "
            "uncompressed 24/32-bit colour or 8-bit gray)"
        )
