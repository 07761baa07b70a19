"""The one example container (`Examples`) and the one cross-validation loop every task uses."""

from __future__ import annotations

import numpy as np
import pytest

from meme_keras.data.meme import Meme
from meme_keras.pipeline.feature_sets import FeatureSet
from meme_keras.pipeline.token_tags import TokenTagData
from meme_keras.training.folds import cross_validated, fold_indices


def token_tag_data(ids: list[str], length: int, real: int) -> TokenTagData:
    count = len(ids)
    mask = np.zeros((count, length), np.int32)
    mask[:, :real] = 1
    return TokenTagData(
        [Meme(i, f"text {i}") for i in ids],
        np.random.default_rng(0).normal(size=(count, length, 4)).astype(np.float32),
        np.arange(count * length).reshape(count, length),
        mask,
        np.ones((count, length, 2), np.int64),
        np.ones((count, length, 3), np.float32),
        mask.astype(np.float32),
    )


def test_subset_keeps_rows_aligned_in_the_order_asked():
    data = token_tag_data(["a", "b", "c"], length=4, real=2)
    picked = data.subset([2, 0])
    assert [m.id for m in picked.memes] == ["c", "a"]
    np.testing.assert_array_equal(picked.token_ids, data.token_ids[[2, 0]])
    np.testing.assert_array_equal(picked.features, data.features[[2, 0]])
    assert len(data.subset([])) == 0


def test_concatenate_pads_sequence_arrays_to_the_longest_part_only():
    short = token_tag_data(["a"], length=2, real=2)
    long = token_tag_data(["b", "c"], length=5, real=3)
    both = TokenTagData.concatenate([short, long])
    assert [m.id for m in both.memes] == ["a", "b", "c"]
    assert both.tags.shape == (3, 5, 3) and both.offsets.shape == (3, 5, 2)
    assert both.padding_mask[0].tolist() == [1, 1, 0, 0, 0]  # padding is padding
    assert not both.tags[0, 2:].any()
    np.testing.assert_array_equal(both.features[1:], long.features)

    images = np.arange(6, dtype=np.float32).reshape(2, 3, 1)  # not a sequence array
    features = [
        FeatureSet(
            [Meme(f"m{i}", "t")],
            np.ones((1, length, 2), np.float32),
            np.ones((1, length), bool),
            images[i : i + 1],
            np.zeros((1, 4), np.float32),
            token_ids=np.ones((1, length), np.int32) if i == 0 else None,
        )
        for i, length in enumerate((3, 1))
    ]
    stacked = FeatureSet.concatenate(features)
    assert stacked.text_features.shape == (2, 3, 2)
    np.testing.assert_array_equal(stacked.image_features, images)
    assert stacked.token_ids is None  # one part lacks it: so does the result
    with pytest.raises(ValueError, match="nothing to concatenate"):
        FeatureSet.concatenate([])


def test_trimmed_cuts_sequence_arrays_and_refuses_to_cut_real_tokens():
    data = token_tag_data(["a", "b"], length=6, real=3)
    cut = data.trimmed(4)
    assert cut.features.shape == (2, 4, 4) and cut.tags.shape == (2, 4, 3)
    assert len(cut.memes) == 2
    with pytest.raises(ValueError, match="real tokens beyond position 2"):
        data.trimmed(2)


def test_cross_validated_predicts_every_row_once_from_a_model_that_never_saw_it():
    calls = []

    def fit_fold(fold, train_rows, validation_rows):
        assert not set(train_rows) & set(validation_rows)
        calls.append(fold)
        # Any shape after the rows: here [rows, 2, 3], marked with the fold.
        return np.full((len(validation_rows), 2, 3), fold + 1.0), f"model {fold}"

    out_of_fold, models = cross_validated(11, 4, seed=3, fit_fold=fit_fold)
    assert calls == [0, 1, 2, 3] and models == [f"model {k}" for k in range(4)]
    assert out_of_fold.shape == (11, 2, 3) and out_of_fold.dtype == np.float32
    for fold, rows in enumerate(fold_indices(11, 4, 3)):
        assert (out_of_fold[rows] == fold + 1).all()


def test_cross_validated_seeds_each_fold_the_same_way_every_time():
    def fit_fold(fold, train_rows, validation_rows):
        # numpy's global generator, which Keras's seeding sets, stands for the model
        return np.zeros((len(validation_rows), 1)), np.random.random()

    first = cross_validated(6, 3, seed=5, fit_fold=fit_fold)[1]
    second = cross_validated(6, 3, seed=5, fit_fold=fit_fold)[1]
    assert first == second and len(set(first)) == 3
    alike = cross_validated(6, 3, seed=5, fit_fold=fit_fold, same_start=True)[1]
    assert len(set(alike)) == 1 and alike[0] == first[0]  # every fold starts as the first


def test_cross_validated_frees_a_folds_reference_cycles_before_the_next_fold():
    # Fit state in reference cycles (datasets holding feature copies) must not pile up fold
    # after fold waiting for a full collection: with automatic collection off, a cycle made
    # in one fold is gone when the next fold starts.
    import gc
    import weakref

    class FitState:
        pass

    previous: list[weakref.ref] = []

    def fit_fold(fold, train_rows, validation_rows):
        assert all(ref() is None for ref in previous), "an earlier fold's cycle is still alive"
        state = FitState()
        state.itself = state  # a reference cycle, freed only by the cyclic collector
        previous.append(weakref.ref(state))
        return np.zeros((len(validation_rows), 1)), None

    enabled = gc.isenabled()
    gc.disable()
    try:
        cross_validated(12, 3, seed=0, fit_fold=fit_fold)
    finally:
        if enabled:
            gc.enable()
    assert len(previous) == 3
