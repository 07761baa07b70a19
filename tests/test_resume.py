"""A run SIGKILLed in the middle of a training epoch and started again with the same command
ends with the same model as an uninterrupted run of the same seed.

The run has two frozen-feature stages (one fit each: thresholds are tuned on dev) and is killed
inside an epoch of the second stage, after some epochs of that stage were backed up. The
restarted run repeats stage 1 (its fit had finished and its backup was deleted: it replays
deterministically), resumes stage 2 from its backup, and must give bit-identical
probabilities: every source of randomness is seeded and TensorFlow's ops are deterministic,
so any difference is state that resuming lost (shuffle order, dropout seeds, early stopping).

This file is also the worker the test runs in subprocesses (`python tests/test_resume.py`);
the kill is injected there, so the library has no test hook.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TINY_MODEL = {"hidden_dim": 16, "num_heads": 2, "intermediate_dim": 16, "dropout": 0.1}
KILL_STAGE, KILL_EPOCH, KILL_BATCH = "1_frozen_low_lr", 3, 1  # stage 2, 4th epoch, 2nd batch


def resume_config(data_dir: str) -> dict:
    from meme_keras.training.config import make_config

    return make_config(
        {
            "name": "tiny_resume",
            "seed": 7,
            "data_dir": data_dir,
            "model": TINY_MODEL,
            "text_backbone": {"sequence_length": 32},
            "batch_size": 4,  # 10 training memes: 3 batches an epoch
            # Stage 2 is noisy (high learning rate) so its best epoch by validation loss,
            # whose weights early stopping restores at the end, may come before the kill.
            "stages": [
                {"name": "frozen", "train": [], "epochs": 6, "learning_rate": 3e-3},
                {"name": "frozen_low_lr", "train": [], "epochs": 6, "learning_rate": 1e-2},
            ],
            "early_stopping_patience": 3,
            "thresholds": {"tune_on": "dev"},
        }
    )


def weights_digest(model) -> str:
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def worker(data_dir: str, output: str, kill: bool) -> None:
    """Runs the config; records each epoch a fit starts and each fit's final weights in
    `output/trace.jsonl`; with `kill`, SIGKILLs itself mid-epoch in stage 2."""
    import keras

    from meme_keras.training import head_training
    from meme_keras.training.classifier_run import run_classifier

    trace = Path(output) / "trace.jsonl"
    trace.parent.mkdir(parents=True, exist_ok=True)

    def record(**entry):
        with trace.open("a") as stream:
            stream.write(json.dumps(entry) + "\n")

    class Tracer(keras.callbacks.Callback):
        def __init__(self, stage):
            super().__init__()
            self.stage, self.epoch = stage, None

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            record(stage=self.stage, epoch=epoch)

        def on_train_batch_end(self, batch, logs=None):
            if kill and (self.stage, self.epoch, batch) == (KILL_STAGE, KILL_EPOCH, KILL_BATCH):
                os.kill(os.getpid(), signal.SIGKILL)

        def on_train_end(self, logs=None):
            # After EarlyStopping restored the best weights (callbacks run in list order).
            record(stage=self.stage, weights=weights_digest(self.model))

    original = head_training.training_callbacks

    def traced_callbacks(log_dir, *args, **kwargs):
        return [*original(log_dir, *args, **kwargs), Tracer(Path(log_dir).name)]

    head_training.training_callbacks = traced_callbacks
    run_classifier(resume_config(data_dir), output)


def read_trace(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "trace.jsonl").read_text().splitlines()]


def run_worker(tiny_corpus, output: Path, cache: Path, kill: bool = False):
    env = {**os.environ, "MEME_KERAS_CACHE": str(cache), "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, __file__, str(tiny_corpus), str(output)]
    return subprocess.run(
        [*command, "--kill"] if kill else command, env=env, capture_output=True, text=True
    )


def test_a_killed_run_resumes_to_the_same_model(tiny_corpus, tmp_path):
    cache = tmp_path / "cache"
    reference = run_worker(tiny_corpus, tmp_path / "reference", cache)
    assert reference.returncode == 0, reference.stderr[-3000:]

    output = tmp_path / "resumed"
    killed = run_worker(tiny_corpus, output, cache, kill=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert not (output / "probabilities_test.npy").exists()
    # Stage 1 finished (its backup is gone); stage 2 was backed up after its third epoch.
    logs = output / "logs"
    assert not (logs / "0_frozen" / "backup").exists()
    metadata = json.loads((logs / KILL_STAGE / "backup" / "training_metadata.json").read_text())
    assert metadata["epoch"] == KILL_EPOCH

    resumed = run_worker(tiny_corpus, output, cache)  # the same command, not killed
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not (logs / KILL_STAGE / "backup").exists()

    trace, expected = read_trace(output), read_trace(tmp_path / "reference")
    epochs = [(e["stage"], e["epoch"]) for e in trace if "epoch" in e]
    stage_2 = [epoch for stage, epoch in epochs if stage == KILL_STAGE]
    # First try: epochs 0..3 of stage 2; the restart: stage 1 again, then stage 2 from epoch 3.
    assert stage_2[: KILL_EPOCH + 1] == list(range(KILL_EPOCH + 1))
    assert stage_2[KILL_EPOCH + 1] == KILL_EPOCH
    # Stage 1 (trained by both tries) replayed to the very same weights; stage 2 resumed to
    # the same weights as the uninterrupted run's.
    finals = [(e["stage"], e["weights"]) for e in trace if "weights" in e]
    stage_1, stage_2 = [(e["stage"], e["weights"]) for e in expected if "weights" in e]
    assert finals == [stage_1, stage_1, stage_2]
    # Bit-identical: the same seeded computation with deterministic ops, no tolerance needed.
    assert np.array_equal(
        np.load(output / "probabilities_test.npy"),
        np.load(tmp_path / "reference" / "probabilities_test.npy"),
    )


if __name__ == "__main__":
    worker(sys.argv[1], sys.argv[2], kill="--kill" in sys.argv[3:])
