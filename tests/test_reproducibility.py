"""The same seed gives the same run (identical scores and probabilities), another seed a
different one, and every run folder records what it was computed from."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from meme_keras.config import make_config
from meme_keras.data.corpus import SPLIT_FILES
from meme_keras.training.classifier_run import run_classifier

# The concatenation baseline (with dropout) keeps three runs fast: the fusion head's graph
# takes far longer to trace on a small CPU. The fusion head is as deterministic (checked with
# TINY_MODEL of test_classifier_run.py: identical probabilities too), see the README.
MODEL = {"type": "baseline_concat", "dropout": 0.3}


def tiny_config(tiny_corpus, seed):
    return make_config(
        {
            "name": "tiny_seeded",
            "seed": seed,
            "data_dir": str(tiny_corpus),
            "model": MODEL,
            "text_backbone": {"sequence_length": 32},
            "batch_size": 4,
            "stages": [{"name": "frozen", "train": [], "epochs": 3, "learning_rate": 1e-3}],
            "thresholds": {"tune_on": "dev"},
        }
    )


@pytest.fixture(scope="module")
def runs(tiny_corpus, tmp_path_factory, feature_cache):
    """Two runs with seed 7 and one with seed 8, in this process, one after the other (on the
    process's feature cache: features are keyed by their inputs)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEME_KERAS_CACHE", str(feature_cache))
        folders = {}
        for name, seed in (("first", 7), ("again", 7), ("other_seed", 8)):
            folders[name] = tmp_path_factory.mktemp("runs") / name
            run_classifier(tiny_config(tiny_corpus, seed), folders[name])
        yield folders


def read_json(path: Path):
    return json.loads(path.read_text())


def test_the_same_seed_gives_identical_results(runs):
    first, again = runs["first"], runs["again"]
    # Bit-identical, not close: seeded Python/NumPy/Keras generators, TensorFlow's
    # deterministic ops, and a shuffle that depends only on (seed, epoch).
    assert np.array_equal(
        np.load(first / "probabilities_test.npy"), np.load(again / "probabilities_test.npy")
    )
    assert np.array_equal(
        np.load(first / "probabilities_tuning.npy"), np.load(again / "probabilities_tuning.npy")
    )
    first_metrics, again_metrics = (
        read_json(first / "metrics.json"),
        read_json(again / "metrics.json"),
    )
    assert first_metrics["test"] == again_metrics["test"]
    assert first_metrics["thresholds"] == again_metrics["thresholds"]
    for name in ("predictions_test.json", "thresholds.json"):
        assert read_json(first / name) == read_json(again / name)


def test_another_seed_gives_other_probabilities(runs):
    first = np.load(runs["first"] / "probabilities_test.npy")
    other = np.load(runs["other_seed"] / "probabilities_test.npy")
    assert first.shape == other.shape
    assert not np.allclose(first, other, atol=1e-4)


def test_the_run_folder_records_what_it_was_computed_from(runs, tiny_corpus):
    repository = Path(__file__).resolve().parents[1]
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repository, capture_output=True, text=True, check=True
    ).stdout.strip()
    for name, seed in (("first", 7), ("other_seed", 8)):
        provenance = read_json(runs[name] / "provenance.json")
        config = tiny_config(tiny_corpus, seed)
        assert provenance["config"] == json.loads(json.dumps(config.to_dict()))
        packages = provenance["packages"]
        assert packages["tensorflow"] == tf.__version__
        assert packages["keras"] == keras.__version__
        assert packages["numpy"] == np.__version__
        assert packages["python"] and packages["meme-keras"]
        assert provenance["git_commit"] in (head, f"{head}-dirty")
        expected = {
            str(tiny_corpus / SPLIT_FILES[(3, split)]): hashlib.sha256(
                (tiny_corpus / SPLIT_FILES[(3, split)]).read_bytes()
            ).hexdigest()
            for split in ("train", "dev", "test")
        }
        assert provenance["data_sha256"] == expected
        assert provenance["machine"]["platform"]
        # The config beside it is the same config.
        assert yaml.safe_load((runs[name] / "config.yaml").read_text()) == provenance["config"]
