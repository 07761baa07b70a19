"""The SavedModel of a `spans` run, loaded in a fresh process, gives `SpanModel`'s spans; its
in-graph decoding gives `token_probabilities_to_spans`'s spans of any probabilities."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import textwrap

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import meme_keras as mk
from meme_keras.backbones.features import text_features
from meme_keras.backbones.text_backbones import load_text_tokenizer
from meme_keras.backbones.text_encoders import make_text_encoder
from meme_keras.cli import main as cli
from meme_keras.data.corpus import load_split
from meme_keras.data.meme import Meme, Span
from meme_keras.data.span_tags import token_probabilities_to_spans
from meme_keras.evaluation.span_f1 import deduplicate_spans
from meme_keras.export.span_saved_model import (
    split_words_with_offsets,
    token_probabilities_to_spans_in_graph,
    word_pieces,
)
from meme_keras.pipeline.token_tags import predict_tag_probabilities, token_tag_data

HARD_TEXTS = [
    "Ünïcödé ß… CONSPIRÁCY HARRİS straße ǅemal ﬁnal",
    "😀😀 WAKE UP 🇺🇸🇺🇸 sheeple ❤️ \U0001f600x",
    '!!!???... --- ,,, HATE!!!TRUMP...LIES "fake" (news)',
    "I HATE TRUMP\n\nMOST TERRORIST DO\r\n\tok\n",
    "   a\u00a0b \u200b c\u2028d \u3000 spaced out   ",
    "中文 words 漢字, mixed",
    "x" * 120 + " done",
    " ".join(["conspiracy theory of everything"] * 40),  # more pieces than the model sees
]
# Runs in a fresh process: the SavedModel alone, as a server would load it.
SERVE = textwrap.dedent(
    """
    import json, sys, threading
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)

    folder, texts_file, output_file = sys.argv[1:]
    texts = json.load(open(texts_file, encoding="utf-8"))
    serve = tf.saved_model.load(folder).signatures["serving_default"]

    def call(batch):
        outputs = serve(text=tf.constant(batch))
        return {name: value.numpy().tolist() for name, value in outputs.items()}

    def error(batch):
        try:
            serve(text=tf.constant(batch))
        except tf.errors.InvalidArgumentError as raised:
            return raised.message
        return None

    result = {"all": call(texts)}
    batches = [texts[i::4] for i in range(4)]
    result["serial"] = [call(batch) for batch in batches]
    threaded, barrier = [None] * 4, threading.Barrier(4)

    def work(i):
        barrier.wait()
        threaded[i] = [call(batches[i]) for _ in range(2)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result["threaded"] = threaded
    result["empty"] = error(["fine", " \\n\\t", "also fine", "\\u00a0"])
    result["not_utf8"] = error([b"ok", b"\\xff\\xfe"])
    json.dump(result, open(output_file, "w"), default=lambda b: b.decode("utf-8"))
    """
)


def low_threshold(model, texts: list[str]) -> float:
    """A token threshold near the 30th percentile of the tagger's probabilities, midway in a
    gap between them: a barely trained tagger then gives many spans, none on a tie."""
    memes = [Meme(str(i), text) for i, text in enumerate(texts)]
    backbone = model.config["text_backbone"]
    encoded = text_features(memes, backbone["name"], backbone["sequence_length"])
    data = token_tag_data(memes, encoded, model.techniques)
    probabilities = predict_tag_probabilities(model.model, data.head_inputs())
    values = np.unique(probabilities[data.token_weights > 0])
    low = int(0.3 * len(values))
    widest = low + int(np.argmax(np.diff(values[low : low + 100])))
    return float((values[widest] + values[widest + 1]) / 2)


@pytest.fixture(scope="module")
def served(tiny_corpus, tmp_path_factory, monkeypatch_module, feature_cache, tiny_spans_run):
    """The session's tiny spans run given a low threshold, its expected predictions, and what
    its SavedModel answered in a fresh process."""
    monkeypatch_module.setenv("MEME_KERAS_CACHE", str(feature_cache))
    folder = tmp_path_factory.mktemp("span_export")
    run = folder / "run"
    shutil.copytree(tiny_spans_run[0], run)
    memes = [
        meme for split in ("train", "dev", "test") for meme in load_split(split, 2, tiny_corpus)
    ]
    texts = [meme.text for meme in memes] + HARD_TEXTS
    thresholds = json.loads((run / "thresholds.json").read_text())
    thresholds["token_threshold"] = low_threshold(mk.load(run), texts)
    (run / "thresholds.json").write_text(json.dumps(thresholds))
    model = mk.load(run)
    expected = model.predict(texts=texts)

    assert cli(["export", "--run", str(run), "--output", str(folder / "saved_model")]) == 0
    (folder / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    command = [sys.executable, "-c", SERVE, str(folder / "saved_model"), str(folder / "texts.json")]
    subprocess.run([*command, str(folder / "answers.json")], check=True, timeout=300)
    answers = json.loads((folder / "answers.json").read_text(encoding="utf-8"))
    return model, texts, expected, answers


def spans_by_text(outputs: dict, count: int) -> list[list[dict]]:
    spans = [[] for _ in range(count)]
    for row, start, end, technique in zip(
        *(outputs[name] for name in ("span_row", "span_start", "span_end", "span_technique")),
        strict=True,
    ):
        spans[row].append({"start": start, "end": end, "technique": technique})
    return spans


def test_the_saved_model_gives_the_span_models_spans(served):
    model, texts, expected, answers = served
    served_spans = spans_by_text(answers["all"], len(texts))
    for text, prediction, spans in zip(texts, expected, served_spans, strict=True):
        wanted = [
            {key: label[key] for key in ("start", "end", "technique")}
            for label in prediction["labels"]
        ]
        assert spans == wanted, text
    assert all(served_spans[-len(HARD_TEXTS) :])  # every hard text has spans to compare
    assert sum(map(len, served_spans)) > 100
    probabilities = np.array(answers["all"]["token_probabilities"])
    assert probabilities.shape[1] == model.config["text_backbone"]["sequence_length"]  # truncated
    assert answers["all"]["techniques"] == list(model.techniques)


def test_empty_texts_and_bytes_that_are_not_utf8_fail_naming_their_rows(served):
    *_, answers = served
    assert "assertion failed: [empty text at rows] [1 3]" in answers["empty"].splitlines()
    assert (
        "assertion failed: [text that is not UTF-8 at rows] [1]" in answers["not_utf8"].splitlines()
    )


def test_threads_serving_at_once_get_the_serial_answers(served):
    *_, answers = served
    for serial, repeated in zip(answers["serial"], answers["threaded"], strict=True):
        assert all(answer == serial for answer in repeated)


def random_texts(count: int, seed: int = 0) -> list[str]:
    """Texts of words, punctuation, spaces of all kinds, emoji, CJK and folding characters."""
    pieces = [*"abcHIJ  \n\t,.!?'\"-…ßÁİ😀❤️\u00a0\u200b\u2028中\u3000\ufe0f\u034fǅﬁ"]
    pieces += ["word", "HATE", "TRUMP", "unbelievable", "x" * 120]
    draw = random.Random(seed)
    texts = ["".join(draw.choices(pieces, k=draw.randint(1, 40))) for _ in range(count)]
    return [text for text in texts if text.strip()]


@pytest.mark.parametrize(
    "sequence_length, threshold", [(8, 0.6), (64, 0.6), (64, np.array([0.3, 0.6, 0.9]))]
)
def test_in_graph_decoding_gives_the_python_spans_of_any_probabilities(sequence_length, threshold):
    texts = random_texts(200) + HARD_TEXTS
    techniques = ["b", "a", "c"]
    tokenizer = load_text_tokenizer("all_minilm_l6_v2")
    packer = keras_hub.layers.StartEndPacker(
        start_value=tokenizer.cls_token_id,
        end_value=tokenizer.sep_token_id,
        pad_value=tokenizer.pad_token_id,
        sequence_length=sequence_length,
    )
    encoded = make_text_encoder("all_minilm_l6_v2", sequence_length).encode(texts)
    probabilities = np.random.default_rng(0).random(
        (len(texts), sequence_length, len(techniques)), np.float32
    )

    @tf.function
    def decode(text, probabilities):
        words, begins, ends = split_words_with_offsets(text)
        ids, piece_words = word_pieces(tokenizer, words, sequence_length)
        spans = token_probabilities_to_spans_in_graph(
            text, begins, ends, piece_words, probabilities, threshold
        )
        return packer(ids), spans

    token_ids, spans = decode(tf.constant(texts), tf.constant(probabilities))
    np.testing.assert_array_equal(token_ids, encoded.token_ids)  # the Python encoder's ids
    decoded = [[] for _ in texts]
    for row, column, start, end in zip(*(np.asarray(part) for part in spans), strict=True):
        decoded[row].append(Span(int(start), int(end), techniques[column]))
    for row, text in enumerate(texts):
        expected = token_probabilities_to_spans(
            text,
            encoded.offsets[row],
            encoded.padding_mask[row],
            probabilities[row],
            techniques,
            threshold,
        )
        assert sorted(decoded[row]) == deduplicate_spans(expected), text
