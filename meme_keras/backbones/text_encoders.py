"""The offset-keeping text encoder that matches each text backbone's own tokenizer."""

from __future__ import annotations

from pathlib import Path

from meme_keras.backbones.text_backbones import (
    load_text_tokenizer,
    resolve_text_preset,
    text_backbone_spec,
)


def make_text_encoder(name: str, sequence_length: int, preset: str | None = None):
    """A WordPiece or SentencePiece encoder giving ids, padding mask and character offsets."""
    spec = text_backbone_spec(name)
    if spec.tokenizer == "wordpiece":
        from meme_keras.data.text_encoding import WordPieceTextEncoder

        folder = Path(resolve_text_preset(name, preset))
        vocabulary = folder / "vocab.txt"
        if not vocabulary.exists():  # a keras-hub preset keeps it under assets/
            vocabulary = folder / "assets" / "tokenizer" / "vocabulary.txt"
        return WordPieceTextEncoder(
            vocabulary,
            sequence_length,
            lowercase=spec.lowercase,
            special_tokens=spec.special_tokens,
            accents=spec.accents,
        )
    from meme_keras.data.sentencepiece_encoding import SentencePieceTextEncoder

    tokenizer = load_text_tokenizer(name, preset)
    return SentencePieceTextEncoder(tokenizer.proto, sequence_length, lowercase=spec.lowercase)
