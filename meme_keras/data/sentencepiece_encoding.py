"""SentencePiece (ALBERT) tokenization with character offsets, for span alignment.

keras-hub's tokenizers return no offsets; tensorflow_text's SentencepieceTokenizer does (in
bytes), from the same model proto, so ids match the keras-hub AlbertTokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from meme_keras.data.text_encoding import EncodedTexts


def _byte_to_char_index(text: str) -> np.ndarray:
    """index[b] = the character index of UTF-8 byte b (and len(text) at the end)."""
    lengths = [len(character.encode("utf-8")) for character in text]
    index = np.repeat(np.arange(len(text)), lengths)
    return np.append(index, len(text)).astype(np.int32)


class SentencePieceTextEncoder:
    """`[CLS] pieces [SEP] <pad>...` ids, masks and character offsets from a SentencePiece proto."""

    def __init__(
        self,
        proto: bytes,
        sequence_length: int,
        lowercase: bool = True,
        start_token: str = "[CLS]",
        end_token: str = "[SEP]",
        pad_token: str = "<pad>",
    ):
        self.sequence_length = sequence_length
        self.lowercase = lowercase
        self._tokenizer = tf_text.SentencepieceTokenizer(model=proto, out_type=tf.int32)
        ids = self._tokenizer.string_to_id([start_token, end_token, pad_token]).numpy()
        self.start_id, self.end_id, self.pad_id = (int(i) for i in ids)

    def encode(self, texts: Sequence[str]) -> EncodedTexts:
        # keras-hub's AlbertTokenizer lowercases nothing itself; ALBERT's own spm model is
        # trained on lowercased text, so lowercasing here mirrors its preprocessor.
        inputs = [text.lower() if self.lowercase else text for text in texts]
        pieces, starts, ends = self._tokenizer.tokenize_with_offsets(tf.constant(inputs))
        length = self.sequence_length
        token_ids = np.full((len(texts), length), self.pad_id, np.int32)
        padding_mask = np.zeros((len(texts), length), np.int32)
        offsets = np.zeros((len(texts), length, 2), np.int32)
        truncated = np.zeros(len(texts), bool)
        for row, text in enumerate(inputs):
            ids = pieces[row].numpy()
            to_char = _byte_to_char_index(text)
            keep = min(len(ids), length - 2)
            truncated[row] = keep < len(ids)
            token_ids[row, : keep + 2] = [self.start_id, *ids[:keep], self.end_id]
            padding_mask[row, : keep + 2] = 1
            offsets[row, 1 : keep + 1, 0] = to_char[starts[row].numpy()[:keep]]
            offsets[row, 1 : keep + 1, 1] = to_char[ends[row].numpy()[:keep]]
        return EncodedTexts(token_ids, padding_mask, offsets, truncated)
