"""An exclusive lock that processes sharing a folder take turns on (`make reproduce`'s two)."""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


@contextlib.contextmanager
def folder_lock(folder: str | Path, waiting_for: str) -> Iterator[None]:
    """Holds an exclusive lock on `folder`'s lock file (`.<folder>.lock` beside it; `flock`: the
    kernel lets go of it when the holder exits, however it ends). While another process holds
    it, logs "waiting for another process <waiting_for>" and waits."""
    folder = Path(folder)
    lock = folder.with_name(f".{folder.name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process %s", waiting_for)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
