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


def test_extra_memes_need_a_text_only_run():
    text = {"task": "text_techniques", "extra_memes": ["semeval2024"]}
    assert config_from_dict(text)["extra_memes"] == ["semeval2024"]
    with pytest.raises(ConfigError, match="extra_memes: the extra memes have no images"):
        config_from_dict({**text, "task": "techniques"})
    with pytest.raises(ConfigError, match="extra_memes"):
        config_from_dict({**text, "extra_memes": ["semeval2025"]})
