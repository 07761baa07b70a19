"""A user's own memes as `Meme` records: from Python lists or a task-format JSON file.

Every problem is one line naming the row (Python) or the file and meme id (JSON), never an
error from deep inside TensorFlow: texts must be non-empty strings, and images are checked by
content before any model sees them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from meme_keras.data.corpus import read_json_records
from meme_keras.data.errors import CorpusError
from meme_keras.data.images import check_image
from meme_keras.data.meme import Meme


class MemeInputError(ValueError):
    """A meme given to a model that it cannot take; the message names the row."""


def memes_from_lists(
    texts: Sequence[str],
    images: Sequence[str | Path | bytes | None] | None = None,
    ids: Sequence[str] | None = None,
    needs_images: bool = False,
    scratch_dir: str | Path | None = None,
) -> list[Meme]:
    """`Meme`s of parallel lists. `images` are paths or encoded bytes (bytes are written to
    `scratch_dir`, which the caller keeps while predicting); a model that `needs_images`
    refuses a meme without one."""
    if isinstance(texts, str):
        raise MemeInputError("texts: give a list of strings, not one string")
    texts = list(texts)
    ids = [str(i) for i in range(len(texts))] if ids is None else [str(i) for i in ids]
    if len(ids) != len(texts):
        raise MemeInputError(f"{len(ids)} ids for {len(texts)} texts: give one id per text")
    if images is None:
        images = [None] * len(texts)
    images = list(images)
    if len(images) != len(texts):
        raise MemeInputError(f"{len(images)} images for {len(texts)} texts: give one per text")
    if len(set(ids)) != len(ids):
        raise MemeInputError("ids must be unique")
    memes = []
    for row, (meme_id, text, image) in enumerate(zip(ids, texts, images, strict=True)):
        where = f"row {row} (id {meme_id!r})"
        memes.append(
            _meme(meme_id, text, _image_path(image, scratch_dir, row), needs_images, where)
        )
    return memes


def read_meme_json(
    path: str | Path, images_dir: str | Path | None = None, needs_images: bool = False
) -> list[Meme]:
    """Memes of a JSON array in the task's own format: `id`, `text` and, for multimodal runs,
    `image` (a path relative to `images_dir`, default the file's folder). Other keys, such as
    gold `labels`, are ignored."""
    path = Path(path)
    records = read_json_records(path)
    base = Path(images_dir) if images_dir is not None else path.parent
    memes, seen = [], set()
    for position, record in enumerate(records):
        meme_id = record.get("id")
        if isinstance(meme_id, int) and not isinstance(meme_id, bool):
            meme_id = str(meme_id)
        if not isinstance(meme_id, str) or not meme_id:
            raise CorpusError(path, None, f"record {position}: needs an 'id' (a string)")
        if meme_id in seen:
            raise CorpusError(path, meme_id, "the id appears twice")
        seen.add(meme_id)
        image = record.get("image")
        if image is not None and not isinstance(image, str):
            raise CorpusError(path, meme_id, f"'image' must be a file name, got {image!r}")
        image_path = None if image is None else base / image
        try:
            memes.append(_meme(meme_id, record.get("text"), image_path, needs_images, ""))
        except MemeInputError as error:
            raise CorpusError(path, meme_id, str(error)) from None
        if image_path is not None:
            check_image(image_path, path, meme_id)
    return memes


def _meme(meme_id: str, text, image_path: Path | None, needs_images: bool, where: str) -> Meme:
    at = f"{where}: " if where else ""
    if not isinstance(text, str):
        raise MemeInputError(f"{at}the text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise MemeInputError(f"{at}the text is empty")
    if image_path is None and needs_images:
        raise MemeInputError(f"{at}this model needs an image for every meme, and none was given")
    if image_path is not None and where:
        try:
            check_image(image_path, image_path, meme_id)
        except CorpusError as error:
            raise MemeInputError(f"{at}{error.problem}: {image_path}") from None
    return Meme(meme_id, text, image_path=image_path)


def _image_path(image, scratch_dir, row: int) -> Path | None:
    if image is None or isinstance(image, str | Path):
        return None if image is None else Path(image)
    if isinstance(image, bytes | bytearray):
        directory = Path(scratch_dir or tempfile.mkdtemp(prefix="meme_keras_"))
        path = directory / f"image_{row}"
        path.write_bytes(bytes(image))
        return path
    raise MemeInputError(f"row {row}: an image is a path or encoded bytes, not {type(image)}")
