"""Arrays that stay on disk: `.npy` files written a chunk of rows at a time and read a batch
of rows at a time, so that training and prediction over any number of memes hold a batch of
features in memory, not the corpus.

`np.load(mmap_mode="r")` would read the same bytes, but every page a memory map touches
counts in the process's resident memory until the map is dropped (an epoch touches them all),
while bytes read with `os.pread` sit in the kernel's page cache, which the process does not
own: this is why rows are read, not mapped.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from meme_keras.atomic_files import atomic_output


class RowFile:
    """Rows of a C-ordered `.npy` file on disk, optionally a selection of them and the first
    positions of the second axis, read only when asked.

    Selecting rows (`rows[indices]`) and cutting the second axis (`rows[:, :length]`) give
    new `RowFile`s and read nothing; `take(indices)` reads those rows into a numpy array;
    `np.asarray(rows)` reads them all (any numpy operation on a `RowFile` does, so code
    written for arrays stays correct, only not flat in memory).

    Args:
        path: a `.npy` file (as `write_row_file` writes); the view holds all its rows.

    Examples:
    ```python
    write_row_file("text.npy", (1000, 128, 384), np.float32, chunks)
    text = RowFile("text.npy")
    batch = text[train_rows][:, :32].take([0, 5, 9])  # 3 rows x 32 positions x 384
    ```
    """

    def __init__(self, path):
        self.path = Path(path)
        with open(self.path, "rb") as stream:
            try:
                version = np.lib.format.read_magic(stream)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read_header(stream)
            except ValueError as error:
                raise ValueError(f"{self.path}: not a .npy file ({error})") from None
            self._offset = stream.tell()
        if fortran or len(shape) < 1 or dtype.hasobject:
            raise ValueError(f"{self.path}: rows need a C-ordered numeric array of 1+ axes")
        self._file_shape = tuple(shape)
        self.dtype = dtype
        self._rows: np.ndarray | None = None  # the file rows a view holds (None: all)
        self._length: int | None = None  # positions of the second axis a view keeps

    @property
    def shape(self) -> tuple[int, ...]:
        count = self._file_shape[0] if self._rows is None else len(self._rows)
        tail = list(self._file_shape[1:])
        if self._length is not None:
            tail[0] = self._length
        return (count, *tail)

    @property
    def ndim(self) -> int:
        return len(self._file_shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"RowFile({str(self.path)!r}, shape={self.shape}, dtype={self.dtype})"

    def __getitem__(self, key) -> RowFile:
        if (
            isinstance(key, tuple)
            and len(key) == 2
            and _whole(key[0])
            and isinstance(key[1], slice)
        ):
            return self._cut(key[1])
        if isinstance(key, slice):
            key = np.arange(len(self))[key]
        indices = np.asarray(key)
        if indices.size == 0:
            indices = indices.astype(np.int64)
        if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
            raise TypeError(
                f"a RowFile selects rows by a 1-D integer index or cuts `[:, :length]`, not {key!r}"
            )
        self._check_range(indices)
        return self._view(self._file_rows(indices % max(len(self), 1)), self._length)

    def _cut(self, positions: slice) -> RowFile:
        if positions.start not in (None, 0) or positions.step not in (None, 1):
            raise TypeError("a RowFile keeps the first positions of its second axis only")
        current = self.shape[1]
        length = current if positions.stop is None else min(max(positions.stop, 0), current)
        return self._view(self._rows, length)

    def _view(self, rows: np.ndarray | None, length: int | None) -> RowFile:
        view = copy.copy(self)
        view._rows, view._length = rows, length
        return view

    def _check_range(self, indices: np.ndarray) -> None:
        if len(indices) and (indices.min() < -len(self) or indices.max() >= len(self)):
            raise IndexError(f"{self.path}: row out of range for {len(self)} rows")

    def _file_rows(self, indices: np.ndarray) -> np.ndarray:
        return indices.astype(np.int64) if self._rows is None else self._rows[indices]

    def take(self, indices) -> np.ndarray:
        """The rows `indices` of this view (in that order), read from disk."""
        indices = np.asarray(indices, np.int64)
        self._check_range(indices)
        file_rows = self._file_rows(indices % max(len(self), 1))
        out = np.empty((len(file_rows), *self.shape[1:]), self.dtype)
        row_bytes = int(np.prod(self._file_shape[1:], dtype=np.int64)) * self.dtype.itemsize
        # The first `length` positions of a C-ordered row are the first bytes of it.
        wanted = out[0].nbytes if len(out) else 0
        descriptor = os.open(self.path, os.O_RDONLY)
        try:
            for target, row in zip(out, file_rows, strict=True):
                data = os.pread(descriptor, wanted, self._offset + int(row) * row_bytes)
                if len(data) != wanted:
                    raise ValueError(f"{self.path}: file ends inside row {row}")
                target[...] = np.frombuffer(data, self.dtype).reshape(target.shape)
        finally:
            os.close(descriptor)
        return out

    def __array__(self, dtype=None, copy=None):
        array = self.take(np.arange(len(self)))
        return array if dtype is None else array.astype(dtype, copy=False)


class RowFileWriter:
    """Writes a `.npy` array of `shape` a chunk of rows at a time, atomically: the file
    appears complete when the block ends, or not at all (on an error, or too few rows).

    Examples:
    ```python
    with RowFileWriter("text.npy", (1000, 128, 384), np.float32) as writer:
        for chunk in chunks:
            writer.append(chunk)
    text = writer.result  # a RowFile
    ```
    """

    def __init__(self, path, shape: tuple[int, ...], dtype):
        self.path = Path(path)
        self.shape = tuple(int(size) for size in shape)
        self.dtype = np.dtype(dtype)
        self.written = 0
        self.result: RowFile | None = None

    def __enter__(self) -> RowFileWriter:
        self._output = atomic_output(self.path, "wb")
        self._stream = self._output.__enter__()
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": self.shape,
        }
        np.lib.format.write_array_header_2_0(self._stream, header)
        return self

    def append(self, chunk: np.ndarray) -> None:
        chunk = np.ascontiguousarray(chunk, self.dtype)
        if chunk.shape[1:] != self.shape[1:] or self.written + len(chunk) > self.shape[0]:
            raise ValueError(
                f"{self.path}: a chunk of shape {chunk.shape} does not fit an array of "
                f"{self.shape} after {self.written} rows"
            )
        self._stream.write(chunk.reshape(-1).view(np.uint8))
        self.written += len(chunk)

    def __exit__(self, kind, error, traceback) -> bool:
        if kind is not None:
            self._output.__exit__(kind, error, traceback)  # removes the partial file
            return False
        if self.written != self.shape[0]:
            short = ValueError(f"{self.path}: {self.written} of {self.shape[0]} rows written")
            self._output.__exit__(ValueError, short, None)
            raise short
        self._output.__exit__(None, None, None)
        self.result = RowFile(self.path)
        return False


def write_row_file(path, shape: tuple[int, ...], dtype, chunks: Iterable[np.ndarray]) -> RowFile:
    """Writes `chunks` (arrays of rows, stacked in order) as one `.npy` array of `shape`,
    atomically, holding one chunk at a time; returns the file as a `RowFile`."""
    with RowFileWriter(path, shape, dtype) as writer:
        for chunk in chunks:
            writer.append(chunk)
    return writer.result


def _whole(key) -> bool:
    return isinstance(key, slice) and key == slice(None)


def take_rows(array, indices) -> np.ndarray:
    """Rows `indices` of a numpy array or a `RowFile`, as a numpy array."""
    return array.take(indices) if isinstance(array, RowFile) else array[indices]
