"""Shared fixtures: a tiny copy of the real corpus (a few memes per split) and quiet TF."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import io  # noqa: E402

import pytest  # noqa: E402

from meme_keras.data.corpus_subset import copy_corpus_subset  # noqa: E402

TINY_SIZES = {"train": 10, "dev": 5, "test": 5}


@pytest.fixture(scope="module")
def monkeypatch_module():
    """`monkeypatch` for module-scoped fixtures (a tiny run trained once per test module)."""
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory):
    """One feature cache for the tiny runs of a test process: keyed by its inputs, so the tiny
    corpus's features are extracted once, not once a module."""
    return tmp_path_factory.mktemp("feature_cache")


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    return copy_corpus_subset(tmp_path_factory.mktemp("tiny_corpus"), TINY_SIZES)


@pytest.fixture(scope="session")
def tiny_albert_preset(tmp_path_factory):
    """A local keras-hub ALBERT preset: a tiny SentencePiece model and a tiny backbone."""
    import keras_hub
    import sentencepiece

    corpus = ["I HATE TRUMP most terrorist do", "there are only two genders", "a cat and a kitten"]
    proto = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus * 20),
        model_writer=proto,
        vocab_size=20,
        model_type="WORD",
        pad_id=0,
        unk_id=1,
        bos_id=2,
        eos_id=3,
        pad_piece="<pad>",
        bos_piece="[CLS]",
        eos_piece="[SEP]",
        user_defined_symbols="[MASK]",
    )
    tokenizer = keras_hub.models.AlbertTokenizer(proto=proto.getvalue())
    backbone = keras_hub.models.AlbertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=2,
        num_heads=2,
        embedding_dim=8,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=32,
    )
    preset = tmp_path_factory.mktemp("albert_preset")
    backbone.save_to_preset(str(preset))
    tokenizer.save_to_preset(str(preset))
    return preset
