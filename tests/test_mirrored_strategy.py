"""MirroredStrategy over two logical CPUs trains and saves a tiny run (in a fresh process:
logical devices must be set before TensorFlow starts)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from fine_tuning_runs import tiny_config

MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    from meme_keras.training.classifier_run import run_classifier
    from meme_keras.config import make_config
    from meme_keras.training.distribution import make_strategy
    assert make_strategy("mirrored").num_replicas_in_sync == 2
    config = make_config(json.loads(sys.argv[1]))
    metrics = run_classifier(config, sys.argv[2])
    print(json.dumps(metrics["test"]))
    """
)


@pytest.mark.heavy  # about a minute: a fresh TensorFlow process and two folds
def test_mirrored_strategy_trains_and_saves_on_two_logical_cpus(tiny_corpus, tmp_path):
    config = tiny_config(
        tiny_corpus,
        strategy="mirrored",
        stages=[{"name": "frozen", "train": [], "epochs": 2, "learning_rate": 1e-3}],
        # Two folds: the second fits on the first one's traced model, under the strategy.
        thresholds={"tune_on": "folds", "folds": 2},
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            MIRRORED_SCRIPT,
            json.dumps(config.to_dict()),
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        env={
            "MEME_KERAS_CACHE": str(tmp_path / "cache"),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert result.returncode == 0, result.stderr[-6000:]
    assert (tmp_path / "run" / "model.keras").stat().st_size > 0
    assert 0.0 <= json.loads(result.stdout.strip().splitlines()[-1])["micro_f1"] <= 1.0
