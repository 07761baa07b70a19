"""A training interrupted in the middle of an epoch and started again with the same command
ends with the same model as an uninterrupted run of the same seed.

The runs have two frozen-feature stages (one fit each) and are interrupted inside an epoch of
stage 1, then of stage 2, after 3 epochs of each were backed up. The last try replays stage 1
(its fit had finished and its backup was deleted: it replays deterministically), resumes
stage 2 from its backup, and must give bit-identical weights: every source of randomness is
seeded and TensorFlow's ops are deterministic, so any difference is state that resuming lost
(shuffle order, dropout seeds, early stopping's best weights, the epoch to start at).

The fast test interrupts `train_stages` in-process (an exception) on synthetic features; the
slow one SIGKILLs `run_classifier` on the tiny corpus in subprocesses, this file being the
worker (`python tests/test_resume.py`), so the library has no test hook.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from meme_keras.config import make_config
from meme_keras.pipeline.feature_sets import FeatureSet
from meme_keras.training import head_training
from meme_keras.training.callbacks import stage_callbacks
from meme_keras.training.distribution import seed_everything
from meme_keras.training.fine_tuning import train_stages

STAGES = ("0_frozen", "1_frozen_high_lr")  # the stages' log folders
KILL_EPOCH, KILL_BATCH = 3, 1  # the 4th epoch's 2nd batch (3 epochs are backed up)


def resume_config(data_dir: str | None = None) -> dict:
    return make_config(
        {
            "name": "tiny_resume",
            "seed": 7,
            "data_dir": data_dir,
            "model": {"type": "baseline_concat", "dropout": 0.3},
            "text_backbone": {"sequence_length": 32},
            "batch_size": 4,  # 10 training memes: 3 batches an epoch
            # Stage 2 is noisy (high learning rate) so its best epoch by validation loss,
            # whose weights early stopping restores at the end, may come before the kill.
            "stages": [
                {"name": "frozen", "train": [], "epochs": 6, "learning_rate": 3e-3},
                {"name": "frozen_high_lr", "train": [], "epochs": 6, "learning_rate": 1e-1},
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


class Interrupted(Exception):
    pass


class Tracer(keras.callbacks.Callback):
    """Appends each epoch a fit starts and ends (with val_loss) and each fit's final weights
    to `trace` (JSON lines); calls `interrupt()` at batch KILL_BATCH of epoch KILL_EPOCH of
    stage `interrupt_stage`."""

    def __init__(self, stage: str, trace: Path, interrupt_stage=None, interrupt=None):
        super().__init__()
        self.stage, self.trace, self.epoch = stage, trace, None
        self.interrupt = interrupt if stage == interrupt_stage else None

    def record(self, **entry):
        with self.trace.open("a") as stream:
            stream.write(json.dumps({"stage": self.stage, **entry}) + "\n")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.record(epoch=epoch)

    def on_epoch_end(self, epoch, logs=None):
        self.record(end=epoch, val_loss=logs["val_loss"])

    def on_train_batch_end(self, batch, logs=None):
        if self.interrupt and (self.epoch, batch) == (KILL_EPOCH, KILL_BATCH):
            self.interrupt()

    def on_train_end(self, logs=None):
        # After EarlyStopping restored the best weights (callbacks run in list order).
        self.record(weights=weights_digest(self.model))


def trace_fits(patch, trace: Path, interrupt_stage=None, interrupt=None):
    """Adds a Tracer to every fit of a frozen stage (`patch`: a setattr function)."""
    trace.parent.mkdir(parents=True, exist_ok=True)

    def traced(config, stage, log_dir, *args, **kwargs):
        tracer = Tracer(Path(log_dir).name, trace, interrupt_stage, interrupt)
        return [*stage_callbacks(config, stage, log_dir, *args, **kwargs), tracer]

    patch(head_training, "stage_callbacks", traced)


def worker(data_dir: str, output: str, kill: str | None) -> None:
    """Runs the config, traced into `output/trace.jsonl`; with `kill` (a stage's folder
    name), SIGKILLs itself in the middle of an epoch of that stage."""
    from meme_keras.training.classifier_run import run_classifier

    trace_fits(setattr, Path(output) / "trace.jsonl", kill, lambda: os.kill(os.getpid(), 9))
    run_classifier(resume_config(data_dir), output)


def read_trace(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def run_worker(tiny_corpus, output: Path, cache: Path, kill: str | None = None):
    env = {**os.environ, "MEME_KERAS_CACHE": str(cache), "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, __file__, str(tiny_corpus), str(output)]
    return subprocess.run(
        [*command, "--kill", kill] if kill else command, env=env, capture_output=True, text=True
    )


def check_resumed_like_reference(trace: list[dict], reference: list[dict]) -> None:
    """`trace`: a try interrupted in stage 1, one interrupted in stage 2, one to the end."""

    def epochs(stage):
        return [(e["stage"], e["epoch"]) for e in reference if e["stage"] == stage and "epoch" in e]

    stage_1, stage_2 = epochs(STAGES[0]), epochs(STAGES[1])
    assert len(stage_1) > KILL_EPOCH and len(stage_2) > KILL_EPOCH  # no early stop before
    # Each resumed fit starts at its backed-up epoch; the stage after a resumed stage starts
    # at epoch 0 (Keras alone would skip as many epochs there as it resumed at).
    assert [(e["stage"], e["epoch"]) for e in trace if "epoch" in e] == [
        *stage_1[: KILL_EPOCH + 1],
        *stage_1[KILL_EPOCH:],
        *stage_2[: KILL_EPOCH + 1],
        *stage_1,
        *stage_2[KILL_EPOCH:],
    ]
    # The validation losses of the resumed epochs are the reference's, bit for bit.
    losses = {(e["stage"], e["end"]): e["val_loss"] for e in reference if "end" in e}
    assert all(losses[e["stage"], e["end"]] == e["val_loss"] for e in trace if "end" in e)
    # Every fit of stage 1 (resumed or replayed) ended with the reference's weights; stage 2,
    # resumed, too (after early stopping restored its best epoch's weights).
    finals = [(e["stage"], e["weights"]) for e in trace if "weights" in e]
    expected = [(e["stage"], e["weights"]) for e in reference if "weights" in e]
    assert finals == [expected[0], expected[0], expected[1]]


def synthetic_sets(seed=0):
    """Random features of 12 training and 6 validation "memes" of varied text lengths."""
    rng = np.random.default_rng(seed)

    def feature_set(n):
        mask = np.arange(24)[None] < rng.integers(1, 25, n)[:, None]
        labels = rng.random((n, 5)) < 0.3
        return FeatureSet(
            [None] * n,
            rng.normal(size=(n, 24, 6)).astype(np.float32),
            mask.astype(np.int32),
            rng.normal(size=(n, 4, 5)).astype(np.float32),
            labels.astype(np.float32),
        )

    return feature_set(12), feature_set(6)


def test_an_interrupted_training_resumes_to_the_same_weights(tmp_path, monkeypatch):
    train, validation = synthetic_sets()
    config = resume_config()

    def attempt(log_dir, interrupt_stage=None):
        trace_fits(monkeypatch.setattr, log_dir / "trace.jsonl", interrupt_stage, stop)
        seed_everything(config["seed"])
        return train_stages(train, validation, config, 5, log_dir)

    def stop():
        raise Interrupted

    reference = attempt(tmp_path / "reference")
    for stage in STAGES:
        with pytest.raises(Interrupted):
            attempt(tmp_path / "resumed", stage)
        backup = tmp_path / "resumed" / stage / "backup" / "training_metadata.json"
        assert json.loads(backup.read_text())["epoch"] == KILL_EPOCH
    resumed = attempt(tmp_path / "resumed")
    assert not list((tmp_path / "resumed").rglob("backup"))
    check_resumed_like_reference(
        read_trace(tmp_path / "resumed" / "trace.jsonl"),
        read_trace(tmp_path / "reference" / "trace.jsonl"),
    )
    for got, expected in zip(resumed.get_weights(), reference.get_weights(), strict=True):
        assert np.array_equal(got, expected)


@pytest.mark.slow  # four runs in fresh processes: 65-90 s on two shared cores
def test_a_run_killed_in_each_stage_resumes_to_the_same_model(tiny_corpus, tmp_path):
    cache = tmp_path / "cache"
    reference = run_worker(tiny_corpus, tmp_path / "reference", cache)
    assert reference.returncode == 0, reference.stderr[-3000:]
    output, logs = tmp_path / "resumed", tmp_path / "resumed" / "logs"

    # Killed in stage 1, after 3 of its epochs were backed up.
    killed = run_worker(tiny_corpus, output, cache, kill=STAGES[0])
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    metadata = json.loads((logs / STAGES[0] / "backup" / "training_metadata.json").read_text())
    assert metadata["epoch"] == KILL_EPOCH
    # The same command resumes stage 1, runs stage 2 and is killed in it: stage 1's backup
    # is gone (its fit finished), stage 2's holds 3 epochs; no result was written.
    killed = run_worker(tiny_corpus, output, cache, kill=STAGES[1])
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert not (logs / STAGES[0] / "backup").exists()
    metadata = json.loads((logs / STAGES[1] / "backup" / "training_metadata.json").read_text())
    assert metadata["epoch"] == KILL_EPOCH
    assert not (output / "probabilities_test.npy").exists()
    # The same command again: replays stage 1 (deterministic), resumes stage 2, finishes.
    resumed = run_worker(tiny_corpus, output, cache)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not (logs / STAGES[1] / "backup").exists()

    check_resumed_like_reference(
        read_trace(output / "trace.jsonl"), read_trace(tmp_path / "reference" / "trace.jsonl")
    )
    # Bit-identical: the same seeded computation with deterministic ops, so no tolerance.
    assert np.array_equal(
        np.load(output / "probabilities_test.npy"),
        np.load(tmp_path / "reference" / "probabilities_test.npy"),
    )


if __name__ == "__main__":
    worker(sys.argv[1], sys.argv[2], kill=sys.argv[4] if sys.argv[3:4] == ["--kill"] else None)


def test_every_stage_logs_its_time(caplog):
    train, validation = synthetic_sets()
    config = resume_config()
    seed_everything(config["seed"])
    with caplog.at_level("INFO", logger="meme_keras.training.fine_tuning"):
        train_stages(train, validation, config, 5)
    lines = [r.getMessage() for r in caplog.records if "trained in" in r.getMessage()]
    assert [line.split(" trained in")[0] for line in lines] == [
        "stage 1/2 frozen",
        "stage 2/2 frozen_high_lr",
    ]
