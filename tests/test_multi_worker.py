"""Training across workers: two `meme-keras train --strategy multi_worker` processes on
127.0.0.1 train one tiny run in step, end with identical weights, and the chief alone writes
the run folder; killed, the same command on both resumes from the chief's backup.

The workers run this file (`python tests/test_multi_worker.py train ...`): it is the CLI, plus,
with MEME_KERAS_TEST_KILL set, a callback that kills worker 1 once the chief has backed up
KILL_EPOCH epochs of the first fit, so the library has no test hook.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest
import yaml

from meme_keras.training.distribution import worker_role
from meme_keras.training.fitting import worker_rows

# Two worker processes train, one is killed and both resume: minutes on 2 cores.
pytestmark = pytest.mark.heavy

TIMEOUT_S = 420
KILL_EPOCH = 2  # worker 1 dies as the first fit's third epoch begins
DIGEST = re.compile(r"model weights sha256 ([0-9a-f]{64})")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_config(ports: list[int], index: int) -> str:
    workers = [f"127.0.0.1:{port}" for port in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def start_workers(config: Path, output: Path, cache: Path, logs: Path, kill=False) -> list:
    ports = free_ports(2)
    command = [sys.executable, __file__, "train", str(config)]
    command += ["--output", str(output), "--strategy", "multi_worker", "--json"]
    workers = []
    for index in range(2):
        env = {
            **os.environ,
            "TF_CONFIG": tf_config(ports, index),
            "MEME_KERAS_CACHE": str(cache),
            "MEME_KERAS_PROGRESS": "0",
            "CUDA_VISIBLE_DEVICES": "",
        }
        if kill:
            env["MEME_KERAS_TEST_KILL"] = "1"
        stream = open(logs / f"worker{index}.log", "w")  # noqa: SIM115 (closed below)
        process = subprocess.Popen(command, env=env, stdout=stream, stderr=subprocess.STDOUT)
        workers.append((process, stream))
    return workers


def wait_for(workers: list, timeout: float = TIMEOUT_S) -> list[int | None]:
    try:
        codes = []
        for process, _ in workers:
            try:
                codes.append(process.wait(timeout=timeout))
            except subprocess.TimeoutExpired:
                codes.append(None)
        return codes
    finally:
        for process, stream in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
            stream.close()


@pytest.fixture(scope="module")
def two_worker_run(tiny_corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("multi_worker")
    config = folder / "tiny_multi_worker.yaml"
    settings = {
        "name": "tiny_multi_worker",
        "data_dir": str(tiny_corpus),
        "model": {"hidden_dim": 16, "num_heads": 2, "intermediate_dim": 16, "dropout": 0.1},
        "text_backbone": {"sequence_length": 32},
        "batch_size": 4,
        "stages": [{"name": "frozen", "train": [], "epochs": 3, "learning_rate": 1e-3}],
        "thresholds": {"folds": 2},
    }
    config.write_text(yaml.safe_dump(settings))
    output = folder / "run"
    codes = wait_for(start_workers(config, output, folder / "cache", folder))
    logs = [(folder / f"worker{index}.log").read_text() for index in range(2)]
    return codes, logs, output, config


def test_both_workers_finish_with_identical_weights(two_worker_run):
    codes, logs, output, _ = two_worker_run
    assert codes == [0, 0], "\n\n".join(log[-3000:] for log in logs)
    digests = [DIGEST.findall(log) for log in logs]
    assert len(digests[0]) == 1 and digests[0] == digests[1]
    provenance = json.loads((output / "provenance.json").read_text())
    assert provenance["model_weights_sha256"] == digests[0][0]


def test_the_workers_trained_the_same_epochs_in_step(two_worker_run):
    _, logs, _, _ = two_worker_run
    epochs = [re.findall(r"epoch (\d+): (\{.*\})", log) for log in logs]
    assert epochs[0] and epochs[0] == epochs[1]  # same epochs, same cross-worker metrics


def test_the_chief_alone_writes_a_complete_run_folder(two_worker_run):
    _, logs, output, _ = two_worker_run
    for name in ("model.keras", "metrics.json", "thresholds.json", "predictions_test.json"):
        assert (output / name).stat().st_size > 0, name
    assert any((output / "logs").rglob("events.out.tfevents.*"))
    assert "as a worker of" in logs[1] and "as a worker of" not in logs[0]
    assert "as a worker of" not in (output / "train.log").read_text()
    assert not list((output / "logs").rglob("backup"))  # the chief deleted its backups


def test_rows_are_split_evenly_across_replicas_with_zero_weight_padding():
    import tensorflow as tf

    inputs = {"x": tf.reshape(tf.range(10.0), (5, 2))}
    labels = tf.constant([[1.0], [2.0], [3.0], [4.0], [5.0]])
    parts = [worker_rows((inputs, labels), replica, 2) for replica in range(2)]
    assert [p[1].numpy().ravel().tolist() for p in parts] == [[1, 3, 5], [2, 4, 1]]
    assert [p[2].numpy().tolist() for p in parts] == [[1, 1, 1], [1, 1, 0]]
    assert parts[1][0]["x"].numpy().tolist() == [[2, 3], [6, 7], [0, 1]]


def test_a_missing_or_foreign_tf_config_is_one_clear_error(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs TF_CONFIG"):
        worker_role()
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1"]}, "task": {"index": 0}}')
    with pytest.raises(ValueError, match="not a cluster and task description"):
        worker_role()
    monkeypatch.setenv(
        "TF_CONFIG", '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}'
    )
    with pytest.raises(ValueError, match="not in the cluster"):
        worker_role()
    cluster = {"chief": ["a:1"], "worker": ["b:1"]}
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})
    )
    assert not worker_role().chief


def test_killed_workers_resume_from_the_chiefs_backup_to_the_same_model(two_worker_run, tmp_path):
    _, reference_logs, _, config = two_worker_run
    output, cache = tmp_path / "run", tmp_path / "cache"
    for attempt in ("killed", "resumed"):
        (tmp_path / attempt).mkdir()
    killed = start_workers(config, output, cache, tmp_path / "killed", kill=True)
    # Worker 1 kills itself; the chief then waits on it in vain and is killed too.
    assert wait_for(killed[1:], TIMEOUT_S) == [-signal.SIGKILL]
    killed[0][0].kill()
    wait_for(killed[:1])
    metadata = next((output / "logs").rglob("training_metadata.json"))
    assert json.loads(metadata.read_text())["epoch"] == KILL_EPOCH

    codes = wait_for(start_workers(config, output, cache, tmp_path / "resumed"))
    logs = [(tmp_path / "resumed" / f"worker{index}.log").read_text() for index in range(2)]
    assert codes == [0, 0], "\n\n".join(log[-3000:] for log in logs)
    for log in logs:  # both workers resumed from the chief's backup
        assert f"{metadata.parent}: resuming at epoch {KILL_EPOCH + 1}" in log
    digests = [DIGEST.findall(log) for log in (*logs, reference_logs[0])]
    assert digests[0] == digests[1] == digests[2]  # as if never killed


class KillWorker1(keras.callbacks.Callback):
    """Kills worker 1 as epoch KILL_EPOCH begins, once the chief's backup holds the epochs
    before it (the backup this worker would resume from)."""

    def __init__(self, chief_backup: Path):
        super().__init__()
        self.chief_backup = chief_backup

    def on_epoch_begin(self, epoch, logs=None):
        if epoch != KILL_EPOCH:
            return
        metadata = self.chief_backup / "training_metadata.json"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if metadata.exists() and json.loads(metadata.read_text())["epoch"] == KILL_EPOCH:
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(0.05)
        raise RuntimeError(f"{metadata}: the chief never backed up epoch {KILL_EPOCH}")


def worker_main(argv: list[str]) -> int:
    from meme_keras import cli
    from meme_keras.training import head_training

    if os.environ.get("MEME_KERAS_TEST_KILL") and worker_role().index == 1:
        fit, fits = head_training.fit, itertools.count()

        def fit_and_die(model, dataset, validation, epochs, callbacks, verbose=0, **options):
            if next(fits) == 0:
                backup = next(c for c in callbacks if hasattr(c, "read_dir"))
                callbacks = [*callbacks, KillWorker1(Path(backup.read_dir))]
            return fit(model, dataset, validation, epochs, callbacks, verbose, **options)

        head_training.fit = fit_and_die
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
