"""WordPiece token ids with character offsets, identical to keras-hub's `BertTokenizer`.

Spans are character ranges, the model sees tokens: this encoder keeps, for every token, the
characters of the original text it came from. Its ids must equal those of keras-hub's
`BertTokenizer` (+ `[CLS] ... [SEP]` packing), because the training pipeline uses this encoder
and the exported model tokenizes with keras-hub. A Hugging Face `BertWordPieceTokenizer` does not
quite agree: it strips accents ("CONSPIRÁCY", "HARRİS" in the corpus), lowercases instead of
NFKC case folding, folds before splitting rather than after ("…", "ß", "½"), splits on non-ASCII
spaces and deletes format characters where keras-hub splits on them. So the steps are keras-hub's
own: split into words with its regular expressions, case fold each word, then run WordPiece (the
Rust `tokenizers` model) on the words.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import regex
from tokenizers import Tokenizer, models

# Character classes of keras-hub's `word_piece_tokenizer.py`. Whitespace means RE2's ASCII `\s`
# plus control and format characters: a no-break space stays inside its word there, so it does
# here.
WHITESPACE = r" \t\n\r\f\p{Cc}\p{Cf}"
PUNCTUATION = r"!-/:-@\[-`{-~\p{P}"
CJK = (
    r"\u4E00-\u9FFF\u3400-\u4DBF\U00020000-\U0002A6DF\U0002A700-\U0002B73F"
    r"\U0002B740-\U0002B81F\U0002B820-\U0002CEAF\uF900-\uFAFF\U0002F800-\U0002FA1F"
)
# A word is a run of other characters; punctuation and CJK characters are words of their own.
_WORD = regex.compile(rf"[{PUNCTUATION}{CJK}]|[^{WHITESPACE}{PUNCTUATION}{CJK}]+")
_DEFAULT_IGNORABLE = regex.compile(r"\p{Default_Ignorable_Code_Point}")
# tf_text's FastWordpieceTokenizer maps longer words (in UTF-8 bytes, after folding) to [UNK].
MAX_BYTES_PER_WORD = 100
SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[PAD]", "[UNK]")


def split_words(text: str) -> list[tuple[int, int]]:
    """(start, end) character ranges of the words keras-hub's WordPiece tokenizer sees."""
    return [match.span() for match in _WORD.finditer(text)]


def case_fold(word: str) -> str:
    """Unicode NFKC_Casefold, as `tf_text.case_fold_utf8` (which keras-hub applies per word)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", word).casefold())
    return _DEFAULT_IGNORABLE.sub("", folded)


def strip_accents(word: str) -> str:
    """The word without combining marks (NFD, then category Mn dropped), as Hugging Face's
    BERT-style tokenizers do when they lower-case (MPNet's among them)."""
    return "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")


@dataclass(frozen=True)
class EncodedTexts:
    """A batch of texts as padded WordPiece ids.

    Attributes:
        token_ids: int32 [N, L]: `[CLS]`, word pieces, `[SEP]`, then `[PAD]`.
        padding_mask: int32 [N, L]: 1 for every real token, `[CLS]` and `[SEP]` included.
        offsets: int32 [N, L, 2]: (start, end) character range of each token in the original
            text; (0, 0) for `[CLS]`, `[SEP]` and padding. When case folding changes a word's
            length ("ß" -> "ss"), each of its pieces gets the whole word's range.
        truncated: bool [N]: True where word pieces were cut to fit `L`.
    """

    token_ids: np.ndarray
    padding_mask: np.ndarray
    offsets: np.ndarray
    truncated: np.ndarray


class WordPieceTextEncoder:
    """Encode texts as keras-hub's BERT preprocessing does, keeping character offsets.

    Args:
        vocabulary_path: a BERT `vocab.txt`, one token a line, containing `[CLS]`, `[SEP]`,
            `[PAD]` and `[UNK]`.
        sequence_length: int. Length of the packed sequence, `[CLS]` and `[SEP]` included.
        lowercase: bool. Case fold words, as keras-hub's `BertTokenizer(lowercase=True)`
            (Hugging Face `do_lower_case`). Accents are kept, as in keras-hub.
        special_tokens: the vocabulary's names of the start, end, padding and unknown tokens
            (MPNet's: `("<s>", "</s>", "<pad>", "[UNK]")`).
        accents: bool. False drops combining marks after folding, as Hugging Face's
            tokenizers of MPNet do.

    Examples:
    ```python
    encoder = WordPieceTextEncoder("vocab.txt", sequence_length=8)
    encoded = encoder.encode(["I HATE TRUMP\\n\\nMOST TERRORIST DO"])
    encoded.offsets[0, 1:4]  # [[0, 1], [2, 6], [7, 12]]: "I", "HATE", "TRUMP"
    ```
    """

    def __init__(
        self,
        vocabulary_path: str | Path,
        sequence_length: int,
        lowercase: bool = True,
        special_tokens: tuple[str, str, str, str] = SPECIAL_TOKENS,
        accents: bool = True,
    ):
        if sequence_length < 2:
            raise ValueError(
                f"sequence_length must leave room for [CLS] and [SEP], got {sequence_length}"
            )
        # keras-hub reads the vocabulary with `line.rstrip()`; a later duplicate wins in both.
        lines = Path(vocabulary_path).read_text(encoding="utf-8").splitlines()
        vocabulary = {token.rstrip(): index for index, token in enumerate(lines)}
        missing = [token for token in special_tokens if token not in vocabulary]
        if missing:
            raise ValueError(f"{vocabulary_path} lacks the special tokens {missing}")
        self.vocabulary_path = Path(vocabulary_path)
        self.sequence_length = sequence_length
        self.lowercase = lowercase
        self.accents = accents
        self.cls_id, self.sep_id, self.pad_id, self._unk_id = (
            vocabulary[token] for token in special_tokens
        )
        self._unk_token = special_tokens[3]
        # No normalizer and no pre-tokenizer: words arrive split and folded.
        self._word_piece = Tokenizer(models.WordPiece(vocabulary, unk_token=self._unk_token))

    def _words(self, text: str) -> tuple[list[str], list[tuple[int, int]]]:
        words, spans = [], []
        for start, end in split_words(text):
            word = text[start:end]
            if self.lowercase:
                word = case_fold(word)
            if not self.accents:
                word = strip_accents(word)
            if len(word.encode("utf-8")) > MAX_BYTES_PER_WORD:
                word = self._unk_token  # a vocabulary entry: WordPiece returns its id.
            words.append(word)
            spans.append((start, end))
        return words, spans

    def _pieces(self, texts: Sequence[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """Untruncated (ids, original-text offsets) of each text's word pieces."""
        if isinstance(texts, str):
            raise TypeError("encode a sequence of texts, not a single string")
        split = [self._words(text) for text in texts]
        encodings = self._word_piece.encode_batch(
            [words for words, _ in split], is_pretokenized=True, add_special_tokens=False
        )
        pieces = []
        for (words, spans), encoding in zip(split, encodings, strict=True):
            offsets = []
            for word_index, (start, end) in zip(encoding.word_ids, encoding.offsets, strict=True):
                word_start, word_end = spans[word_index]
                if len(words[word_index]) == word_end - word_start:
                    offsets.append((word_start + start, word_start + end))
                else:  # Folding changed the length: piece offsets no longer map to characters.
                    offsets.append((word_start, word_end))
            pieces.append((encoding.ids, offsets))
        return pieces

    def encode(self, texts: Sequence[str]) -> EncodedTexts:
        """Encode `texts` as `[CLS] pieces [SEP] [PAD]...`, cutting pieces to fit."""
        length = self.sequence_length
        token_ids = np.full((len(texts), length), self.pad_id, dtype=np.int32)
        padding_mask = np.zeros((len(texts), length), dtype=np.int32)
        offsets = np.zeros((len(texts), length, 2), dtype=np.int32)
        truncated = np.zeros(len(texts), dtype=bool)
        for row, (ids, piece_offsets) in enumerate(self._pieces(texts)):
            kept = min(len(ids), length - 2)
            truncated[row] = kept < len(ids)
            token_ids[row, : kept + 2] = [self.cls_id, *ids[:kept], self.sep_id]
            padding_mask[row, : kept + 2] = 1
            if kept:
                offsets[row, 1 : kept + 1] = piece_offsets[:kept]
        return EncodedTexts(token_ids, padding_mask, offsets, truncated)

    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        """Untruncated number of tokens of each text, `[CLS]` and `[SEP]` included."""
        return np.array([len(ids) + 2 for ids, _ in self._pieces(texts)], dtype=np.int64)


def sequence_length_covering(token_counts: Sequence[int], fraction: float = 1.0) -> int:
    """Smallest sequence length that leaves at least `fraction` of the texts untruncated."""
    counts = np.sort(np.asarray(token_counts))
    if counts.size == 0:
        raise ValueError("no token counts")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    needed = int(np.ceil(fraction * counts.size))
    return int(counts[needed - 1])
