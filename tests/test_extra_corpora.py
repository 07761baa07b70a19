"""The readers of the extra training corpora: SemEval-2024 memes and PTC news articles."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meme_keras.data.corpus import default_data_dir, load_split
from meme_keras.data.errors import CorpusError
from meme_keras.data.meme import Meme, Span
from meme_keras.data.memes_2024 import load_2024_memes, read_2024_file
from meme_keras.data.ptc import (
    MERGED_CLASSES,
    RESOLUTION_COLUMNS,
    TECHNIQUES_2021,
    UNANNOTATED_TECHNIQUES,
    annotated_mask,
    article_sentences,
    default_ptc_dir,
    read_ptc_split,
)
from meme_keras.data.techniques import read_techniques

TEXT_TECHNIQUES = read_techniques(default_data_dir(), "text")
MULTIMODAL_TECHNIQUES = read_techniques(default_data_dir(), "multimodal")


# --- SemEval-2024 memes --------------------------------------------------------------------


def test_real_2024_memes_read_with_newlines_and_new_ids():
    subtask1, subtask2a = load_2024_memes("1"), load_2024_memes("2a")
    assert (len(subtask1), len(subtask2a)) == (6507, 6205)  # DATA.md: 6,508 less the empty one
    by_id = {meme.id: meme for meme in subtask2a}
    assert len(by_id.keys() | {meme.id for meme in subtask1}) == 6980
    assert not any("\\n" in meme.text for meme in subtask1 + subtask2a)
    assert sum("\n" in meme.text for meme in subtask2a) > 1000
    for meme in subtask1:  # text labels are a subset of the multimodal ones, same text
        if meme.id in by_id:
            assert meme.text == by_id[meme.id].text
            assert set(meme.labels) <= set(by_id[meme.id].labels)
    ids_2021 = {meme.id for split in ("train", "dev", "test") for meme in load_split(split, 1)}
    assert not ids_2021 & by_id.keys()
    assert all(meme.image_path is None for meme in subtask2a)


def test_the_empty_2024_meme_is_named_not_dropped_silently(caplog):
    with pytest.raises(CorpusError, match=r"train_subtask1.json: meme '65550': 'text' is empty"):
        load_2024_memes("1", skip_invalid=False)
    load_2024_memes("1")
    assert "meme '65550'" in caplog.text


def write_2024(path: Path, records) -> Path:
    path.write_text(records if isinstance(records, str) else json.dumps(records))
    return path


@pytest.mark.parametrize(
    "records, problem",
    [
        ('[{"id": "1", "text": "a"', "malformed or truncated JSON"),
        ("[]", "holds no memes"),
        ([{"id": "1", "text": "a", "labels": ["Sarcasm"]}], "meme '1': unknown technique"),
        ([{"id": "1", "text": "a"}], "meme '1': record has no 'labels'"),
        ([{"id": "1", "text": "\\n", "labels": []}], "meme '1': 'text' is empty"),
        (
            [{"id": "1", "text": "a", "labels": []}, {"id": "1", "text": "b", "labels": []}],
            "meme '1': duplicate id",
        ),
    ],
)
def test_a_bad_2024_file_names_file_and_meme(tmp_path, records, problem):
    path = write_2024(tmp_path / "train_subtask2a.json", records)
    with pytest.raises(CorpusError, match="train_subtask2a.json: .*" + problem.replace("(", ".")):
        read_2024_file(path, MULTIMODAL_TECHNIQUES)


texts = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\\"), min_size=1, max_size=30
).filter(str.strip)


@settings(max_examples=40, deadline=None)
@given(
    memes=st.lists(
        st.tuples(texts, st.sets(st.sampled_from(MULTIMODAL_TECHNIQUES), max_size=4)),
        min_size=1,
        max_size=6,
    ),
    corruption=st.sampled_from([None, "unknown technique", "duplicate id", "label twice"]),
)
def test_random_2024_files_read_exactly_or_name_the_meme(memes, corruption):
    records = [
        {"id": str(70000 + i), "text": text.replace("\n", "\\n"), "labels": sorted(labels)}
        for i, (text, labels) in enumerate(memes)
    ]
    bad = records[-1]
    if corruption == "unknown technique":
        bad["labels"] = [*bad["labels"], "Sarcasm"]
    elif corruption == "duplicate id":
        records.append({**records[0]})
    elif corruption == "label twice":
        bad["labels"] = [*bad["labels"], MULTIMODAL_TECHNIQUES[0], MULTIMODAL_TECHNIQUES[0]]
    with tempfile.TemporaryDirectory() as folder:
        path = write_2024(Path(folder) / "memes.json", records)
        if corruption is None:
            read = read_2024_file(path, MULTIMODAL_TECHNIQUES)
            assert [(m.id, m.text, set(m.labels)) for m in read] == [
                (str(70000 + i), text, labels) for i, (text, labels) in enumerate(memes)
            ]
        else:
            with pytest.raises(CorpusError, match=rf"memes.json: meme '{records[-1]['id']}'"):
                read_2024_file(path, MULTIMODAL_TECHNIQUES)


# --- PTC -----------------------------------------------------------------------------------


def test_real_ptc_reads_every_span_with_the_byte_order_mark_kept():
    train, dev = read_ptc_split("train"), read_ptc_split("dev")
    assert (len(train.articles), len(dev.articles)) == (371, 75)
    # DATA.md: 6,128 and 1,063 spans; merged-class spans without one fine label are dropped.
    assert sum(len(a.spans) for a in train.articles) + train.unresolved_spans == 6128
    assert sum(len(a.spans) for a in dev.articles) + dev.unresolved_spans == 1063
    assert train.unresolved_spans == 19  # 179 merged train spans, 160 resolved
    bom = next(a for a in train.articles if a.id == "705409419")
    assert bom.text.startswith("\ufeff")
    assert bom.spans[0].fragment(bom.text) == "a devastating letter"
    used = {span.technique for a in train.articles for span in a.spans}
    assert used <= set(TEXT_TECHNIQUES) and not used & set(UNANNOTATED_TECHNIQUES)
    assert {"Whataboutism", "Reductio ad hitlerum", "Bandwagon"} <= used


def test_unannotated_techniques_are_masked_not_negative():
    mask = annotated_mask(TEXT_TECHNIQUES)
    assert mask.sum() == len(TEXT_TECHNIQUES) - 3
    assert {TEXT_TECHNIQUES[i] for i in np.flatnonzero(mask == 0)} == set(UNANNOTATED_TECHNIQUES)
    assert set(TECHNIQUES_2021.values()) <= set(TEXT_TECHNIQUES)


def test_sentences_carry_their_spans_cut_and_shifted():
    text = "Title here\n\nThey are TRAITORS and liars.\nSecond line."
    start = text.index("TRAITORS")
    article = Meme(
        "9",
        text,
        spans=(
            Span(start, start + 8, "Name calling/Labeling"),
            Span(start, len(text), "Loaded Language"),  # runs over two lines
        ),
    )
    sentences = article_sentences(article)
    assert [s.id for s in sentences] == ["9:1", "9:3", "9:4"]
    second, third = sentences[1], sentences[2]
    assert [s.fragment(second.text) for s in second.spans] == [
        "TRAITORS",
        "TRAITORS and liars.",
    ]
    assert [s.fragment(third.text) for s in third.spans] == ["Second line."]
    assert second.labels == ("Loaded Language", "Name calling/Labeling")
    assert sentences[0].labels == ()


def make_ptc(folder: Path, articles: dict[str, str], lines: list[str], resolutions=()) -> Path:
    (folder / "train-articles").mkdir(parents=True)
    for article, text in articles.items():
        (folder / "train-articles" / f"article{article}.txt").write_bytes(text.encode())
    (folder / "train-task-flc-tc.labels").write_text("".join(line + "\n" for line in lines))
    header = "\t".join([*RESOLUTION_COLUMNS, "method"])
    rows = ["\t".join([*row, "exact"]) for row in resolutions]
    (folder / "merged_class_resolution.tsv").write_text("\n".join([header, *rows]) + "\n")
    return folder


@pytest.mark.parametrize(
    "line, problem",
    [
        ("1\tLoaded_Language\t0", "line 1: expected 4 tab-separated fields"),
        ("1\tSarcasm\t0\t3", "article '1': line 1: unknown technique 'Sarcasm'"),
        ("1\tDoubt\t0\t99", r"article '1': line 1: span \[0, 99\) ends beyond the text"),
        ("1\tDoubt\t3\t3", r"article '1': line 1: span \[3, 3\) is empty or inverted"),
        ("1\tDoubt\tx\t3", "article '1': line 1: start must be an integer"),
        ("7\tDoubt\t0\t3", "article '7': line 1: no file article7.txt"),
    ],
)
def test_a_bad_ptc_label_line_names_file_article_and_line(tmp_path, line, problem):
    folder = make_ptc(tmp_path, {"1": "Some text here."}, [line])
    with pytest.raises(CorpusError, match="train-task-flc-tc.labels: " + problem):
        read_ptc_split("train", folder)


def test_a_ptc_article_that_is_not_utf8_is_named(tmp_path):
    folder = make_ptc(tmp_path, {"1": "fine"}, [])
    (folder / "train-articles" / "article1.txt").write_bytes(b"caf\xe9")
    with pytest.raises(CorpusError, match=r"article1.txt: article '1': not UTF-8"):
        read_ptc_split("train", folder)


def test_the_default_ptc_folder_is_the_shared_one():
    assert default_ptc_dir().name == "ptc_semeval2020"


ptc_texts = st.text(
    st.characters(exclude_categories=("Cs", "Zl", "Zp"), exclude_characters="\r\x1c\x1d\x1e\x85"),
    min_size=2,
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_random_ptc_splits_read_exactly(data):
    """Random articles (a byte order mark at times), spans of mapped, merged-resolved and
    merged-unresolved classes: every kept span is the one written, every dropped one counted."""
    articles = {
        str(100 + i): ("\ufeff" if data.draw(st.booleans()) else "") + data.draw(ptc_texts)
        for i in range(data.draw(st.integers(1, 3)))
    }
    lines, expected, resolutions, unresolved = [], {a: set() for a in articles}, [], 0
    for article, text in articles.items():
        for _ in range(data.draw(st.integers(0, 4))):
            start = data.draw(st.integers(0, len(text) - 1))
            end = data.draw(st.integers(start + 1, len(text)))
            label = data.draw(st.sampled_from([*TECHNIQUES_2021, *MERGED_CLASSES]))
            lines.append(f"{article}\t{label}\t{start}\t{end}")
            if label in TECHNIQUES_2021:
                expected[article].add(Span(start, end, TECHNIQUES_2021[label]))
                continue
            fine = data.draw(st.sampled_from(["", *MERGED_CLASSES[label]]))
            if any(r[:5] == ("train", article, label, str(start), str(end)) for r in resolutions):
                fine = next(
                    r[5]
                    for r in resolutions
                    if r[:5] == ("train", article, label, str(start), str(end))
                )
            else:
                resolutions.append(("train", article, label, str(start), str(end), fine))
            if fine:
                expected[article].add(Span(start, end, MERGED_CLASSES[label][fine]))
            else:
                unresolved += 1
    with tempfile.TemporaryDirectory() as folder:
        corpus = read_ptc_split("train", make_ptc(Path(folder), articles, lines, resolutions))
    assert {a.id: a.text for a in corpus.articles} == articles
    assert {a.id: set(a.spans) for a in corpus.articles} == expected
    assert corpus.unresolved_spans == unresolved
