"""A quiet console: importing TensorFlow through the entry points prints nothing."""

from __future__ import annotations

import os
import subprocess
import sys


def test_tensorflow_imports_without_start_up_noise():
    script = (
        "from meme_keras.console import configure_logging, import_tensorflow_quietly\n"
        "import_tensorflow_quietly(); configure_logging()\n"
        "import tensorflow as tf\n"
        "print(int(tf.constant(1) + 1))\n"
    )
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
    assert result.stderr.strip() == "", result.stderr
