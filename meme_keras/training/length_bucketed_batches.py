"""Batches of cached features trimmed to their longest text, for fast head training.

Texts are 21 tokens long at the median and 101 at most: padding every batch to the longest
text in the corpus wastes most of the transformer's work. Batches here hold memes of similar
length (shuffled within buckets) and are cut to a multiple of `length_step`, which keeps the
number of distinct shapes (and so of traced graphs) small.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from meme_keras.training.feature_sets import FeatureSet


class LengthBucketedBatches(keras.utils.PyDataset):
    def __init__(
        self,
        features: FeatureSet,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        length_step: int = 16,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.features = features
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.length_step = length_step
        self.lengths = features.padding_mask.sum(axis=1)
        self.rng = np.random.default_rng(seed)
        self.batches = self._make_batches()

    def _make_batches(self) -> list[np.ndarray]:
        # Sorting by length plus a random jitter of up to `length_step` tokens keeps batches
        # nearly length-homogeneous while their membership changes from epoch to epoch.
        jitter = self.rng.uniform(0, self.length_step, len(self.lengths)) if self.shuffle else 0
        order = np.argsort(self.lengths + jitter, kind="stable")
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.shuffle:
            self.rng.shuffle(batches)
        return batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index):
        rows = self.batches[index]
        longest = max(int(self.lengths[rows].max()), 1)
        length = min(
            math.ceil(longest / self.length_step) * self.length_step,
            self.features.padding_mask.shape[1],
        )
        features = self.features
        inputs = {
            "text_features": features.text_features[rows, :length],
            "padding_mask": features.padding_mask[rows, :length],
            "image_features": features.image_features[rows],
        }
        return inputs, features.labels[rows]

    def on_epoch_end(self):
        if self.shuffle:
            self.batches = self._make_batches()


def predict_features(model: keras.Model, features: FeatureSet, batch_size: int = 64) -> np.ndarray:
    """The model's outputs for every meme of `features`, in the memes' order."""
    batches = LengthBucketedBatches(features, batch_size, shuffle=False)
    outputs = model.predict(batches, verbose=0)
    in_order = np.empty_like(outputs)
    in_order[np.concatenate(batches.batches)] = outputs
    return in_order
