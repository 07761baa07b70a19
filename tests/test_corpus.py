"""Corpus and folder readers: each bad input is one clear CorpusError; good input reads exactly."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from corpus_fixtures import (
    image_bytes,
    make_data_dir,
    png_header_only,
    st2_record,
    st3_record,
    write_records,
)
from PIL import Image

from meme_keras.data.corpus import (
    SPLIT_FILES,
    load_split,
    partition_subtask_file,
    read_json_records,
    read_subtask_file,
)
from meme_keras.data.errors import CorpusError
from meme_keras.data.folder import read_meme_folder
from meme_keras.data.meme import Meme, Span
from meme_keras.data.techniques import read_techniques

JPEG = image_bytes("JPEG")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return make_data_dir(tmp_path / "corpus")


def st3_file(data_dir: Path, records, images=None, split="dev") -> Path:
    """Writes a subtask-3 split and one JPEG per record (unless `images` says otherwise)."""
    for record in records:
        name = record.get("image") if isinstance(record, dict) else None
        if isinstance(name, str) and name.strip() and "/" not in name:
            (data_dir / "images" / split / name).write_bytes(JPEG)
    for name, data in (images or {}).items():
        (data_dir / "images" / split / name).write_bytes(data)
    return write_records(data_dir / SPLIT_FILES[(3, split)], records)


def read_st3(data_dir: Path, split="dev"):
    return load_split(split, 3, data_dir, check_images=True)


def read_st2(data_dir: Path, split="dev"):
    return load_split(split, 2, data_dir)


def assert_error(error: pytest.ExceptionInfo, path: Path, meme_id: str | None, *problems: str):
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: "), message
    if meme_id is not None:
        assert f"meme {meme_id!r}: " in message, message
    for problem in problems:
        assert problem in message, message


# ---------------------------------------------------------------- the real corpus


def test_real_corpus_counts_and_string_ids():
    counts = {split: load_split(split, 3, check_images=True) for split in ("train", "dev", "test")}
    assert {split: len(memes) for split, memes in counts.items()} == {
        "train": 687,
        "dev": 63,
        "test": 200,
    }
    for memes in counts.values():
        assert all(isinstance(meme.id, str) and meme.image_path.is_file() for meme in memes)
    spans = {split: load_split(split, 2) for split in ("train", "dev", "test")}
    assert {split: sum(len(m.spans) for m in memes) for split, memes in spans.items()} == {
        "train": 1498,
        "dev": 182,
        "test": 403,
    }
    # 474_batch_2 is a test meme with empty training gold: left out of training
    assert [len(memes) for memes in spans.values()] == [687, 63, 200]
    assert "474_batch_2" not in {meme.id for meme in spans["train"]}
    assert all(isinstance(meme.id, str) for memes in spans.values() for meme in memes)


# ---------------------------------------------------------------- good input, read exactly


def test_good_subtask3_reads_exactly(data_dir):
    text = "Ünïcødé ТЕКСТ 中文\nline two"
    path = st3_file(
        data_dir,
        [
            st3_record("125", text, ["Smears", "Transfer"]),
            st3_record("77_batch_2", "x", []),
            st3_record("0125", "y", ["Appeal to (Strong) Emotions"]),
        ],
    )
    images = data_dir / "images" / "dev"
    assert read_st3(data_dir) == [
        Meme("125", text, images / "125_image.png", ("Smears", "Transfer")),
        Meme("77_batch_2", "x", images / "77_batch_2_image.png", ()),
        Meme("0125", "y", images / "0125_image.png", ("Appeal to (Strong) Emotions",)),
    ]
    # A byte order mark and Windows line ends are fine too.
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    assert [meme.text for meme in read_st3(data_dir)] == [text, "x", "y"]


def test_good_subtask2_reads_exactly_with_sorted_overlapping_spans(data_dir):
    text = "I HATE TRUMP\n\nMOST TERRORIST DO"
    spans = [(19, 28, "Name calling/Labeling"), (2, 6, "Loaded Language"), (0, 31, "Smears")]
    write_records(
        data_dir / SPLIT_FILES[(2, "dev")],
        [st2_record("125", text, spans), st2_record("7", "no spans", [])],
    )
    assert read_st2(data_dir) == [
        Meme("125", text, spans=tuple(sorted(Span(*span) for span in spans))),
        Meme("7", "no spans"),
    ]


def test_subtask1_and_leaked_training_memes(data_dir):
    write_records(
        data_dir / SPLIT_FILES[(1, "train")],
        [{"id": "1", "labels": ["Doubt"], "text": "a"}, {"id": "9", "labels": [], "text": "b"}],
    )
    write_records(
        data_dir / SPLIT_FILES[(1, "test")], [{"id": "9", "labels": ["Slogans"], "text": "b"}]
    )
    assert load_split("train", 1, data_dir) == [Meme("1", "a", labels=("Doubt",))]


def test_image_that_is_really_another_format_is_accepted(data_dir):
    st3_file(
        data_dir,
        [st3_record(str(n), image=f"{n}.png") for n in range(4)],
        images={
            "0.png": image_bytes("JPEG"),  # like 922 of the corpus's 950 images
            "1.png": image_bytes("GIF"),
            "2.png": image_bytes("WEBP"),
            "3.png": image_bytes("BMP"),
        },
    )
    assert len(read_st3(data_dir)) == 4


@pytest.mark.parametrize(
    "image_format, mode",
    [("PNG", "L"), ("PNG", "LA"), ("PNG", "RGBA"), ("PNG", "P"), ("PNG", "1"), ("PNG", "I;16")]
    + [("JPEG", "L"), ("JPEG", "CMYK"), ("GIF", "P"), ("WEBP", "RGBA"), ("BMP", "L")],
)
def test_grayscale_alpha_and_palette_images_are_accepted(data_dir, image_format, mode):
    st3_file(data_dir, [st3_record("1")], images={"1_image.png": image_bytes(image_format, mode)})
    assert len(read_st3(data_dir)) == 1


# ---------------------------------------------------------------- bad JSON files


@pytest.mark.parametrize(
    "content, problems",
    [
        (b"", ["file is empty"]),
        (b"  \n", ["file is empty"]),
        (b'[{"id": "1", "labels": [], "text": "a", "image": "1.png"}', ["truncated JSON"]),
        (b'[{"id": "1", "text": "a" "labels": []}]', ["malformed", "line 1", "delimiter"]),
        (b'{"id": "1"}', ["expected a JSON array"]),
        (b"[]", ["holds no memes"]),
        (b'["a"\xff]', ["not UTF-8 (byte 0xff at line 1)"]),
        (b"[" * 100_000 + b"]" * 100_000, ["nested too deeply"]),
    ],
)
def test_bad_json_file(data_dir, content, problems):
    path = data_dir / SPLIT_FILES[(3, "dev")]
    path.write_bytes(content)
    with pytest.raises(CorpusError) as error:
        read_st3(data_dir)
    assert_error(error, path, None, *problems)


def test_truncated_json_names_the_meme_it_was_cut_in(data_dir):
    path = st3_file(data_dir, [st3_record("11"), st3_record("12", "ÄÖÜ ÄÖÜ ÄÖÜ")])
    raw = path.read_bytes()
    cut = raw.index("ÄÖÜ".encode()) + 1  # inside a two-byte character
    path.write_bytes(raw[:cut])
    with pytest.raises(CorpusError) as error:
        read_st3(data_dir)
    assert_error(error, path, None, "truncated JSON", "in or after meme '12'")


def test_missing_file_and_folder(tmp_path, data_dir):
    with pytest.raises(CorpusError) as error:
        load_split("dev", 3, tmp_path / "nowhere")
    assert_error(error, tmp_path / "nowhere", None, "corpus folder not found")
    with pytest.raises(CorpusError) as error:
        read_st3(data_dir)
    assert_error(error, data_dir / SPLIT_FILES[(3, "dev")], None, "file not found")


# ---------------------------------------------------------------- bad records


def _drop(name):
    def mutate(record):
        del record[name]

    return mutate


def _set(name, value):
    def mutate(record):
        record[name] = value

    return mutate


BAD_ST3_RECORDS = [
    ("no id", _drop("id"), "#1", "record has no 'id'"),
    ("no text", _drop("text"), "2", "record has no 'text'"),
    ("no image", _drop("image"), "2", "record has no 'image'"),
    ("no labels", _drop("labels"), "2", "record has no 'labels'"),
    ("numeric id", _set("id", 2), "#1", "'id' must be a string, not 2"),
    ("empty id", _set("id", " "), "#1", "'id' is empty"),
    ("duplicate id", _set("id", "1"), "1", "duplicate id"),
    ("null text", _set("text", None), "2", "'text' must be a string"),
    ("empty text", _set("text", ""), "2", "'text' is empty"),
    ("blank text", _set("text", " \n\t"), "2", "'text' is empty"),
    ("lone surrogate", _set("text", "a\udc80b"), "2", "'text' is not valid UTF-8"),
    ("unknown technique", _set("labels", ["Smears", "Sarcasm"]), "2", "'Sarcasm'"),
    ("text technique list", _set("labels", "Smears"), "2", "'labels' must be a list"),
    ("label not a name", _set("labels", [{"start": 0}]), "2", "must be technique names"),
    ("technique twice", _set("labels", ["Doubt", "Doubt"]), "2", "listed twice: 'Doubt'"),
    ("empty image name", _set("image", ""), "2", "'image' is empty"),
    ("missing image", _set("image", "gone.png"), "2", "image not found", "gone.png"),
]


@pytest.mark.parametrize(
    "mutate, meme_id, problems",
    [case[1:3] + (case[3:],) for case in BAD_ST3_RECORDS],
    ids=[case[0] for case in BAD_ST3_RECORDS],
)
def test_bad_subtask3_record(data_dir, mutate, meme_id, problems):
    records = [st3_record("1"), st3_record("2"), st3_record("3")]
    mutate(records[1])
    path = st3_file(data_dir, records)
    if "gone.png" in problems:
        (data_dir / "images" / "dev" / "gone.png").unlink()
    with pytest.raises(CorpusError) as error:
        read_st3(data_dir)
    assert_error(error, path, meme_id, *problems)
    assert error.value.path == path and error.value.meme_id == meme_id


def test_record_that_is_not_an_object_and_duplicate_keys(data_dir):
    path = st3_file(data_dir, [st3_record("1"), "2"])
    with pytest.raises(CorpusError) as error:
        read_st3(data_dir)
    assert_error(error, path, "#1", "record is not a JSON object")
    path.write_text('[{"id": "1", "text": "a", "labels": [], "text": "b", "image": "1.png"}]')
    with pytest.raises(CorpusError) as error:
        read_st3(data_dir)
    assert_error(error, path, "1", "key 'text' twice")


def test_non_utf8_text_names_the_meme(data_dir):
    path = st3_file(data_dir, [st3_record("1"), st3_record("2", "caf@")])
    path.write_bytes(path.read_bytes().replace(b"@", b"\xe9"))  # Latin-1 é
    with pytest.raises(CorpusError) as error:
        read_st3(data_dir)
    assert_error(error, path, "2", "'text' is not valid UTF-8")


BAD_SPANS = [
    ((-1, 3, "Doubt"), "span 1: [-1, 3) starts before the text"),
    ((2, 13, "Doubt"), "span 1: [2, 13) ends beyond the text (length 12)"),
    ((6, 2, "Doubt"), "span 1: [6, 2) is inverted (end before start)"),
    ((4, 4, "Doubt"), "span 1: [4, 4) is empty"),
    ((2, 6, "Sarcasm"), "span 1: unknown technique 'Sarcasm'"),
    ((2, 6, "Transfer"), "span 1: unknown technique 'Transfer'"),  # a subtask-3 technique
    ((2.0, 6, "Doubt"), "span 1: 'start' must be an integer, not 2.0"),
    ((True, 6, "Doubt"), "span 1: 'start' must be an integer, not True"),
    ((2, "6", "Doubt"), "span 1: 'end' must be an integer, not '6'"),
    ((2, 6, None), "span 1: 'technique' must be a string, not None"),
]


@pytest.mark.parametrize("span, problem", BAD_SPANS)
def test_bad_span(data_dir, span, problem):
    path = write_records(
        data_dir / SPLIT_FILES[(2, "dev")],
        [st2_record("1"), st2_record("2", "I HATE TRUMP", [(0, 1, "Smears"), span])],
    )
    with pytest.raises(CorpusError) as error:
        read_st2(data_dir)
    assert_error(error, path, "2", problem.replace("span 1", "span 2"))


def test_span_missing_field_and_not_an_object(data_dir):
    path = data_dir / SPLIT_FILES[(2, "dev")]
    record = st2_record("3", spans=[(0, 1, "Doubt"), (2, 6, "Doubt")])
    del record["labels"][1]["end"]
    write_records(path, [record])
    with pytest.raises(CorpusError) as error:
        read_st2(data_dir)
    assert_error(error, path, "3", "span 2: record has no 'end'")
    write_records(path, [dict(record, labels=[[2, 6]])])
    with pytest.raises(CorpusError) as error:
        read_st2(data_dir)
    assert_error(error, path, "3", "span 1: not a JSON object")


def test_text_fragment_is_not_checked(data_dir):
    """DATA.md: five test spans have an off-by-one text_fragment; offsets are what counts."""
    record = st2_record("4")
    record["labels"][0]["text_fragment"] = "HAT"
    write_records(data_dir / SPLIT_FILES[(2, "dev")], [record])
    assert read_st2(data_dir)[0].spans == (Span(2, 6, "Loaded Language"),)


# ---------------------------------------------------------------- bad images


BAD_IMAGES = [
    ("zero bytes", b"", "image is an empty file"),
    ("truncated JPEG", image_bytes("JPEG", size=(64, 64))[:300], "corrupt or truncated image"),
    ("truncated PNG", image_bytes("PNG")[:-3], "corrupt or truncated image"),
    ("truncated GIF", image_bytes("GIF")[:-2], "corrupt or truncated image"),
    ("not an image", b"<html>hello</html>", "not an image"),
    ("TIFF", image_bytes("TIFF"), "unsupported image format TIFF"),
    ("1-bit BMP", image_bytes("BMP", "1"), "unsupported BMP variant (1-bit"),
    ("palette BMP", image_bytes("BMP", "P"), "unsupported BMP variant (8-bit"),
    ("huge", png_header_only(10_000, 10_000), "image too large (10000x10000 > 40,000,000"),
    ("bomb", png_header_only(30_000, 30_000), "image too large"),
]


@pytest.mark.parametrize(
    "data, problem", [case[1:] for case in BAD_IMAGES], ids=[case[0] for case in BAD_IMAGES]
)
def test_bad_image(data_dir, data, problem):
    path = st3_file(data_dir, [st3_record("1"), st3_record("2")], images={"2_image.png": data})
    started = time.perf_counter()
    with pytest.raises(CorpusError) as error:
        read_st3(data_dir)
    assert time.perf_counter() - started < 2  # a huge image is refused without decoding it
    assert_error(error, path, "2", problem, str(data_dir / "images" / "dev" / "2_image.png"))


def test_animated_webp_and_folder_in_place_of_an_image(data_dir):
    pictures = [Image.new("RGB", (8, 8), colour) for colour in ("red", "blue")]
    buffer = io.BytesIO()
    pictures[0].save(buffer, "WEBP", save_all=True, append_images=pictures[1:])
    path = st3_file(data_dir, [st3_record("1")], images={"1_image.png": buffer.getvalue()})
    with pytest.raises(CorpusError) as error:
        read_st3(data_dir)
    assert_error(error, path, "1", "animated WebP")
    (data_dir / "images" / "dev" / "1_image.png").unlink()
    (data_dir / "images" / "dev" / "1_image.png").mkdir()
    with pytest.raises(CorpusError) as error:
        read_st3(data_dir)
    assert_error(error, path, "1", "image is not a file")


# ---------------------------------------------------------------- skipping bad records


def test_partition_keeps_the_valid_records_and_reports_the_rest(data_dir):
    records = [st3_record(n) for n in "12345"]
    records[1]["labels"] = ["Sarcasm"]
    records[3]["id"] = "1"
    records.append("not a record")
    path = st3_file(data_dir, records, images={"3_image.png": b""})
    techniques = read_techniques(data_dir)
    memes, skipped = partition_subtask_file(path, 3, techniques, data_dir / "images" / "dev")
    assert [meme.id for meme in memes] == ["1", "5"]
    assert skipped == [
        (path, "meme '2': unknown technique 'Sarcasm'"),
        (path, f"meme '3': image is an empty file (0 bytes): {data_dir}/images/dev/3_image.png"),
        (path, "meme '1': duplicate id"),
        (path, "meme '#5': record is not a JSON object"),
    ]
    with pytest.raises(CorpusError, match="unknown technique"):
        read_subtask_file(path, 3, techniques, data_dir / "images" / "dev")
    assert read_json_records(write_records(path, [{"id": "1"}])) == [{"id": "1"}]


# ---------------------------------------------------------------- a folder of memes


def make_folder(root: Path, memes: dict[str, tuple[str, bytes | None, bytes | None]]) -> Path:
    """`memes`: stem -> (image suffix, image bytes or None, caption bytes or None)."""
    root.mkdir()
    for stem, (suffix, image, caption) in memes.items():
        if image is not None:
            (root / f"{stem}{suffix}").write_bytes(image)
        if caption is not None:
            (root / f"{stem}.txt").write_bytes(caption)
    return root


def test_folder_reads_exactly(tmp_path):
    folder = make_folder(
        tmp_path / "memes",
        {
            "b": (".png", image_bytes("JPEG"), "Ünï\r\nline 2\r\n".encode()),
            "a": (".JPG", image_bytes("PNG", "P"), b"\xef\xbb\xbfhello\n"),
            "10": (".webp", image_bytes("WEBP"), b"  spaced"),
        },
    )
    (folder / ".DS_Store").write_bytes(b"\0")
    (folder / "notes.md").write_text("not a meme")
    memes, skipped = read_meme_folder(folder)
    assert skipped == []
    assert memes == [
        Meme("10", "  spaced", folder / "10.webp"),
        Meme("a", "hello", folder / "a.JPG"),
        Meme("b", "Ünï\nline 2", folder / "b.png"),
    ]


BAD_FOLDER_MEMES = [
    ("no caption", (".png", JPEG, None), ".png", "no caption file bad.txt"),
    ("no image", (".png", None, b"text"), ".txt", "caption without an image"),
    ("Latin-1 caption", (".png", JPEG, b"caf\xe9"), ".txt", "caption is not UTF-8 text (byte 0xe9"),
    ("empty caption", (".png", JPEG, b" \n"), ".txt", "caption is empty"),
    ("zero-byte image", (".jpg", b"", b"text"), ".jpg", "image is an empty file"),
    ("corrupt image", (".jpg", JPEG[:200], b"text"), ".jpg", "corrupt or truncated image"),
    ("huge image", (".png", png_header_only(10_000, 10_000), b"t"), ".png", "image too large"),
]


@pytest.mark.parametrize(
    "meme, suffix, problem",
    [case[1:] for case in BAD_FOLDER_MEMES],
    ids=[case[0] for case in BAD_FOLDER_MEMES],
)
def test_bad_folder_meme(tmp_path, meme, suffix, problem):
    good = (".png", JPEG, b"fine")
    folder = make_folder(tmp_path / "memes", {"a": good, "bad": meme, "c": good})
    with pytest.raises(CorpusError) as error:
        read_meme_folder(folder)
    assert_error(error, folder / f"bad{suffix}", "bad", problem)
    memes, skipped = read_meme_folder(folder, skip_invalid=True)
    assert [meme.id for meme in memes] == ["a", "c"]
    assert len(skipped) == 1 and skipped[0][0] == folder / f"bad{suffix}"
    assert problem in skipped[0][1]


def test_folder_two_images_one_stem_and_no_memes(tmp_path):
    folder = make_folder(tmp_path / "memes", {"a": (".png", JPEG, b"text")})
    (folder / "a.jpg").write_bytes(JPEG)
    with pytest.raises(CorpusError) as error:
        read_meme_folder(folder)
    assert_error(error, folder / "a.jpg", "a", "several images share the name 'a'")
    empty = make_folder(tmp_path / "empty", {})
    with pytest.raises(CorpusError, match="no memes"):
        read_meme_folder(empty, skip_invalid=True)
    with pytest.raises(CorpusError, match="folder of memes not found"):
        read_meme_folder(tmp_path / "nowhere")


def test_corpus_error_is_one_line():
    error = CorpusError("f.txt", "a\nb", "line one\nline two")
    assert str(error) == "f.txt: meme 'a\\nb': line one line two"
    assert json.dumps(str(error)).count("\\n") == 1  # only the escaped one in the id
