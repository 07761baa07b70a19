"""Training datasets must not keep their features, or the fit's clock and model, alive.

tf.data never frees the generator of `Dataset.from_generator` (tensorflow/tensorflow#57690):
whatever a generator refers to stays in memory for good. Over the stages and folds of a run,
that was gigabytes.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np

from meme_keras.data.meme import Meme
from meme_keras.pipeline.classifier_inputs import classifier_dataset
from meme_keras.pipeline.feature_sets import FeatureSet
from meme_keras.pipeline.length_bucketed_batches import length_bucketed_dataset
from meme_keras.training.callbacks import EpochClock


def feature_set(count: int = 6, length: int = 5) -> FeatureSet:
    mask = np.zeros((count, length), np.int32)
    for i in range(count):
        mask[i, : 1 + i % length] = 1
    return FeatureSet(
        [Meme(str(i), "text") for i in range(count)],
        np.random.default_rng(0).normal(size=(count, length, 4)).astype(np.float32),
        mask,
        np.ones((count, 1, 3), np.float32),
        np.eye(count, 2, dtype=np.float32),
        token_ids=np.arange(count * length).reshape(count, length),
    )


def released(build) -> bool:
    """Whether the features and the clock of a dataset `build(features, clock)` are freed
    once the dataset, read to the end once, is dropped."""
    features, clock = feature_set(), EpochClock()
    dataset = build(features, clock)
    for _ in dataset:
        pass
    features_ref, clock_ref = weakref.ref(features), weakref.ref(clock)
    del features, clock, dataset
    gc.collect()
    return features_ref() is None and clock_ref() is None


def test_head_training_batches_let_go_of_features_and_clock():
    assert released(lambda f, c: length_bucketed_dataset(f, 2, seed=1, clock=c))


def test_fine_tuning_batches_let_go_of_features_and_clock():
    assert released(lambda f, c: classifier_dataset(f, frozenset({"text"}), 8, 2, True, 1, clock=c))


def test_batches_hold_the_rows_of_the_features_cut_after_their_real_tokens():
    features = feature_set()
    features.text_features[:, 0, 0] = np.arange(len(features))  # each row's mark
    seen = []
    for inputs, labels in length_bucketed_dataset(features, 2, seed=3, clock=EpochClock()):
        masks = inputs["padding_mask"].numpy()
        for text, mask, label in zip(inputs["text_features"].numpy(), masks, labels, strict=True):
            row = int(text[0, 0])
            seen.append(row)
            np.testing.assert_array_equal(text, features.text_features[row, : len(mask)])
            np.testing.assert_array_equal(label, features.labels[row])
            assert mask.sum() == features.padding_mask[row].sum()  # no real token cut
    assert sorted(seen) == list(range(len(features)))
