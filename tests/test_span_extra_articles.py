"""PTC sentences in span training: unknown techniques left out of the loss, and the sentences
in every fold's training part, never in a validation part."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from meme_keras.config import config_from_dict
from meme_keras.data.meme import Meme, Span
from meme_keras.data.ptc import RESOLUTION_COLUMNS, UNANNOTATED_TECHNIQUES
from meme_keras.data.techniques import read_techniques
from meme_keras.losses import UNKNOWN_LABEL, SmoothedBinaryCrossentropy, SmoothedFocalLoss
from meme_keras.pipeline.token_tags import TokenTagData
from meme_keras.training import span_training
from meme_keras.training.span_run import ptc_training_sentences

ARTICLES = {
    "train": {
        "1": "Title one\n\nThey are TRAITORS.\nA calm line.\nAnother calm line.\n",
        "2": "Title two\n\nWake up, sheep!\nNothing here.\n",
    },
    "dev": {"3": "Title three\n\nMake America great again.\nPlain words.\n"},
}
LABELS = {
    "train": ["1\tName_Calling,Labeling\t20\t28", "2\tSlogans\t11\t25"],
    "dev": ["3\tSlogans\t13\t37"],
}


@pytest.mark.parametrize(
    "loss", [SmoothedBinaryCrossentropy(0.1), SmoothedFocalLoss(1.2, 2.0, 0.1)]
)
def test_unknown_targets_add_nothing_to_the_loss_or_its_gradient(loss):
    y_true = np.array([[1.0, 0.0, UNKNOWN_LABEL, UNKNOWN_LABEL]], np.float32)
    known_only = np.array([[1.0, 0.0]], np.float32)
    y_pred = tf.Variable([[0.7, 0.2, 0.9, 0.1]])
    with tf.GradientTape() as tape:
        value = loss(y_true, y_pred)
    gradient = tape.gradient(value, y_pred).numpy()
    assert np.all(gradient[0, 2:] == 0) and np.all(gradient[0, :2] != 0)
    # The unknown columns still count in the average over techniques.
    expected = loss(known_only, y_pred[:, :2]) * 2 / 4
    np.testing.assert_allclose(value.numpy(), expected.numpy(), rtol=1e-6)


def write_ptc(folder):
    for split, articles in ARTICLES.items():
        (folder / f"{split}-articles").mkdir(parents=True)
        for article, text in articles.items():
            (folder / f"{split}-articles" / f"article{article}.txt").write_text(text)
        (folder / f"{split}-task-flc-tc.labels").write_text("\n".join(LABELS[split]) + "\n")
    header = "\t".join([*RESOLUTION_COLUMNS, "method"])
    (folder / "merged_class_resolution.tsv").write_text(header + "\n")
    return folder


def test_ptc_sentences_carry_their_tags_and_unknown_techniques(tmp_path, monkeypatch):
    monkeypatch.setenv("MEME_KERAS_DATA_PTC", str(write_ptc(tmp_path / "ptc")))
    monkeypatch.setenv("MEME_KERAS_CACHE", str(tmp_path / "cache"))
    techniques = read_techniques_2021()
    config = config_from_dict(
        {"task": "spans", "extra_articles": ["ptc"], "extra_negative_ratio": 1.0}
    )
    data = ptc_training_sentences(techniques, config)
    tagged = [m for m in data.memes if m.spans]
    assert {m.id for m in tagged} == {"1:3", "2:3", "3:3"}
    assert len(data) == 6  # three with spans, three of the span-free lines
    unknown = [techniques.index(t) for t in UNANNOTATED_TECHNIQUES]
    assert np.all(data.tags[:, :, unknown] == UNKNOWN_LABEL)
    known = np.delete(data.tags, unknown, axis=2)
    assert set(np.unique(known)) <= {0.0, 1.0}
    row = next(i for i, m in enumerate(data.memes) if m.id == "1:3")
    name_calling = techniques.index("Name calling/Labeling")
    assert data.tags[row, :, name_calling].sum() >= 1


def read_techniques_2021():
    from meme_keras.data.corpus import default_data_dir

    return list(read_techniques(default_data_dir(), "text"))


def tag_data(ids: list[str]) -> TokenTagData:
    count = len(ids)
    return TokenTagData(
        [Meme(i, "x", spans=(Span(0, 1, "Doubt"),)) for i in ids],
        np.zeros((count, 4, 2), np.float32),
        np.zeros((count, 4), np.int32),
        np.ones((count, 4), np.int32),
        np.zeros((count, 4, 2), np.int32),
        np.zeros((count, 4, 3), np.float32),
        np.ones((count, 4), np.float32),
    )


def test_extra_sentences_join_every_training_part_and_no_validation_part(monkeypatch):
    seen = []

    def fake_fit(train, configs, num_techniques, log_dir=None, names=None):
        seen.append([m.id for m in train.memes])
        return [lambda inputs: None for _ in configs]

    monkeypatch.setattr(span_training, "fit_span_taggers", fake_fit)
    monkeypatch.setattr(
        span_training,
        "predict_tag_probabilities",
        lambda head, inputs: np.zeros((len(inputs["padding_mask"]), 4, 3), np.float32),
    )
    pool = tag_data([f"m{i}" for i in range(10)])
    extra = tag_data(["ptc:1", "ptc:2"])
    span_training.cross_validate_span_taggers(pool, [{}], 3, folds=5, seed=0, extra=extra)
    assert len(seen) == 5
    for train in seen:
        assert train[-2:] == ["ptc:1", "ptc:2"] and len(train) == 8 + 2
    held_out = [set(f"m{i}" for i in range(10)) - set(train) for train in seen]
    assert set().union(*held_out) == {f"m{i}" for i in range(10)}
