"""Image features cached ahead of a run (`make reproduce` does it while the text backbone adapts)
are all the image features the run then reads."""

from __future__ import annotations

import pytest
from fine_tuning_runs import tiny_config

from meme_keras.backbones import features
from meme_keras.data.techniques import read_techniques
from meme_keras.training.classifier_run import cache_image_features, run_feature_sets

SIZE = 96  # a size of its own: the images are extracted here, not read from another test's run
STAGES = [
    {"name": "frozen", "train": [], "epochs": 1, "learning_rate": 1e-3},
    {"name": "image_top", "train": ["image_top"], "epochs": 1, "learning_rate": 1e-4},
]


def test_a_run_reads_no_image_feature_that_was_not_cached_ahead(
    tiny_corpus, feature_cache, monkeypatch
):
    # The test process's cache (its text features may be there already); no other test
    # extracts images at this size.
    monkeypatch.setenv("MEME_KERAS_CACHE", str(feature_cache))
    pattern = f"image-*-{SIZE}-*"
    config = tiny_config(
        tiny_corpus, stages=STAGES, text_only_fraction=0.5, image_backbone={"image_size": SIZE}
    )
    cache_image_features(config)
    ahead = sorted(path.name for path in feature_cache.glob(pattern))
    # pooled and cut activations of the 2021 memes, and the black image of the text-only copies
    assert any("blocks" in name for name in ahead) and len(ahead) >= 4

    def extracting(*args, **kwargs):
        pytest.fail("the run extracted an image feature that was not cached ahead")

    monkeypatch.setattr(features, "image_dataset", extracting)
    sets = run_feature_sets(config, read_techniques(tiny_corpus))
    assert set(sets) == {"train", "dev", "test", "text_only"}
    assert sets["train"].image_cut_features is not None
    assert sorted(path.name for path in feature_cache.glob(pattern)) == ahead
