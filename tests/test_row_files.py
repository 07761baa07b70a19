"""Arrays on disk (`RowFile`), feature sets written a chunk at a time, and batches read from
them: the same values as in memory, and memory that holds a batch, not the corpus."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from meme_keras.data.meme import Meme
from meme_keras.pipeline.feature_files import write_feature_files
from meme_keras.pipeline.feature_sets import FeatureSet
from meme_keras.pipeline.length_bucketed_batches import length_bucketed_dataset, predict_features
from meme_keras.pipeline.row_files import RowFile, RowFileWriter, take_rows, write_row_file


def stored(tmp_path, array: np.ndarray, chunk: int = 3) -> RowFile:
    chunks = (array[i : i + chunk] for i in range(0, len(array), chunk))
    return write_row_file(tmp_path / "rows.npy", array.shape, array.dtype, chunks)


def test_row_file_reads_what_numpy_wrote_and_what_it_wrote_numpy_reads(tmp_path):
    array = np.random.default_rng(0).normal(size=(7, 5, 3)).astype(np.float32)
    np.save(tmp_path / "numpy.npy", array)
    np.testing.assert_array_equal(np.asarray(RowFile(tmp_path / "numpy.npy")), array)
    rows = stored(tmp_path, array)
    np.testing.assert_array_equal(np.load(rows.path), array)
    assert rows.shape == (7, 5, 3) and rows.dtype == np.float32 and len(rows) == 7


def test_selections_and_cuts_read_the_rows_numpy_indexing_gives(tmp_path):
    array = np.arange(8 * 6 * 2, dtype=np.int32).reshape(8, 6, 2)
    rows = stored(tmp_path, array)
    picked = [5, 0, 5, 7, -1]
    np.testing.assert_array_equal(rows.take(picked), array[picked])
    view = rows[[6, 1, 3, 2]][:, :4]
    assert view.shape == (4, 4, 2)
    np.testing.assert_array_equal(np.asarray(view), array[[6, 1, 3, 2]][:, :4])
    np.testing.assert_array_equal(view[[3, 0]].take([1]), array[[6]][:, :4])
    np.testing.assert_array_equal(np.asarray(rows[2:7:2]), array[2:7:2])
    np.testing.assert_array_equal(take_rows(view, [0]), take_rows(array[[6]][:, :4], [0]))
    assert rows[[]].shape == (0, 6, 2)


def test_bad_indices_and_files_are_refused_with_the_file_named(tmp_path):
    rows = stored(tmp_path, np.zeros((4, 3), np.float32))
    with pytest.raises(IndexError, match="rows.npy"):
        rows[[4]]
    with pytest.raises(TypeError):
        rows[np.array([True, False, True, False])]
    with pytest.raises(TypeError):
        rows[:, 1:]
    (tmp_path / "text.npy").write_text("not an array")
    with pytest.raises(ValueError, match="text.npy: not a .npy file"):
        RowFile(tmp_path / "text.npy")


def test_a_writer_leaves_no_file_when_rows_are_missing_or_do_not_fit(tmp_path):
    path = tmp_path / "rows.npy"
    with pytest.raises(ValueError, match="2 of 3 rows written"):
        with RowFileWriter(path, (3, 2), np.float32) as writer:
            writer.append(np.zeros((2, 2)))
    assert not path.exists()
    with pytest.raises(ValueError, match="does not fit"):
        with RowFileWriter(path, (3, 2), np.float32) as writer:
            writer.append(np.zeros((2, 5)))
    assert not path.exists() and list(tmp_path.iterdir()) == []


def feature_chunk(start: int, count: int, length: int) -> FeatureSet:
    rng = np.random.default_rng(start)
    mask = np.zeros((count, length), np.int32)
    for i in range(count):
        mask[i, : 1 + (start + i) % length] = 1
    return FeatureSet(
        [Meme(str(start + i), "text") for i in range(count)],
        rng.normal(size=(count, length, 4)).astype(np.float32) * mask[..., None],
        mask,
        rng.normal(size=(count, 2, 3)).astype(np.float32),
        (rng.random((count, 5)) < 0.3).astype(np.float32),
        token_ids=np.arange(count * length).reshape(count, length),
    )


def test_feature_files_hold_the_stacked_chunks_cut_to_the_longest_text(tmp_path):
    chunks = [feature_chunk(0, 4, 3), feature_chunk(4, 4, 5), feature_chunk(8, 2, 2)]
    on_disk = write_feature_files(iter(chunks), tmp_path, 10, sequence_length=8)
    in_memory = FeatureSet.concatenate(chunks)
    assert isinstance(on_disk.text_features, RowFile)
    assert isinstance(on_disk.image_features, RowFile)
    assert on_disk.text_features.shape == in_memory.text_features.shape == (10, 5, 4)
    assert [m.id for m in on_disk.memes] == [m.id for m in in_memory.memes]
    for name in ("text_features", "padding_mask", "image_features", "labels", "token_ids"):
        np.testing.assert_array_equal(np.asarray(getattr(on_disk, name)), getattr(in_memory, name))
    subset = on_disk.subset([9, 2, 4])
    assert isinstance(subset.text_features, RowFile)
    np.testing.assert_array_equal(
        np.asarray(subset.text_features), in_memory.text_features[[9, 2, 4]]
    )


def test_feature_files_refuse_a_wrong_count(tmp_path):
    with pytest.raises(ValueError, match="4 of 5 rows"):
        write_feature_files(iter([feature_chunk(0, 4, 3)]), tmp_path, 5, sequence_length=4)
    assert not list(tmp_path.glob("*.npy"))


def test_batches_from_disk_equal_batches_from_memory(tmp_path):
    chunks = [feature_chunk(0, 5, 6), feature_chunk(5, 6, 6)]
    on_disk = write_feature_files(iter(chunks), tmp_path, 11, sequence_length=6).subset(
        [10, 3, 4, 0, 7, 1, 9]
    )
    in_memory = FeatureSet.concatenate(chunks).subset([10, 3, 4, 0, 7, 1, 9])
    for disk, memory in zip(
        length_bucketed_dataset(on_disk, 3, seed=4, length_step=2),
        length_bucketed_dataset(in_memory, 3, seed=4, length_step=2),
        strict=True,
    ):
        for name in ("text_features", "padding_mask", "image_features"):
            np.testing.assert_array_equal(disk[0][name].numpy(), memory[0][name].numpy())
        np.testing.assert_array_equal(disk[1].numpy(), memory[1].numpy())

    np.testing.assert_array_equal(
        predict_features(first_feature_model(), on_disk), in_memory.text_features[:, 0, :1]
    )


def first_feature_model() -> keras.Model:
    """A "model" whose output is each meme's first text feature (image inputs times 0)."""
    inputs = {
        "text_features": keras.Input((None, 4), name="text_features"),
        "padding_mask": keras.Input((None,), dtype="int32", name="padding_mask"),
        "image_features": keras.Input((2, 3), name="image_features"),
    }
    first = keras.layers.Lambda(
        lambda x: (
            x["text_features"][:, 0, :1]
            + 0.0 * keras.ops.sum(x["image_features"], axis=(1, 2))[:, None]
            + 0.0 * keras.ops.cast(x["padding_mask"][:, :1], "float32")
        )
    )(inputs)
    return keras.Model(inputs, first)


def test_an_epoch_from_disk_holds_a_batch_of_features_in_memory_not_all(tmp_path):
    """Peak resident memory of a process that writes and reads 400 MB of features on disk
    grows by less than a quarter of them (held in memory, they alone would be 400 MB)."""
    script = textwrap.dedent(
        f"""
        import gc, resource, sys
        import numpy as np
        from meme_keras.data.meme import Meme
        from meme_keras.pipeline.feature_files import write_feature_files
        from meme_keras.pipeline.feature_sets import FeatureSet
        from meme_keras.pipeline.length_bucketed_batches import length_bucketed_dataset

        def chunks(count=2000, size=100, length=64):
            for start in range(0, count, size):
                mask = np.ones((size, length), np.int32)
                yield FeatureSet(
                    [Meme(str(start + i), "t") for i in range(size)],
                    np.full((size, length, 768), start, np.float32),
                    mask,
                    np.zeros((size, 1, 1), np.float32),
                    np.zeros((size, 3), np.float32),
                )

        for _ in length_bucketed_dataset(next(chunks(count=100)), 32):  # import and trace
            pass
        gc.collect()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        features = write_feature_files(chunks(), {str(tmp_path / "features")!r}, 2000, 64)
        total = 0.0
        for inputs, _ in length_bucketed_dataset(features, 32):
            total += float(inputs["text_features"][:, 0, 0].numpy().sum())
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        assert total == sum(range(0, 2000, 100)) * 100, total
        print(grown // 1024, features.text_features.nbytes // 2**20)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    grown_mb, feature_mb = map(int, result.stdout.split()[-2:])
    assert feature_mb == 375
    assert grown_mb < feature_mb / 4, (grown_mb, feature_mb)
