"""Shared fixtures: a tiny copy of the real corpus (a few memes per split) and quiet TF."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from meme_keras.data.corpus_subset import copy_corpus_subset  # noqa: E402

TINY_SIZES = {"train": 10, "dev": 5, "test": 5}


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    return copy_corpus_subset(tmp_path_factory.mktemp("tiny_corpus"), TINY_SIZES)
