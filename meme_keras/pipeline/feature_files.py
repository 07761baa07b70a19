"""Feature sets too large for memory: backbone features written to `.npy` files a chunk of
memes at a time and read back a batch at a time (`RowFile`), so that extracting, training and
predicting over any number of memes hold about a chunk or a batch of features, not all."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from meme_keras.pipeline.examples import padded_positions
from meme_keras.pipeline.feature_sets import FeatureSet
from meme_keras.pipeline.row_files import RowFileWriter

# The arrays of a meme's features that grow with the corpus (MBs a hundred memes): on disk.
# Masks, token ids and labels (bytes a meme) stay in memory.
ON_DISK_FIELDS = ("text_features", "image_features", "image_cut_features", "text_cut_features")


def write_feature_files(
    chunks: Iterable[FeatureSet], folder, count: int, sequence_length: int
) -> FeatureSet:
    """The feature sets `chunks` (e.g. `feature_set_chunks`: `count` memes in all) stacked
    into one whose features lie in `folder` (a `.npy` file each), holding one chunk at a time.

    Sequence arrays are padded to `sequence_length` positions on disk and the set returned is
    cut to its longest text, as `build_feature_set` cuts an in-memory one.

    Examples:
    ```python
    chunks = feature_set_chunks(memes, techniques, config, chunk_size=256)
    features = write_feature_files(chunks, "features/", len(memes), 128)
    model = fit_head(features, None, config, config["stages"][0], len(techniques))
    ```
    """
    folder = Path(folder)
    memes, in_memory = [], {}
    with contextlib.ExitStack() as files:
        writers = None
        for chunk in chunks:
            if writers is None:
                writers = _open_writers(files, chunk, folder, count, sequence_length)
            if chunk.padding_mask.shape[1] > sequence_length:
                raise ValueError(
                    f"a chunk holds {chunk.padding_mask.shape[1]} token positions, more than "
                    f"sequence_length={sequence_length}"
                )
            for name in chunk.array_fields():
                array = getattr(chunk, name)
                if array is None:
                    continue
                if name in FeatureSet.SEQUENCE_FIELDS:
                    array = padded_positions(array, sequence_length)
                if name in writers:
                    writers[name].append(array)
                else:
                    in_memory.setdefault(name, []).append(array)
            memes.extend(chunk.memes)
        if writers is None:
            raise ValueError("no feature sets to write")
    on_disk = {name: writer.result for name, writer in writers.items()}
    arrays = {name: np.concatenate(parts) for name, parts in in_memory.items()}
    stacked = FeatureSet(memes, **arrays, **on_disk)
    return stacked.trimmed(max(int(stacked.padding_mask.sum(axis=1).max()), 1))


def _open_writers(files, first: FeatureSet, folder, count, sequence_length) -> dict:
    writers = {}
    for name in ON_DISK_FIELDS:
        array = getattr(first, name)
        if array is None:
            continue
        tail = list(array.shape[1:])
        if name in FeatureSet.SEQUENCE_FIELDS:
            tail[0] = sequence_length
        path = folder / f"{name}.npy"
        writers[name] = files.enter_context(RowFileWriter(path, (count, *tail), array.dtype))
    return writers
