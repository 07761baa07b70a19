"""The one example container every task's data is: memes with row-aligned arrays.

A task's examples are a dataclass deriving from `Examples`: a `memes` list and numpy arrays
whose first axis is the meme (None where a set lacks one, e.g. features on the fine-tuning
path). `SEQUENCE_FIELDS` names the arrays whose second axis is the token position: those are
padded when sets of different text lengths are stacked, and cut by `trimmed`. Selecting rows,
stacking and trimming are written once here for all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import ClassVar, TypeVar

import numpy as np

from meme_keras.data.meme import Meme

ExamplesT = TypeVar("ExamplesT", bound="Examples")


@dataclasses.dataclass
class Examples:
    """Memes with row-aligned arrays; subclasses add the arrays (and `padding_mask`)."""

    memes: list[Meme]

    SEQUENCE_FIELDS: ClassVar[tuple[str, ...]] = ()

    def __len__(self) -> int:
        return len(self.memes)

    def array_fields(self) -> list[str]:
        return [field.name for field in dataclasses.fields(self) if field.name != "memes"]

    def subset(self: ExamplesT, indices: Sequence[int]) -> ExamplesT:
        """The rows `indices`, in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        arrays = {name: _rows(getattr(self, name), indices) for name in self.array_fields()}
        return dataclasses.replace(self, memes=[self.memes[i] for i in indices], **arrays)

    @classmethod
    def concatenate(cls: type[ExamplesT], parts: Sequence[ExamplesT]) -> ExamplesT:
        """The parts stacked in order; sequence arrays padded (zeros) to the longest part. An
        array that any part lacks (None) is None in the result."""
        if not parts:
            raise ValueError("nothing to concatenate")
        length = max(part.padding_mask.shape[1] for part in parts)

        def stacked(name: str) -> np.ndarray | None:
            arrays = [getattr(part, name) for part in parts]
            if any(array is None for array in arrays):
                return None
            if name in cls.SEQUENCE_FIELDS:
                arrays = [padded_positions(array, length) for array in arrays]
            return np.concatenate(arrays)

        return dataclasses.replace(
            parts[0],
            memes=[meme for part in parts for meme in part.memes],
            **{name: stacked(name) for name in parts[0].array_fields()},
        )

    def trimmed(self: ExamplesT, length: int) -> ExamplesT:
        """The first `length` token positions (all real tokens must fit: checked)."""
        if self.padding_mask[:, length:].any():
            raise ValueError(f"real tokens beyond position {length}: cannot trim")
        arrays = {
            name: None if getattr(self, name) is None else getattr(self, name)[:, :length]
            for name in self.SEQUENCE_FIELDS
        }
        return dataclasses.replace(self, **arrays)


def _rows(array: np.ndarray | None, indices: np.ndarray) -> np.ndarray | None:
    return None if array is None else array[indices]


def padded_positions(array: np.ndarray, length: int) -> np.ndarray:
    widths = [(0, 0)] * array.ndim
    widths[1] = (0, length - array.shape[1])
    return np.pad(array, widths)
