"""Reads the Propaganda Techniques Corpus (SemEval-2020 Task 11): news articles with character
spans, mapped onto the 2021 text techniques.

- Offsets are Python string indices over the article as stored: read as UTF-8 (never
  "utf-8-sig") with newlines untranslated, so that the byte order mark two articles start
  with is kept and counted.
- PTC's two merged classes are resolved with `merged_class_resolution.tsv`; a span it does not
  resolve to one fine label is dropped, and counted in `PtcCorpus.unresolved_spans`.
- PTC never annotates `UNANNOTATED_TECHNIQUES`: on PTC text they are unknown, not absent
  (`annotated_mask` gives the loss mask).
Every problem is a `CorpusError` naming the file, the article and the line.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from meme_keras.data.errors import CorpusError
from meme_keras.data.meme import Meme, Span

log = logging.getLogger(__name__)

DATA_DIR_VARIABLE = "MEME_KERAS_DATA_PTC"
SPLITS = ("train", "dev")
TECHNIQUES_2021 = {
    "Appeal_to_Authority": "Appeal to authority",
    "Appeal_to_fear-prejudice": "Appeal to fear/prejudice",
    "Black-and-White_Fallacy": "Black-and-white Fallacy/Dictatorship",
    "Causal_Oversimplification": "Causal Oversimplification",
    "Doubt": "Doubt",
    "Exaggeration,Minimisation": "Exaggeration/Minimisation",
    "Flag-Waving": "Flag-waving",
    "Loaded_Language": "Loaded Language",
    "Name_Calling,Labeling": "Name calling/Labeling",
    "Repetition": "Repetition",
    "Slogans": "Slogans",
    "Thought-terminating_Cliches": "Thought-terminating cliché",
}
# Each merged PTC class and the 2021 technique of each of its fine labels.
MERGED_CLASSES = {
    "Whataboutism,Straw_Men,Red_Herring": {
        "Whataboutism": "Whataboutism",
        "Straw_Men": "Misrepresentation of Someone's Position (Straw Man)",
        "Red_Herring": "Presenting Irrelevant Data (Red Herring)",
    },
    "Bandwagon,Reductio_ad_hitlerum": {
        "Bandwagon": "Bandwagon",
        "Reductio_ad_hitlerum": "Reductio ad hitlerum",
    },
}
UNANNOTATED_TECHNIQUES = (
    "Glittering generalities (Virtue)",
    "Obfuscation, Intentional vagueness, Confusion",
    "Smears",
)
RESOLUTION_FILE = "merged_class_resolution.tsv"
RESOLUTION_COLUMNS = ["split", "article_id", "ptc2020_label", "start", "end", "resolved_label"]


@dataclass(frozen=True)
class PtcCorpus:
    """One split's articles (id, text, spans with 2021 names) and what could not be kept."""

    articles: list[Meme]
    unresolved_spans: int


def default_ptc_dir() -> Path:
    """`$MEME_KERAS_DATA_PTC`, else `../shared/data/ptc_semeval2020` beside the repository."""
    if os.environ.get(DATA_DIR_VARIABLE):
        return Path(os.environ[DATA_DIR_VARIABLE])
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "ptc_semeval2020"


def annotated_mask(techniques) -> np.ndarray:
    """float32 [techniques]: 1 where PTC annotates the technique, 0 where it is unknown."""
    return np.array([t not in UNANNOTATED_TECHNIQUES for t in techniques], np.float32)


def _int_field(value: str, name: str, path: Path, line: int, article: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise CorpusError(
            path, article, f"line {line}: {name} must be an integer, not {value!r:.20}", "article"
        ) from None


def read_resolutions(path: Path) -> dict[tuple, str | None]:
    """(split, article, PTC label, start, end) -> 2021 technique, or None where unresolved."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise CorpusError(path, None, "merged-class resolution file not found") from None
    if not lines or lines[0].split("\t")[: len(RESOLUTION_COLUMNS)] != RESOLUTION_COLUMNS:
        raise CorpusError(path, None, f"expected a header starting {RESOLUTION_COLUMNS}")
    resolutions = {}
    for number, line in enumerate(lines[1:], 2):
        fields = line.split("\t")
        if len(fields) < len(RESOLUTION_COLUMNS):
            raise CorpusError(
                path, None, f"line {number}: expected {len(RESOLUTION_COLUMNS)}+ fields"
            )
        split, article, label, start, end, fine = fields[: len(RESOLUTION_COLUMNS)]
        if label not in MERGED_CLASSES:
            raise CorpusError(
                path, article, f"line {number}: {label!r} is not a merged class", "article"
            )
        if fine and "|" not in fine and fine not in MERGED_CLASSES[label]:
            raise CorpusError(
                path, article, f"line {number}: {fine!r} is not a part of {label!r}", "article"
            )
        key = (
            split,
            article,
            label,
            _int_field(start, "start", path, number, article),
            _int_field(end, "end", path, number, article),
        )
        # Empty, or "A|B" (ambiguous): unresolved.
        resolutions[key] = MERGED_CLASSES[label].get(fine) if fine else None
    return resolutions


def read_article(path: Path, article: str) -> str:
    """The article's text exactly as stored (byte order mark and newlines kept)."""
    try:
        with open(path, encoding="utf-8", newline="") as file:
            return file.read()
    except UnicodeDecodeError as error:
        raise CorpusError(path, article, f"not UTF-8 ({error.reason})", "article") from None


def _span_problem(start: int, end: int, length: int) -> str | None:
    if start < 0:
        return "starts before the text"
    if end > length:
        return f"ends beyond the text (length {length})"
    if end <= start:
        return "is empty or inverted"
    return None


def read_ptc_split(split: str = "train", data_dir: str | Path | None = None) -> PtcCorpus:
    """Every article of `split` ("train" or "dev") with its spans under the 2021 names."""
    if split not in SPLITS:
        raise ValueError(f"unknown PTC split {split!r}; choose one of {SPLITS}")
    data_dir = Path(data_dir) if data_dir else default_ptc_dir()
    articles_dir = data_dir / f"{split}-articles"
    if not articles_dir.is_dir():
        raise CorpusError(articles_dir, None, f"PTC articles not found (set ${DATA_DIR_VARIABLE})")
    texts = {
        path.stem.removeprefix("article"): read_article(path, path.stem.removeprefix("article"))
        for path in sorted(articles_dir.glob("article*.txt"))
    }
    if not texts:
        raise CorpusError(articles_dir, None, "no article*.txt files")
    resolutions = read_resolutions(data_dir / RESOLUTION_FILE)
    labels_path = data_dir / f"{split}-task-flc-tc.labels"
    try:
        lines = labels_path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise CorpusError(labels_path, None, "span labels file not found") from None
    spans: dict[str, set[Span]] = {article: set() for article in texts}
    unresolved = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            raise CorpusError(
                labels_path,
                None,
                f"line {number}: expected 4 tab-separated fields "
                f"(article, technique, start, end), got {len(fields)}",
            )
        article, label, start, end = fields
        start = _int_field(start, "start", labels_path, number, article)
        end = _int_field(end, "end", labels_path, number, article)
        if article not in texts:
            raise CorpusError(
                labels_path, article, f"line {number}: no file article{article}.txt", "article"
            )
        problem = _span_problem(start, end, len(texts[article]))
        if problem:
            raise CorpusError(
                labels_path, article, f"line {number}: span [{start}, {end}) {problem}", "article"
            )
        if label in TECHNIQUES_2021:
            technique = TECHNIQUES_2021[label]
        elif label in MERGED_CLASSES:
            technique = resolutions.get((split, article, label, start, end))
            if technique is None:
                unresolved += 1
                continue
        else:
            raise CorpusError(
                labels_path, article, f"line {number}: unknown technique {label!r}", "article"
            )
        spans[article].add(Span(start, end, technique))
    if unresolved:
        log.info(
            "PTC %s: dropped %d merged-class spans with no single fine label", split, unresolved
        )
    articles = [Meme(a, texts[a], spans=tuple(sorted(spans[a]))) for a in texts]
    return PtcCorpus(articles, unresolved)


def article_sentences(article: Meme) -> list[Meme]:
    """The article's non-blank lines (one sentence each) as records of their own, with the
    spans cut to each line and shifted; `labels` are the techniques used in the line. Ids are
    `<article>:<line number>` (1-based)."""
    sentences, start = [], 0
    for number, line in enumerate(article.text.split("\n"), 1):
        end = start + len(line)
        if line.strip():
            pieces = sorted(
                {
                    Span(max(s.start, start) - start, min(s.end, end) - start, s.technique)
                    for s in article.spans
                    if s.start < end and s.end > start
                }
            )
            labels = tuple(sorted({span.technique for span in pieces}))
            sentences.append(
                Meme(f"{article.id}:{number}", line, labels=labels, spans=tuple(pieces))
            )
        start = end + 1
    return sentences


def label_files(data_dir: str | Path | None = None) -> list[Path]:
    """The files that decide PTC's spans: each split's labels and the merged-class resolution."""
    folder = Path(data_dir) if data_dir else default_ptc_dir()
    return [folder / f"{split}-task-flc-tc.labels" for split in SPLITS] + [folder / RESOLUTION_FILE]


def training_sentences(negative_ratio: float, seed: int) -> tuple[list[Meme], int]:
    """(sentences, how many hold a span): the sentences of the train and dev articles that hold
    a span, then `negative_ratio` times as many span-free ones (as many as there are, at most),
    drawn by `seed` and kept in article order."""
    sentences = [
        sentence
        for split in SPLITS
        for article in read_ptc_split(split).articles
        for sentence in article_sentences(article)
    ]
    tagged = [s for s in sentences if s.spans]
    untagged = [s for s in sentences if not s.spans]
    count = min(len(untagged), round(negative_ratio * len(tagged)))
    rng = np.random.default_rng(seed)
    return tagged + [untagged[i] for i in sorted(rng.choice(len(untagged), count, False))], len(
        tagged
    )
