"""meme-keras: detect the persuasion techniques used in memes, with Keras 3 and TensorFlow.

```python
import meme_keras as mk

model = mk.load("runs/main")  # any task's run folder
model.predict(texts=["..."], images=["meme.jpg"])
mk.train("experiments/configs/main.yaml")
```

The functions import TensorFlow only when called, so `import meme_keras` is cheap.
"""

from __future__ import annotations

import os

# TensorFlow's C++ start-up notes (CUDA probing, oneDNN) are noise on a CPU machine.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.2.0"


def load(run_dir):
    """The trained model of a run folder of any task: `.predict(texts=..., images=...)`."""
    from meme_keras.inference import load as load_run

    return load_run(run_dir)


def load_config(path):
    """The typed config of a YAML file; unknown or mistyped keys are one-line errors."""
    from meme_keras.config import load_config as load_typed_config

    return load_typed_config(path)


def train(config, output=None, seed=None, data_dir=None, verbose=1, reuse_finished=False):
    """Trains a config (a path, a dict or a typed config) of any task into `output` (default
    `runs/<name>`); returns its metrics. The same as `meme-keras train`."""
    from meme_keras.training.run import train_config

    return train_config(config, output, seed, data_dir, verbose, reuse_finished)


__all__ = ["__version__", "load", "load_config", "train"]
