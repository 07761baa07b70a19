"""Extra memes join every fold's training part and never a validation part."""

from __future__ import annotations

import numpy as np
import pytest

from meme_keras.config import ConfigError, config_from_dict
from meme_keras.data.meme import Meme
from meme_keras.pipeline.feature_sets import FeatureSet
from meme_keras.training import cross_validation


def feature_set(ids: list[str], length: int) -> FeatureSet:
    count = len(ids)
    return FeatureSet(
        [Meme(i, f"text {i}") for i in ids],
        np.zeros((count, length, 4), np.float32),
        np.ones((count, length), bool),
        np.zeros((count, 1, 1), np.float32),
        np.zeros((count, 3), np.float32),
    )


def test_every_fold_trains_on_the_extra_memes_and_validates_without_them(monkeypatch):
    seen = []

    def fake_train_stages(train, validation, *args, **kwargs):
        seen.append(([m.id for m in train.memes], [m.id for m in validation.memes]))
        return None

    monkeypatch.setattr(cross_validation, "train_stages", fake_train_stages)
    monkeypatch.setattr(
        cross_validation, "predict_probabilities", lambda model, s, c: np.zeros((len(s), 3))
    )
    pool = feature_set([f"p{i}" for i in range(10)], length=3)
    extra = feature_set(["x0", "x1", "x2"], length=5)  # longer texts: the sets are padded
    config = config_from_dict({"task": "text_techniques"})
    cross_validation.cross_validate(pool, config, 3, folds=5, extra=extra)
    assert len(seen) == 5
    validated = []
    for train, validation in seen:
        assert {"x0", "x1", "x2"} <= set(train)
        assert not {"x0", "x1", "x2"} & set(validation)
        assert len(train) == 8 + 3
        validated += validation
    assert sorted(validated) == sorted(m.id for m in pool.memes)  # each pool meme once


def test_extra_memes_and_text_only_copies_are_checked():
    text = {"task": "text_techniques", "extra_memes": ["semeval2024"]}
    assert config_from_dict(text)["extra_memes"] == ["semeval2024"]
    multimodal = config_from_dict({**text, "task": "techniques"})
    assert multimodal.accepts_text_only  # the extra memes are text only
    assert not config_from_dict({"task": "techniques"}).accepts_text_only
    with pytest.raises(ConfigError, match="extra_memes"):
        config_from_dict({**text, "extra_memes": ["semeval2025"]})
    with pytest.raises(ConfigError, match="text_only_fraction: a text-only run"):
        config_from_dict({"task": "text_techniques", "text_only_fraction": 0.5})
    with pytest.raises(ConfigError, match=r"text_only_fraction: must be in \[0, 1\]"):
        config_from_dict({"task": "techniques", "text_only_fraction": 1.5})


def test_text_only_copies_come_from_each_folds_training_part(monkeypatch):
    seen = []

    def fake_train_stages(train, validation, *args, **kwargs):
        seen.append(([m.id for m in train.memes], [m.id for m in validation.memes]))

    monkeypatch.setattr(cross_validation, "train_stages", fake_train_stages)
    monkeypatch.setattr(
        cross_validation, "predict_probabilities", lambda model, s, c: np.zeros((len(s), 3))
    )
    pool = feature_set([f"p{i}" for i in range(10)], length=3)
    copies = feature_set([f"p{i}" for i in range(10)], length=3)  # the pool without images
    config = config_from_dict({"task": "techniques", "text_only_fraction": 0.5})
    cross_validation.cross_validate(pool, config, 3, folds=5, text_only=copies)
    for train, validation in seen:
        assert len(train) == 8 + 4
        assert set(train[8:]) <= set(train[:8])  # copies of this fold's training memes
        assert not set(train) & set(validation)


def test_one_training_part_for_dev_tuning_copies_only_train_rows():
    train = feature_set([f"t{i}" for i in range(6)], length=3)
    text_only = feature_set([f"t{i}" for i in range(6)] + ["d0", "d1"], length=3)  # train, dev
    extra = feature_set(["x0"], length=4)
    config = config_from_dict({"task": "techniques", "text_only_fraction": 0.5})
    part = cross_validation.training_part(train, np.arange(6), config, 0, extra, text_only)
    ids = [m.id for m in part.memes]
    assert ids[:6] == [f"t{i}" for i in range(6)] and ids[-1] == "x0"
    assert len(ids) == 6 + 3 + 1 and set(ids[6:9]) <= set(ids[:6])
    assert part.padding_mask.shape[1] == 4  # padded to the longest part
    assert cross_validation.training_part(train, np.arange(6), config, 0) is train
