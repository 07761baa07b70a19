"""Progress bars on the console for feature extraction, folds, stages and prediction.

rich draws them on standard error when it is a terminal; elsewhere (CI, pipes, files, tests)
`tracked` yields the items and draws nothing, and the log lines tell the progress instead.
`MEME_KERAS_PROGRESS=1` forces the bars on, `0` off. Nested bars share one live display: an
inner bar (a fold's stages) disappears when done, the outer one (the folds) stays.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

Item = TypeVar("Item")

# One console for the bars and for log lines (see `console.configure_logging`), so that log
# lines print above the live bars instead of through them.
CONSOLE = Console(stderr=True)
_live: list[Progress] = []  # the shared live display while any bar is open
_open_bars = 0


def bars_enabled() -> bool:
    setting = os.environ.get("MEME_KERAS_PROGRESS", "")
    if setting in ("0", "1"):
        return setting == "1"
    return sys.stderr.isatty()


def tracked(items: Iterable[Item], description: str, total: int | None = None) -> Iterator[Item]:
    """Yields `items`, advancing a bar labelled `description` after each one."""
    if not bars_enabled():
        yield from items
        return
    global _open_bars
    if total is None and hasattr(items, "__len__"):
        total = len(items)
    if not _live:
        display = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=CONSOLE,
        )
        display.start()
        _live.append(display)
    display = _live[0]
    outermost = _open_bars == 0
    bar = display.add_task(description, total=total)
    _open_bars += 1
    try:
        for item in items:
            yield item
            display.advance(bar)
    finally:
        _open_bars -= 1
        if not outermost:
            display.remove_task(bar)
        if _open_bars == 0:
            display.stop()
            _live.clear()
