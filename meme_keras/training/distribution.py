"""Distribution strategies by name, and run-wide seeding."""

from __future__ import annotations

import keras
import tensorflow as tf

STRATEGIES = ("default", "mirrored")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """ "default": no distribution; "mirrored": MirroredStrategy over every GPU, else every
    logical CPU device (so it also runs, and is tested, on CPU-only machines)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    raise ValueError(f"unknown strategy {name!r}; choose one of {STRATEGIES}")


def seed_everything(seed: int) -> None:
    """Python, numpy and TensorFlow seeds, and TensorFlow's deterministic kernels.

    With these, two runs of a config on the same machine give the same numbers (see the
    README's Robustness section for what this does not cover).
    """
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    # Grappler's arithmetic optimizer rewrites large AddN sums into TemporaryVariable ops that
    # collide between concurrent steps when fine-tuning a backbone with variable-length batches
    # (TF 2.21: "AlreadyExistsError: Resource __per_step_0/.../AddOpsRewrite_add_16/tmp_var").
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": False})
