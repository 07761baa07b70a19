"""Random small corpora with one random corruption (or none): read exactly, or the right error."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from corpus_fixtures import image_bytes, make_data_dir, write_records
from hypothesis import given, settings
from hypothesis import strategies as st

from meme_keras.data.corpus import SPLIT_FILES, default_data_dir, load_split
from meme_keras.data.errors import CorpusError
from meme_keras.data.meme import Meme, Span
from meme_keras.data.techniques import read_techniques

# Tiny images, made once. The benign ones must read; the bad ones must be refused.
GOOD_IMAGES = [
    image_bytes("JPEG"),  # named .png, like most of the corpus
    image_bytes("PNG"),
    image_bytes("PNG", "L"),
    image_bytes("PNG", "RGBA"),
    image_bytes("PNG", "P"),
    image_bytes("GIF"),
    image_bytes("WEBP"),
]
BAD_IMAGES = {
    "empty image": (b"", "image is an empty file"),
    "truncated image": (image_bytes("JPEG", size=(32, 32))[:150], "corrupt or truncated image"),
    "text as image": (b"<html>not an image</html>", "not an image"),
}
MARK = "@"  # never generated in texts: marks where raw bytes go into the file

TEXT_TECHNIQUES = read_techniques(default_data_dir(), "text")
MULTIMODAL_TECHNIQUES = TEXT_TECHNIQUES + ("Transfer", "Appeal to (Strong) Emotions")

texts = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters=MARK), min_size=1, max_size=40
).filter(str.strip)
ids = st.text("0123456789_batché", min_size=1, max_size=6).filter(str.strip)

CORRUPTIONS = {
    2: [
        None,
        "truncate",
        "drop id",
        "drop text",
        "drop labels",
        "duplicate id",
        "empty text",
        "non-UTF-8 text",
        "unknown technique",
        "span beyond text",
        "span inverted",
        "span negative",
        "crlf and bom",
    ],
    3: [
        None,
        "truncate",
        "drop id",
        "drop text",
        "drop image",
        "duplicate id",
        "empty text",
        "non-UTF-8 text",
        "unknown technique",
        "missing image",
        *BAD_IMAGES,
        "crlf and bom",
    ],
}


@st.composite
def corpora(draw, subtask, corruption):
    meme_ids = draw(st.lists(ids, min_size=2, max_size=6, unique=True))
    records = []
    for meme_id in meme_ids:
        text = draw(texts)
        if subtask == 3:
            labels = draw(st.lists(st.sampled_from(MULTIMODAL_TECHNIQUES), unique=True))
            image = draw(st.integers(0, len(GOOD_IMAGES) - 1))
            records.append({"id": meme_id, "labels": labels, "text": text, "image": image})
        else:
            spans = []
            for _ in range(draw(st.integers(0, 3))):
                start = draw(st.integers(0, len(text) - 1))
                end = draw(st.integers(start + 1, len(text)))
                spans.append((start, end, draw(st.sampled_from(TEXT_TECHNIQUES))))
            records.append({"id": meme_id, "text": text, "spans": spans})
    victim = draw(st.integers(0, len(records) - 1))
    if subtask == 2 and corruption and corruption.startswith("span"):
        records[victim]["spans"].append((0, 1, TEXT_TECHNIQUES[0]))
    other = draw(st.integers(0, len(records) - 1).filter(lambda n: n != victim))
    cut = draw(st.floats(0.01, 0.99))
    return subtask, records, corruption, victim, other, cut


def _to_json(record: dict, subtask: int) -> dict:
    if subtask == 3:
        return {
            "id": record["id"],
            "labels": record["labels"],
            "text": record["text"],
            "image": f"{record['id']}_image.png",
        }
    labels = [{"start": s, "end": e, "technique": t} for s, e, t in record["spans"]]
    return {"id": record["id"], "text": record["text"], "labels": labels}


def _expected(record: dict, subtask: int, image_dir: Path) -> Meme:
    if subtask == 3:
        image_path = image_dir / f"{record['id']}_image.png"
        return Meme(record["id"], record["text"], image_path, tuple(record["labels"]))
    spans = tuple(sorted(Span(*span) for span in record["spans"]))
    return Meme(record["id"], record["text"], spans=spans)


CASES = [(subtask, corruption) for subtask in (2, 3) for corruption in CORRUPTIONS[subtask]]


# Every corruption is its own case (hypothesis alone would skew towards a few of them); about
# 150 corpora in all, a few seconds.
@pytest.mark.parametrize("subtask, corruption", CASES, ids=[f"{s}-{c}" for s, c in CASES])
@settings(max_examples=6, deadline=None)
@given(data=st.data())
def test_random_corpus_reads_exactly_or_fails_with_the_right_message(subtask, corruption, data):
    _, records, _, victim, other, cut = data.draw(corpora(subtask, corruption))
    root = Path(tempfile.mkdtemp())
    try:
        _check(root, subtask, records, corruption, victim, other, cut)
    finally:
        shutil.rmtree(root)


def _check(root, subtask, records, corruption, victim, other, cut):
    data_dir = make_data_dir(root / "corpus")
    image_dir = data_dir / "images" / "dev"
    path = data_dir / SPLIT_FILES[(subtask, "dev")]
    documents = [_to_json(record, subtask) for record in records]
    bad = documents[victim]
    meme_id, expected = bad["id"], None  # what the error must name
    if corruption in ("drop id", "drop text", "drop image", "drop labels"):
        field = corruption.split()[1]
        del bad[field]
        meme_id = f"#{victim}" if field == "id" else meme_id
        expected = f"record has no {field!r}"
    elif corruption == "duplicate id":
        bad["id"] = documents[other]["id"]  # the later of the two copies is reported
        meme_id, expected = bad["id"], "duplicate id"
    elif corruption == "empty text":
        bad["text"], expected = " \n ", "'text' is empty"
    elif corruption == "non-UTF-8 text":
        bad["text"] += MARK
        expected = "'text' is not valid UTF-8"
    elif corruption == "unknown technique":
        if subtask == 3:
            bad["labels"].append("Sarcasm")
        else:
            bad["labels"].append({"start": 0, "end": 1, "technique": "Sarcasm"})
        expected = "unknown technique 'Sarcasm'"
    elif corruption and corruption.startswith("span"):
        span, length = bad["labels"][-1], len(bad["text"])
        if corruption == "span beyond text":
            span["end"], expected = length + 1, f"ends beyond the text (length {length})"
        elif corruption == "span inverted":
            span["start"], span["end"] = 1, 0
            expected = "is inverted"
        else:
            span["start"], expected = -1, "starts before the text"
        expected = f"span {len(bad['labels'])}: [{span['start']}, {span['end']}) {expected}"
    write_records(path, documents, indent=1)
    raw = path.read_bytes()
    if corruption == "non-UTF-8 text":
        path.write_bytes(raw.replace(MARK.encode(), b"\xff"))
    elif corruption == "truncate":
        path.write_bytes(raw[: max(1, int(len(raw) * cut))])
        meme_id, expected = None, "malformed or truncated JSON"
    elif corruption == "crlf and bom":
        path.write_bytes(b"\xef\xbb\xbf" + raw.replace(b"\n", b"\r\n"))

    if subtask == 3:
        for record in records:
            name = image_dir / f"{record['id']}_image.png"
            name.write_bytes(GOOD_IMAGES[record["image"]])
        name = image_dir / f"{records[victim]['id']}_image.png"
        if corruption == "missing image":
            name.unlink()
            expected = "image not found"
        elif corruption in BAD_IMAGES:
            name.write_bytes(BAD_IMAGES[corruption][0])
            expected = BAD_IMAGES[corruption][1]

    if expected is None:
        memes = load_split("dev", subtask, data_dir, check_images=True)
        assert memes == [_expected(record, subtask, image_dir) for record in records]
        return
    with pytest.raises(CorpusError) as error:
        load_split("dev", subtask, data_dir, check_images=True)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert expected in message
    if meme_id is not None:
        assert error.value.meme_id == meme_id, message
