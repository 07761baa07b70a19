"""A quiet, informative console: our progress and results, not TensorFlow's start-up noise."""

from __future__ import annotations

import logging
import os
import sys
import warnings


def configure_logging(level: int = logging.INFO) -> None:
    """Our loggers at `level` in one short format; TensorFlow's and absl's own chatter muted.

    What is muted is TensorFlow's noise on a CPU machine (C++ start-up notes, absl's
    pre-initialisation warning, Python deprecation warnings from inside TF/Keras); warnings
    about our own use of them are fixed at the cause instead.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from meme_keras.progress import CONSOLE, bars_enabled

    if bars_enabled():  # log lines print above the live progress bars
        from rich.logging import RichHandler

        handler = RichHandler(console=CONSOLE, show_path=False, log_time_format="%H:%M:%S")
        logging.basicConfig(level=level, format="%(name)s: %(message)s", handlers=[handler])
    else:
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for name in ("tensorflow", "absl", "h5py", "matplotlib", "PIL"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow with its C++ start-up notes muted (entry points call this first).

    On a machine without a GPU, importing TensorFlow prints CUDA probing notes from C++ before
    absl's logging is initialised, so TF_CPP_MIN_LOG_LEVEL cannot hide them; standard error is
    pointed at /dev/null for the import alone (an import error is still raised, and shown).
    Level 3 also hides the "failed call to cuInit" error of the first device query.
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2") == "2":  # unset, or meme_keras's default
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)
