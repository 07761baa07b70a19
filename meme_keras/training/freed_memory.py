"""Between folds and stages: collect a finished fit's garbage and give its memory back.

A fold's datasets and Keras's fit state end in reference cycles that only the cyclic collector
frees. Even then glibc's malloc keeps the freed heap pages of TensorFlow's many small tensor
buffers in its arenas instead of returning them to the system, so the process's resident size
only grows from fold to fold (a subtask-3 run grew from 3.4 to 6.7 GB over its three folds).
`malloc_trim(0)` hands those pages back; Python and TensorFlow have no call that does it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc


@functools.cache
def _malloc_trim():
    """glibc's `malloc_trim`, or None where the C library has none (macOS, musl)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> bool:
    """Runs the cyclic garbage collector, then returns freed heap pages to the system where
    the C library can (glibc). Returns whether it could."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
