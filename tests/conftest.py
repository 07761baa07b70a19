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
SHARED_RUN_FILES = (
    "test_classifier_run.py",
    "test_tasks.py",
    "test_text_only_memes.py",
    "test_span_export.py",
)
# The files whose fixtures train or export tiny runs, longest first (about 420 s for the shared
# runs' files, 30-130 s each of the others, on 2 AVX2 cores): xdist hands out files in this order,
# so that no long file starts last while the other worker idles.
LONGEST_FIRST = (
    *SHARED_RUN_FILES,
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
    """One tiny subtask-3 run a test process, trained through the public `mk.train`: fold models
    with frozen companions, also trained on text-only copies of its memes (so it reads a meme
    without an image); (config, run folder, metrics). Tests only read it."""
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
            "text_only_fraction": 0.5,
        }
    )
    output = tmp_path_factory.mktemp("runs") / "tiny"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEME_KERAS_CACHE", str(feature_cache))
        metrics = mk.train(config, output, verbose=0)
    return config, output, metrics


@pytest.fixture(scope="session")
def tiny_techniques_export(tiny_techniques_run, tmp_path_factory):
    """The session's tiny subtask-3 run exported through the CLI: a SavedModel folder."""
    from meme_keras.cli import main as cli

    exported = tmp_path_factory.mktemp("export") / "saved_model"
    assert cli(["export", "--run", str(tiny_techniques_run[1]), "--output", str(exported)]) == 0
    return exported


@pytest.fixture(scope="session")
def tiny_techniques_served(tiny_corpus, tiny_techniques_export):
    """What the exported tiny subtask-3 run, loaded in a fresh process without meme_keras,
    answers for the tiny test memes: with their images (`outputs`), with empty image bytes
    (`no_image`), and the error message of each bad batch in `refusals`."""
    import json
    import subprocess
    import sys
    import textwrap

    from meme_keras.data.corpus import load_split

    memes = load_split("test", 3, tiny_corpus)
    script = textwrap.dedent(
        f"""
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # registers the tokenizer ops
        memes = json.loads(sys.argv[1])
        serve = tf.saved_model.load({str(tiny_techniques_export)!r}).signatures["serving_default"]
        images = [open(m["image"], "rb").read() for m in memes]
        texts = tf.constant([m["text"] for m in memes])
        def answer(outputs):
            return {{k: v.numpy().tolist() for k, v in outputs.items() if k != "labels"}}
        served = {{
            "outputs": answer(serve(image_bytes=tf.constant(images), text=texts)),
            "no_image": answer(serve(image_bytes=tf.constant([b""] * len(memes)), text=texts)),
            "refusals": {{}},
        }}
        bad_batches = {{
            "sizes": ([b"", b""], ["a", "b", "c"]),
            "not_an_image": ([images[0], b"garbage"], ["a", "b"]),
            "empty_text": ([images[0]] * 3, [" ", "b", ""]),
        }}
        for name, (image_bytes, text) in bad_batches.items():
            try:
                serve(image_bytes=tf.constant(image_bytes), text=tf.constant(text))
            except tf.errors.InvalidArgumentError as error:
                served["refusals"][name] = error.message
        assert "meme_keras" not in sys.modules
        print(json.dumps(served))
        """
    )
    payload = json.dumps([{"image": str(m.image_path), "text": m.text} for m in memes])
    result = subprocess.run(
        [sys.executable, "-c", script, payload], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def tiny_needs_images_run(tiny_techniques_run, tmp_path_factory):
    """A copy of the session's tiny subtask-3 run that says it never trained on memes without an
    image (its config's `text_only_fraction` set to 0): a run that needs an image for each."""
    import shutil

    import yaml

    run = tmp_path_factory.mktemp("runs") / "needs_images"
    shutil.copytree(tiny_techniques_run[1], run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["text_only_fraction"] = 0.0
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    return run


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
