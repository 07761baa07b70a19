"""A quiet, informative console: our progress and results, not TensorFlow's start-up noise."""

from __future__ import annotations

import logging
import os
import warnings


def configure_logging(level: int = logging.INFO) -> None:
    """Our loggers at `level` in one short format; TensorFlow's and absl's own chatter muted.

    What is muted is TensorFlow's noise on a CPU machine (C++ start-up notes, absl's
    pre-initialisation warning, Python deprecation warnings from inside TF/Keras); warnings
    about our own use of them are fixed at the cause instead.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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
