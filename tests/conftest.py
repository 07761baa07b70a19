"""Shared fixtures (a tiny copy of the real corpus, tiny runs that several files read), quiet TF,
and the order in which the xdist workers take the test files."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import io  # noqa: E402
from pathlib import PurePath  # noqa: E402

import pytest  # noqa: E402

from meme_keras.data.corpus_subset import copy_corpus_subset  # noqa: E402

TINY_SIZES = {"train": 10, "dev": 5, "test": 5}
# Test files that read the same session-scoped tiny runs: one unit for xdist's `--dist loadfile`,
# so that one worker trains those runs once for all of them.
SHARED_RUN_FILES = ("test_classifier_run.py", "test_tasks.py", "test_span_export.py")
# The files whose fixtures train or export tiny runs, longest first (about 470 s for the shared
# runs' files, 30-130 s each of the others, on 2 AVX2 cores): xdist hands out files in this order,
# so that no long file starts last while the other worker idles.
LONGEST_FIRST = (
    *SHARED_RUN_FILES,
    "test_text_only_memes.py",
    "test_span_text_top.py",
    "test_refit.py",
    "test_traced_models.py",
    "test_resume.py",
    "test_reproducibility.py",
    "test_backbones.py",
    "test_text_adaptation.py",
)


def pytest_collection_modifyitems(items):
    """The files of LONGEST_FIRST first, in that order; the others after them, as collected."""
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.hookimpl(optionalhook=True)  # a hook of xdist's: pytest without xdist runs too
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` in the collection's order (not by test count), with the files of
    SHARED_RUN_FILES sent to one worker together. (xdist's own `xdist_group` marks are lost
    under pytest 9, which ignores the test ids xdist rewrites: hence a scheduler.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedRunsTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::", 1)[0]
            return "shared tiny runs" if PurePath(file).name in SHARED_RUN_FILES else file

    config.option.loadscopereorder = False
    return SharedRunsTogether(config, log)


@pytest.fixture(scope="session", autouse=True)
def grappler_off():
    """Grappler's graph rewrites off in the processes that run tests: on the tiny models here
    they take longer than they save (a test file training a tiny run: 61 s against 81 s). The
    tests that load a SavedModel in a fresh process run with them on, as users do."""
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


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
def tiny_techniques_run(tiny_corpus, tmp_path_factory, feature_cache):
    """One tiny subtask-3 run (fold models with frozen companions) a test process, trained
    through the public `mk.train`; (config, run folder, metrics). Tests only read it."""
    from fine_tuning_runs import TINY_MODEL

    import meme_keras as mk
    from meme_keras.config import make_config

    config = make_config(
        {
            "task": "techniques",
            "name": "tiny",
            "data_dir": str(tiny_corpus),
            "model": TINY_MODEL,
            "text_backbone": {"sequence_length": 32},
            "stages": [{"name": "frozen", "train": [], "epochs": 2, "learning_rate": 1e-3}],
            "frozen_companion": {"epochs": 1, "learning_rate": 1e-3},
            "thresholds": {"folds": 2},
        }
    )
    output = tmp_path_factory.mktemp("runs") / "tiny"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEME_KERAS_CACHE", str(feature_cache))
        metrics = mk.train(config, output, verbose=0)
    return config, output, metrics


@pytest.fixture(scope="session")
def tiny_spans_run(tiny_corpus, tmp_path_factory, feature_cache):
    """One tiny spans run a test process, trained through `mk.train`; (run folder, metrics).
    Tests only read it."""
    from fine_tuning_runs import TINY_SPANS

    import meme_keras as mk

    output = tmp_path_factory.mktemp("runs") / "spans"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEME_KERAS_CACHE", str(feature_cache))
        metrics = mk.train({**TINY_SPANS, "data_dir": str(tiny_corpus)}, output, verbose=0)
    return output, metrics


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
