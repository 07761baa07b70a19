"""Builders for tiny corpora and images in a temporary folder (shared by the corpus tests)."""

from __future__ import annotations

import io
import json
import shutil
import struct
import zlib
from pathlib import Path

from PIL import Image

from meme_keras.data.corpus import SPLIT_FILES, default_data_dir
from meme_keras.data.techniques import TECHNIQUE_FILES


def image_bytes(image_format: str = "JPEG", mode: str = "RGB", size=(8, 8), **options) -> bytes:
    image = Image.new("RGB", size, (200, 30, 40))
    for x in range(size[0]):  # a little structure, so the encoders have something to encode
        image.putpixel((x, x % size[1]), (10, 220, 90))
    buffer = io.BytesIO()
    image.convert(mode).save(buffer, image_format, **options)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares `width`x`height` but holds no pixels: huge images cost nothing."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IEND", b"")


def make_data_dir(root: Path) -> Path:
    """An empty corpus folder with the real technique lists and image folders."""
    root.mkdir(parents=True, exist_ok=True)
    for name in TECHNIQUE_FILES.values():
        shutil.copy(default_data_dir() / name, root / name)
    for split in ("train", "dev", "test"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
    for relative in SPLIT_FILES.values():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
    return root


def write_records(path: Path, records, **dump_options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(records, ensure_ascii=False, **dump_options)
    try:
        path.write_bytes(text.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates: written as \udXXX escapes
        path.write_text(json.dumps(records, **dump_options), encoding="ascii")
    return path


def st3_record(meme_id: str, text: str = "SOME TEXT", labels=("Smears",), image=None) -> dict:
    image = f"{meme_id}_image.png" if image is None else image
    return {"id": meme_id, "labels": list(labels), "text": text, "image": image}


def st2_record(meme_id: str, text: str = "I HATE TRUMP", spans=((2, 6, "Loaded Language"),)):
    def fragment(start, end):
        return text[start:end] if isinstance(start, int) and isinstance(end, int) else ""

    labels = [
        {"start": s, "end": e, "technique": t, "text_fragment": fragment(s, e)} for s, e, t in spans
    ]
    return {"id": meme_id, "text": text, "labels": labels}
