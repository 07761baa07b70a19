"""Reads a user's folder of memes: image files, each with a same-stem `.txt` caption.

`memes/cat.jpg` + `memes/cat.txt` is the meme with id "cat". Images are checked by content
(`check_image`), so a JPEG named `.png` is fine. Captions are UTF-8 (a byte order mark is
accepted); Windows line ends become `\\n` and trailing line breaks and spaces are dropped.
Hidden files are ignored; other files that are neither images nor captions are logged and
ignored. Every problem names the file at fault.
"""

from __future__ import annotations

import logging
from pathlib import Path

from meme_keras.data.errors import CorpusError
from meme_keras.data.images import check_image
from meme_keras.data.meme import Meme

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".gif", ".bmp", ".webp"})
CAPTION_SUFFIX = ".txt"


def read_meme_folder(
    folder: str | Path,
    skip_invalid: bool = False,
    check_images: bool = True,
    require_images: bool = True,
) -> tuple[list[Meme], list[tuple[Path, str]]]:
    """Returns (memes sorted by id, [(file, reason)] of the memes left out).

    With `skip_invalid=False` the first problem raises CorpusError instead and `skipped` is
    always empty. A missing or empty folder raises in both modes. Without `require_images`
    (for text-only models), a caption alone is a meme.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(folder, None, "folder of memes not found")
    images: dict[str, list[Path]] = {}
    captions: dict[str, Path] = {}
    ignored = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        suffix = path.suffix.lower()
        if suffix == CAPTION_SUFFIX:
            captions[path.stem] = path
        elif suffix in IMAGE_SUFFIXES:
            images.setdefault(path.stem, []).append(path)
        else:
            ignored.append(path.name)
    if ignored:
        log.warning("%s: ignoring files that are not images or captions: %s", folder, ignored)
    if not images and not captions:
        raise CorpusError(
            folder, None, f"no memes (image files {sorted(IMAGE_SUFFIXES)} with .txt captions)"
        )

    memes, skipped = [], []
    for stem in sorted(set(images) | set(captions)):
        try:
            memes.append(
                _read_meme(
                    stem, images.get(stem, []), captions.get(stem), check_images, require_images
                )
            )
        except CorpusError as error:
            if not skip_invalid:
                raise
            skipped.append((error.path, error.reason))
    return memes, skipped


def _read_meme(
    stem: str, images: list[Path], caption: Path | None, check_images: bool, require_images: bool
) -> Meme:
    if not images:
        if not require_images:
            return Meme(stem, read_caption(caption, stem))
        raise CorpusError(caption, stem, "caption without an image of the same name")
    if len(images) > 1:
        names = ", ".join(path.name for path in images)
        raise CorpusError(images[0], stem, f"several images share the name {stem!r}: {names}")
    image = images[0]
    if caption is None:
        raise CorpusError(image, stem, f"no caption file {stem}{CAPTION_SUFFIX} beside the image")
    text = read_caption(caption, stem)
    if check_images:
        check_image(image, image, stem)
    return Meme(stem, text, image_path=image)


def read_caption(path: Path, meme_id: str) -> str:
    """The caption text of `path`, or CorpusError if it is not UTF-8 or empty."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        bad = f"byte 0x{raw[error.start]:02x} at offset {error.start}"
        raise CorpusError(path, meme_id, f"caption is not UTF-8 text ({bad})") from None
    text = text.replace("\r\n", "\n").rstrip()
    if not text.strip():
        raise CorpusError(path, meme_id, "caption is empty")
    return text
