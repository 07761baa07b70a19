"""The one rule for how long a batch of texts is: its longest text, rounded up to a step.

Texts are 21 tokens at the median and 101 at most; padding every batch to the corpus's longest
wastes most of an encoder's work, while rounding up keeps the number of distinct shapes (and
so of traced graphs) small.
"""

from __future__ import annotations


def padded_length(longest: int, step: int, maximum: int) -> int:
    """`longest` (at least 1) rounded up to a multiple of `step`, at most `maximum`."""
    return min(-(-max(int(longest), 1) // step) * step, maximum)
