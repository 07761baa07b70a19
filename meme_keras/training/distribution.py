"""Distribution strategies by name, this process's role among workers, and run-wide seeding."""

from __future__ import annotations

import functools
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """ "default": no distribution; "mirrored": MirroredStrategy over every GPU, else every
    logical CPU device (so it also runs, and is tested, on CPU-only machines);
    "multi_worker": MultiWorkerMirroredStrategy over the cluster that `TF_CONFIG` describes."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi_worker":
        worker_role()  # a missing or malformed TF_CONFIG stops here, in one line
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; choose one of {STRATEGIES}")


@dataclass(frozen=True)
class WorkerRole:
    """Where this process stands in the `TF_CONFIG` cluster. The chief alone writes the run
    folder: the `chief` task if the cluster has one, else worker 0."""

    task_type: str
    index: int
    chief: bool


def worker_role() -> WorkerRole:
    """This process's role, read from `TF_CONFIG`; a ValueError names what is missing."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise ValueError(
            "--strategy multi_worker needs TF_CONFIG, e.g. "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}'
        )
    try:
        spec = json.loads(text)
        cluster, task = spec["cluster"], spec["task"]
        task_type, index = str(task["type"]), int(task["index"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"TF_CONFIG is not a cluster and task description ({error}): {text}"
        ) from None
    if task_type not in cluster or not 0 <= index < len(cluster[task_type]):
        raise ValueError(f"TF_CONFIG: task {task_type} {index} is not in the cluster {cluster}")
    chief = task_type == "chief" or (
        task_type == "worker" and index == 0 and "chief" not in cluster
    )
    return WorkerRole(task_type, index, chief)


def is_multi_worker(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether `strategy` (default: the current one) is a MultiWorkerMirroredStrategy."""
    strategy = strategy or tf.distribute.get_strategy()
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief() -> bool:
    """False only in a worker of a multi-worker run that is not its chief."""
    return not is_multi_worker() or worker_role().chief


def writes_run_folder(strategy_name: str) -> bool:
    """Whether this process writes the run folder: always, except in a multi-worker run's
    workers other than the chief (they write to `worker_scratch_folder()`)."""
    return strategy_name != "multi_worker" or worker_role().chief


@functools.cache
def worker_scratch_folder() -> Path:
    """This process's own folder for what a non-chief worker would write (made once)."""
    role = worker_role()
    return Path(tempfile.mkdtemp(prefix=f"meme-keras-{role.task_type}{role.index}-"))


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
