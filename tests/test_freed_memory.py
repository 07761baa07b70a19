import gc
import os
import sys

import pytest

from meme_keras.training.freed_memory import release_freed_memory


def resident_mb() -> float:
    pages = int(open("/proc/self/statm").read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_heap_pages_go_back_to_the_system():
    # Mid-sized buffers, every other one freed: glibc keeps the holes between those that stay
    # in its heap, ~125 MB of resident memory that only a trim gives back.
    buffers = [bytearray(64 * 1024) for _ in range(4000)]
    kept = buffers[1::2]
    del buffers
    gc.collect()
    before = resident_mb()
    assert release_freed_memory()
    assert before - resident_mb() > 60
    assert len(kept) == 2000


def test_collects_reference_cycles():
    class CycleProbe:
        pass

    node = CycleProbe()
    node.self = node
    gc.disable()
    try:
        del node
        assert any(type(o).__name__ == "CycleProbe" for o in gc.get_objects())
        release_freed_memory()
        assert not any(type(o).__name__ == "CycleProbe" for o in gc.get_objects())
    finally:
        gc.enable()
