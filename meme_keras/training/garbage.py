"""Python's cyclic collector after each fold and stage, without walking the whole heap.

A fold's datasets and Keras's fit state end in reference cycles that hold hundreds of MB of
feature copies (tf.data constants) until a full collection runs, and full collections are
rare on their own: without one after each fold and stage, a run grew by ~400 MB a fold. But a
full collection walks every object alive (features, traced graphs, the fold models kept for
the ensemble), 3-5 s each on 2 cores late in a run, about 90 s of a `make reproduce`. Within
`collecting_young_garbage()`, each collection freezes what survives it (`gc.freeze`), so that
the next one walks only the objects made since; leaving the block unfreezes them all.
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
from collections.abc import Iterator

_FREEZING: contextvars.ContextVar[bool] = contextvars.ContextVar("freezing", default=False)


def collect_garbage() -> None:
    """A full collection now; within `collecting_young_garbage()`, of the objects made since
    the last one, the survivors frozen."""
    gc.collect()
    if _FREEZING.get():
        gc.freeze()


@contextlib.contextmanager
def collecting_young_garbage() -> Iterator[None]:
    """Within the block, `collect_garbage` walks only the objects made since its last call.
    Frozen objects still die when nothing refers to them; those that die in a reference
    cycle inside the block are freed by the first collection after it."""
    token = _FREEZING.set(True)
    try:
        yield
    finally:
        _FREEZING.reset(token)
        if not _FREEZING.get():  # the outermost block: nothing stays frozen after it
            gc.unfreeze()
