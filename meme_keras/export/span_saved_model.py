"""Exports a `spans` run as a SavedModel: raw texts in, character spans of techniques out.

The serving signature splits each text into words with keras-hub's own patterns, tokenizes the
words with the backbone's keras-hub tokenizer, runs the backbone (unless the run's model holds
a fine-tuned one) and the tagger, and decodes the per-token probabilities into spans exactly as
`meme_keras.data.span_tags.token_probabilities_to_spans` does: every selected word piece
brings its whole word, selected words of one technique with only whitespace and punctuation
between them are one span, trimmed of whitespace. Offsets are code-point indices, Python's
string indices.

Like the Python encoder, a text keeps only its first `sequence_length - 2` word pieces: a
word cut there is still widened whole, words after it get no span. Empty texts, and bytes that
are not UTF-8, fail naming their rows. Loading needs `import tensorflow_text`.
"""

from __future__ import annotations

import keras_hub
import tensorflow as tf
import tensorflow_text as tf_text
from keras_hub.src.tokenizers.word_piece_tokenizer import (
    PUNCTUATION_AND_CJK_REGEX,
    WHITESPACE_AND_PUNCTUATION_REGEX,
    WHITESPACE_PUNCTUATION_AND_CJK_REGEX,
)

from meme_keras.backbones.adapted_text import text_preset
from meme_keras.backbones.text_backbones import load_text_backbone, load_text_tokenizer
from meme_keras.export.serving_graph import KerasParts, assert_no_rows, text_model_inputs
from meme_keras.inference.span_model import SpanModel

SIGNATURE_INPUTS = (tf.TensorSpec([None], tf.string, name="text"),)

# RE2 forms of the Python character classes of `span_tags.py` and `raw_memes.py`.
# Not content: `[WHITESPACE PUNCTUATION]` of text_encoding.py, the split's delimiters.
NOT_CONTENT = WHITESPACE_AND_PUNCTUATION_REGEX
# `_EDGE_WHITESPACE`: keras-hub's whitespace plus the `regex` module's Unicode `\s`.
EDGE_WHITESPACE = r"[ \t\n\r\f\p{Cc}\p{Cf}\p{Z}]"
# `str.isspace`, so that a text is empty here when `text.strip()` is empty in Python.
PYTHON_SPACE = r"[\t-\r\x{1c}-\x{1f}\x{85}\p{Z}]"
# Larger than any character offset.
_BEYOND = tf.int64.max


def split_words_with_offsets(text: tf.Tensor):
    """keras-hub's WordPiece pre-split of each text (CJK characters split off): words
    [batch, (words)] with their UTF-8 byte ranges, the words of
    `meme_keras.data.text_encoding.split_words`."""
    return tf_text.regex_split_with_offsets(
        text, WHITESPACE_PUNCTUATION_AND_CJK_REGEX, PUNCTUATION_AND_CJK_REGEX
    )


def word_pieces(tokenizer, words: tf.RaggedTensor, sequence_length: int):
    """Piece ids [batch, (pieces)] and the flat index into `words.flat_values` of each piece's
    word, cut to the first `sequence_length - 2` pieces of each text.

    Each word is tokenized alone: keras-hub splits a single word into itself, so the pieces are
    those of the whole text (pre-splitting keeps the piece -> word map)."""
    pieces = tokenizer(words.flat_values)  # [words, (pieces)]
    rows = tf.gather(pieces.row_splits, words.row_splits)
    ids = tf.RaggedTensor.from_row_splits(pieces.flat_values, rows)
    piece_words = tf.RaggedTensor.from_row_splits(pieces.value_rowids(), rows)
    kept = sequence_length - 2
    return ids[:, :kept], piece_words[:, :kept]


def _shifted(values: tf.Tensor, step: int) -> tf.Tensor:
    """values[..., c - step] along the last axis, False beyond the edges (step = +1 or -1)."""
    pad = tf.zeros_like(values[..., :1])
    if step > 0:
        return tf.concat([pad, values[..., :-1]], axis=-1)
    return tf.concat([values[..., 1:], pad], axis=-1)


def _runs(values: tf.Tensor):
    """Run ids of the maximal runs of True along the last axis of a bool tensor: (start mask,
    flat run id of every position (the run count where False), run count)."""
    starts = tf.logical_and(values, tf.logical_not(_shifted(values, 1)))
    flat_starts = tf.reshape(tf.cast(starts, tf.int64), [-1])
    count = tf.reduce_sum(flat_starts)
    ids = tf.where(tf.reshape(values, [-1]), tf.cumsum(flat_starts) - 1, count)
    return starts, ids, count


def token_probabilities_to_spans_in_graph(
    text: tf.Tensor,
    word_begins: tf.RaggedTensor,
    word_ends: tf.RaggedTensor,
    piece_words: tf.RaggedTensor,
    probabilities: tf.Tensor,
    threshold,
):
    """The spans of every text, as `token_probabilities_to_spans`, unsorted.

    Args:
        text: string [batch], valid UTF-8.
        word_begins, word_ends: int64 [batch, (words)] byte range of each word.
        piece_words: int64 [batch, (pieces)] flat word index of each kept piece.
        probabilities: float [batch, length, techniques]; piece i at position i + 1.
        threshold: float, or float [techniques]: a piece is selected for a technique where
            its probability is greater.

    Returns:
        (row, technique column, start, end) int64 [spans] each, in code points.
    """
    # Words with a selected piece, per technique: [words, techniques].
    rows = piece_words.value_rowids()
    positions = tf.range(tf.size(rows, out_type=tf.int64)) - tf.gather(
        piece_words.row_starts(), rows
    )
    piece_probabilities = tf.gather_nd(probabilities, tf.stack([rows, positions + 1], axis=1))
    selected = tf.cast(piece_probabilities, tf.float64) > tf.constant(threshold, tf.float64)
    word_selected = tf.math.unsorted_segment_max(
        tf.cast(selected, tf.int32),
        piece_words.flat_values,
        num_segments=tf.size(word_begins.flat_values, out_type=tf.int64),
    )
    # One more row, never selected, for characters outside words.
    no_word_index = tf.size(word_begins.flat_values, out_type=tf.int64)
    no_word = tf.zeros([1, tf.shape(probabilities)[2]], tf.bool)
    word_selected = tf.concat([word_selected > 0, no_word], axis=0)

    # The word holding each character, by byte offsets counted from the batch's start (one
    # sorted search serves every row), and which characters are content.
    _, char_begins = tf.strings.unicode_decode_with_offsets(text, "UTF-8")
    row_bytes = tf.cumsum(tf.cast(tf.strings.length(text), tf.int64), exclusive=True)

    def from_batch_start(offsets):
        return offsets.flat_values + tf.gather(row_bytes, offsets.value_rowids())

    char_at = from_batch_start(char_begins)
    word = tf.searchsorted(from_batch_start(word_begins), char_at, side="right", out_type=tf.int64)
    word = tf.where(word > 0, word - 1, no_word_index)
    ends = tf.concat([from_batch_start(word_ends), [-1]], axis=0)
    word = tf.where(tf.gather(ends, word) > char_at, word, no_word_index)
    chars = tf.strings.unicode_split(text, "UTF-8")
    marked = chars.with_flat_values(tf.gather(word_selected, word)).to_tensor(default_value=False)
    marked = tf.transpose(marked, [0, 2, 1])  # [batch, techniques, chars]
    valid = chars.with_flat_values(tf.ones_like(word, tf.bool)).to_tensor(default_value=False)
    valid = valid[:, tf.newaxis, :]

    def per_char(pattern):
        matches = tf.strings.regex_full_match(chars.flat_values, pattern)
        return chars.with_flat_values(matches).to_tensor(default_value=False)[:, tf.newaxis, :]

    content = tf.logical_and(tf.logical_not(per_char(NOT_CONTENT)), valid)
    edge_whitespace = per_char(EDGE_WHITESPACE)

    # Gaps between marked characters holding no content join them: a run of unmarked
    # non-content characters is filled when marked characters touch it on both sides.
    gap = tf.logical_and(tf.logical_and(tf.logical_not(marked), tf.logical_not(content)), valid)
    gap_starts, gap_ids, gap_count = _runs(gap)
    gap_ends = tf.logical_and(gap, tf.logical_not(_shifted(gap, -1)))
    touches = tf.cast(tf.logical_and(gap_starts, _shifted(marked, 1)), tf.int32) + tf.cast(
        tf.logical_and(gap_ends, _shifted(marked, -1)), tf.int32
    )
    sides = tf.math.unsorted_segment_sum(tf.reshape(touches, [-1]), gap_ids, gap_count + 1)
    filled = tf.reshape(tf.equal(tf.gather(sides, gap_ids), 2), tf.shape(gap))
    spanned = tf.logical_or(marked, tf.logical_and(gap, filled))

    # Each run is a span, trimmed to its first and last characters that are not whitespace.
    starts, ids, count = _runs(spanned)
    position = tf.broadcast_to(
        tf.range(tf.shape(spanned, out_type=tf.int64)[2]), tf.shape(spanned, out_type=tf.int64)
    )
    solid = tf.reshape(tf.logical_and(spanned, tf.logical_not(edge_whitespace)), [-1])
    position = tf.reshape(position, [-1])
    first = tf.math.unsorted_segment_min(tf.where(solid, position, _BEYOND), ids, count + 1)
    last = tf.math.unsorted_segment_max(tf.where(solid, position, -1), ids, count + 1)
    first, last = first[:count], last[:count]
    where = tf.where(starts)  # [spans, (row, technique, start)], in run order
    kept = first <= last
    return (
        tf.boolean_mask(where[:, 0], kept),
        tf.boolean_mask(where[:, 1], kept),
        tf.boolean_mask(first, kept),
        tf.boolean_mask(last + 1, kept),
    )


class RawTextSpanTagger(tf.Module):
    """Texts -> character spans of techniques (and token probabilities), all in one graph.

    The outputs are flat: span `i` is `text[span_row[i]][span_start[i]:span_end[i]]`, of
    technique `span_technique[i]`, sorted by (row, start, end, technique) as
    `SpanModel.predict` lists them.
    """

    def __init__(self, predictor: SpanModel):
        super().__init__(name="raw_text_span_tagger")
        backbone = predictor.config["text_backbone"]
        tokenizer = load_text_tokenizer(backbone["name"], text_preset(backbone))
        if not (
            isinstance(tokenizer, keras_hub.models.BertTokenizer)
            and tokenizer.split
            and tokenizer.split_on_cjk
            and not tokenizer.strip_accents
            and not tokenizer.special_tokens_in_strings
        ):
            raise ValueError(
                f"{backbone['name']}: the span export needs a WordPiece backbone that splits "
                "words as BERT does"
            )
        self.tokenizer = tokenizer
        self.sequence_length = backbone["sequence_length"]
        self.packer = keras_hub.layers.StartEndPacker(
            start_value=tokenizer.cls_token_id,
            end_value=tokenizer.sep_token_id,
            pad_value=tokenizer.pad_token_id,
            sequence_length=self.sequence_length,
            return_padding_mask=True,
        )
        text_backbone = None
        if "text_features" in set(predictor.model.input):
            text_backbone = load_text_backbone(backbone["name"], text_preset(backbone))
        self.parts = KerasParts(model=predictor.model, text_backbone=text_backbone)
        self.part_variables = self.parts.variables
        self.threshold = predictor.threshold
        self.techniques = tf.constant(list(predictor.techniques))
        # Spans of one place sort by technique name, as `Span`s do.
        names = list(predictor.techniques)
        self.technique_order = tf.constant([sorted(names).index(name) for name in names], tf.int64)

    def input_checks(self, text) -> list:
        """Assertions failing with the bad rows named: texts that are empty or only whitespace
        (as `str.strip` sees it), and bytes that are not UTF-8."""
        valid = tf.equal(
            tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace"), text
        )
        return [
            assert_no_rows(tf.logical_not(valid), "text that is not UTF-8"),
            assert_no_rows(tf.strings.regex_full_match(text, PYTHON_SPACE + "*"), "empty text"),
        ]

    def token_probabilities(self, token_ids, padding_mask):
        """The tagger's [batch, length, techniques] probabilities of packed token ids."""
        inputs = text_model_inputs(
            set(self.parts.model.input), token_ids, padding_mask, self.parts.get("text_backbone")
        )
        return self.parts.model(inputs, training=False)

    @tf.function(input_signature=SIGNATURE_INPUTS)
    def serve(self, text):
        with tf.control_dependencies(self.input_checks(text)):
            text = tf.identity(text)
        words, word_begins, word_ends = split_words_with_offsets(text)
        ids, piece_words = word_pieces(self.tokenizer, words, self.sequence_length)
        token_ids, padding_mask = self.packer(ids)
        padding_mask = tf.cast(padding_mask, tf.int32)
        # Cut the batch to its longest text, as the exported classifier does.
        longest = tf.maximum(tf.reduce_max(tf.reduce_sum(padding_mask, axis=1)), 2)  # 2: no text
        token_ids, padding_mask = token_ids[:, :longest], padding_mask[:, :longest]
        probabilities = tf.cast(self.token_probabilities(token_ids, padding_mask), tf.float32)
        row, column, start, end = token_probabilities_to_spans_in_graph(
            text, word_begins, word_ends, piece_words, probabilities, self.threshold
        )
        # Stable sorts, the least significant key first.
        order = tf.range(tf.size(row, out_type=tf.int64))
        for key in (tf.gather(self.technique_order, column), end, start, row):
            order = tf.gather(order, tf.argsort(tf.gather(key, order), stable=True))
        return {
            "span_row": tf.cast(tf.gather(row, order), tf.int32),
            "span_start": tf.cast(tf.gather(start, order), tf.int32),
            "span_end": tf.cast(tf.gather(end, order), tf.int32),
            "span_technique": tf.gather(self.techniques, tf.gather(column, order)),
            "token_probabilities": probabilities,
            "techniques": self.techniques,
        }
