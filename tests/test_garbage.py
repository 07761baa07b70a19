"""Garbage collected after each fold and stage, walking only the objects made since the last
collection."""

from __future__ import annotations

import gc
import weakref

from meme_keras.training.garbage import collect_garbage, collecting_young_garbage


class Node:
    """An object that can sit in a reference cycle."""

    def __init__(self):
        self.other = None


def cycle() -> weakref.ref:
    """A two-object reference cycle, unreachable once made; a weak reference to one half."""
    first, second = Node(), Node()
    first.other, second.other = second, first
    return weakref.ref(first)


def test_within_the_block_survivors_are_frozen_and_new_cycles_still_collected():
    gc.disable()  # no automatic collection in between: only `collect_garbage` frees cycles
    try:
        with collecting_young_garbage():
            kept = Node()
            collect_garbage()
            assert gc.get_freeze_count() > 0  # `kept` and the rest alive: frozen
            dead = cycle()
            assert dead() is not None
            collect_garbage()
            assert dead() is None  # made after the freeze: collected
            assert kept.other is None
        assert gc.get_freeze_count() == 0  # the block unfreezes everything it froze
    finally:
        gc.enable()


def test_a_cycle_frozen_inside_the_block_is_freed_after_it():
    gc.disable()
    try:
        with collecting_young_garbage():
            holder = Node()
            holder.other = Node()
            holder.other.other = holder  # a live cycle, frozen by the next collection
            watched = weakref.ref(holder)
            collect_garbage()
            del holder
            collect_garbage()
            assert watched() is not None  # frozen: not walked while the block lasts
        gc.collect()
        assert watched() is None
    finally:
        gc.enable()


def test_outside_the_block_a_collection_freezes_nothing():
    dead = cycle()
    collect_garbage()
    assert dead() is None
    assert gc.get_freeze_count() == 0
