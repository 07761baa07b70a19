"""Memes without an image in a multimodal run: shown a black image, learned as "no image" by a
run that trained on text-only copies, and predicted through the API, the CLI and the
SavedModel alike."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from experiment_scripts import load_experiment_script

import meme_keras as mk
from meme_keras.backbones.features import image_features
from meme_keras.cli import main as cli
from meme_keras.data.corpus import load_split
from meme_keras.data.image_pipeline import decode_and_resize
from meme_keras.data.meme import Meme
from meme_keras.export.saved_model import RawMemeClassifier


@pytest.fixture(scope="module")
def text_only_run(tiny_techniques_run, monkeypatch_module, feature_cache):
    """The session's tiny subtask-3 run, which trained on text-only copies of its memes
    (`text_only_fraction`; tests/conftest.py)."""
    monkeypatch_module.setenv("MEME_KERAS_CACHE", str(feature_cache))
    return tiny_techniques_run[1]


def test_no_image_is_a_black_image_computed_once(tiny_corpus):
    assert np.all(decode_and_resize(tf.constant(b""), 32).numpy() == 0)
    memes = load_split("test", 3, tiny_corpus)[:2]
    mixed = [memes[0], Meme("t", "text only"), memes[1], Meme("u", "another")]
    features = image_features(mixed, cache_dir=None)
    real = image_features(memes, cache_dir=None)
    black = image_features([Meme("b", "black")], cache_dir=None)
    np.testing.assert_allclose(features[[0, 2]], real, atol=1e-4)
    np.testing.assert_allclose(features[[1, 3]], np.concatenate([black, black]), atol=1e-4)
    assert not np.allclose(black[0], real[0])


def test_text_only_copies_hold_the_black_images_features_once():
    from meme_keras.training.classifier_run import first_row_repeated

    grid = np.repeat(np.arange(6, dtype=np.float32).reshape(1, 2, 3), 4, axis=0)
    repeated = first_row_repeated(grid)
    np.testing.assert_array_equal(repeated, grid)
    assert repeated.strides[0] == 0 and not repeated.flags.writeable
    assert not np.shares_memory(repeated, grid)  # the rows it came from can be freed
    assert first_row_repeated(None) is None
    part = np.concatenate([repeated[[0, 2]], grid[:1]])  # what a fold's training part does
    np.testing.assert_array_equal(part, grid[:3])


def test_a_run_trained_on_text_only_copies_predicts_without_images(text_only_run, tiny_corpus):
    model = mk.load(text_only_run)
    assert model.reads_images and not model.needs_images
    memes = load_split("test", 3, tiny_corpus)[:2]
    texts = [m.text for m in memes]
    with_images = model.predict(texts=texts, images=[m.image_path for m in memes])
    without = model.predict(texts=texts, images=[None, None])
    mixed = model.predict(texts=texts, images=[memes[0].image_path, None])
    assert mixed[0]["probabilities"] == pytest.approx(with_images[0]["probabilities"], abs=1e-5)
    assert mixed[1]["probabilities"] == pytest.approx(without[1]["probabilities"], abs=1e-5)
    assert without[0]["probabilities"] != pytest.approx(with_images[0]["probabilities"], abs=1e-4)


def test_cli_and_savedmodel_take_memes_without_an_image(
    text_only_run, tiny_corpus, tiny_techniques_served, tmp_path, monkeypatch
):
    monkeypatch.setenv("MEME_KERAS_DATA", str(tmp_path / "no_corpus_here"))
    meme = load_split("test", 3, tiny_corpus)[0]
    records = [
        {"id": "with", "text": meme.text, "image": str(meme.image_path)},
        {"id": "without", "text": meme.text},
    ]
    source = tmp_path / "memes.json"
    source.write_text(json.dumps(records))
    output = tmp_path / "predictions.json"
    run = str(text_only_run)
    assert cli(["predict", "--run", run, "--input", str(source), "--output", str(output)]) == 0
    predicted = {p["id"]: list(p["probabilities"].values()) for p in json.loads(output.read_text())}
    # The SavedModel, in a fresh process: the first test meme with its image, and with empty
    # image_bytes ("no image").
    with_image = tiny_techniques_served["outputs"]["probabilities"][0]
    without = tiny_techniques_served["no_image"]["probabilities"][0]
    np.testing.assert_allclose(with_image, predicted["with"], atol=1e-4)
    np.testing.assert_allclose(without, predicted["without"], atol=1e-4)
    assert not np.allclose(with_image, without, atol=1e-4)


def test_a_run_that_never_saw_text_only_memes_refuses_them(tiny_needs_images_run, tiny_corpus):
    model = mk.load(tiny_needs_images_run)
    assert model.needs_images
    with pytest.raises(ValueError, match=r"row 0 \(id '0'\): this model needs an image"):
        model.predict(texts=["a"], images=[None])
    # Its SavedModel runs these checks before anything else and takes `needs_images` from the
    # loaded run (a second export here would take half a minute or more; the shared run's export
    # shows the checks at work in a fresh process: test_classifier_run).
    image = load_split("test", 3, tiny_corpus)[0].image_path.read_bytes()
    exported_as = SimpleNamespace(text_only=False, needs_images=model.needs_images)
    images, texts = tf.constant([image, b""]), tf.constant(["a", "b"])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"needs an image.*at rows.\n1"):
        RawMemeClassifier.input_checks(exported_as, images, texts)


def test_scores_with_and_without_images_script(text_only_run, tiny_corpus):
    module = load_experiment_script("without_images")
    memes = load_split("test", 3, tiny_corpus)
    scores = module.scores_with_and_without_images(text_only_run, memes)
    test = json.loads((text_only_run / "metrics.json").read_text())["test"]
    assert scores["with_images"]["micro_f1"] == pytest.approx(test["micro_f1"])
    assert scores["with_images"]["macro_f1"] == pytest.approx(test["macro_f1"])
    assert set(scores["without_images"]) >= {"micro_f1", "macro_f1"}
