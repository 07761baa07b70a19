"""`make reproduce`'s final configs: each task's final and 2021-only runs, labelled by data."""

from __future__ import annotations

import pytest
from experiment_scripts import load_experiment_script


@pytest.fixture(scope="module")
def reproduce():
    return load_experiment_script("reproduce")


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("main", False),
        ("main_adapted", True),
        ("text_frozen_extra", True),
        ("spans_ptc", True),
        ("spans_ptc_adapted", True),
        ("spans", False),
        ("text_techniques", False),
    ],
)
def test_a_config_uses_extra_data_when_it_adapts_or_adds_corpora(reproduce, name, extra):
    assert reproduce.uses_extra_data(reproduce.configured(name)) is extra
    assert reproduce.data_label(name) == ("with extra data" if extra else "2021 data only")


def test_final_configs_are_of_their_task_and_the_2021_only_ones_use_no_extra_data(reproduce):
    for task, (final, only_2021) in reproduce.FINAL_CONFIGS.items():
        assert reproduce.configured(final).task == task
        assert reproduce.configured(only_2021).task == task
        assert not reproduce.uses_extra_data(reproduce.configured(only_2021))


def test_2021_only_runs_are_trained_only_when_asked_and_different(reproduce, monkeypatch):
    monkeypatch.setitem(reproduce.FINAL_CONFIGS, "techniques", ("main_adapted", "main"))
    assert reproduce.final_runs("techniques", with_2021_only=False) == ["main_adapted"]
    assert reproduce.final_runs("techniques", with_2021_only=True) == ["main_adapted", "main"]
    monkeypatch.setitem(reproduce.FINAL_CONFIGS, "techniques", ("main", "main"))
    assert reproduce.final_runs("techniques", with_2021_only=True) == ["main"]


def test_later_tasks_train_in_one_process_beside_and_a_failure_names_its_log(
    reproduce, monkeypatch, tmp_path
):
    started = []

    class FakeProcess:
        code = 1

        def __init__(self, command, stdout, stderr):
            started.append(command)

        def wait(self):
            return self.code

    monkeypatch.setattr(reproduce, "REPOSITORY", tmp_path)
    monkeypatch.setattr(reproduce.subprocess, "Popen", FakeProcess)
    process, log = reproduce.start_beside(["spans", "text_techniques"], True, False)
    (command,) = started
    assert command[command.index("--tasks") + 1 :][:2] == ["spans", "text_techniques"]
    assert {"--one-by-one", "--no-summary", "--retrain", "--references-elsewhere"} <= set(command)
    assert "--with-2021-only" not in command
    assert log == tmp_path / "runs" / "reproduce_spans_text_techniques.log" and log.exists()
    with pytest.raises(SystemExit, match="reproduce_spans_text_techniques.log"):
        reproduce.wait_beside(process, log)
    FakeProcess.code = 0
    started.clear()
    reproduce.wait_beside(*reproduce.start_beside(["text_techniques"], False, True))
    assert all("--retrain" not in c and "--with-2021-only" in c for c in started)
    assert "--ahead-of" not in started[0]
    reproduce.start_beside(["spans"], False, False, ahead_of="techniques")
    assert started[-1][started[-1].index("--ahead-of") + 1] == "techniques"


@pytest.mark.parametrize("adapting", [True, False])
def test_the_reference_runs_train_in_the_process_that_would_otherwise_wait(
    reproduce, monkeypatch, adapting
):
    """Cold (the first task's backbone still to adapt): the second process caches the first
    task's image features and trains every reference run; the first reads them. Warm: the
    first process trains them after its task, as the second's chain is the longer."""
    calls = []
    monkeypatch.setattr(
        reproduce, "adaptations_needed", lambda tasks, _: ["main_adapted"] * adapting
    )
    monkeypatch.setattr(
        reproduce, "start_beside", lambda *args: calls.append(("beside", args[-1])) or (0, 0)
    )
    monkeypatch.setattr(reproduce, "wait_beside", lambda *args: calls.append(("wait",)))
    monkeypatch.setattr(reproduce, "adapt_in_child", lambda names: calls.append(("adapt", names)))
    monkeypatch.setattr(
        reproduce, "cache_image_features_of", lambda task, _: calls.append(("images", task))
    )
    monkeypatch.setattr(
        reproduce, "train_references", lambda tasks, reuse: calls.append(("references", tasks))
    )
    for task in reproduce.TASKS:
        monkeypatch.setitem(
            reproduce.TASKS,
            task,
            lambda *a, references, task=task: calls.append((task, references)) or [],
        )

    def run(*arguments):
        calls.clear()
        monkeypatch.setattr(reproduce.sys, "argv", ["reproduce.py", *arguments, "--no-summary"])
        reproduce.main()
        return calls

    first = run()
    adapted = ["main_adapted"] * adapting
    if adapting:
        assert first == [
            ("beside", "techniques"),
            ("adapt", adapted),
            ("techniques", "read"),
            ("wait",),
            ("spans", "read"),
            ("text_techniques", "read"),
        ]
    else:
        assert first == [
            ("beside", None),
            ("adapt", []),
            ("techniques", "train"),
            ("references", ["spans", "text_techniques"]),
            ("wait",),
            ("spans", "train"),
            ("text_techniques", "train"),
        ]
    monkeypatch.setattr(reproduce, "adaptations_needed", lambda tasks, _: [])
    second = ["--tasks", "spans", "text_techniques", "--one-by-one", "--references-elsewhere"]
    assert run(*second, "--ahead-of", "techniques") == [
        ("images", "techniques"),
        ("adapt", []),
        ("spans", "skip"),
        ("references", ["techniques", "spans", "text_techniques"]),
        ("text_techniques", "skip"),
    ]


def test_the_first_tasks_adaptation_runs_in_a_process_of_its_own_until_cached(
    reproduce, monkeypatch, tmp_path
):
    monkeypatch.setenv("MEME_KERAS_CACHE", str(tmp_path))
    monkeypatch.setitem(reproduce.FINAL_CONFIGS, "techniques", ("main_adapted_lr2e-4", "main"))
    assert reproduce.adaptations_needed(["techniques"], True) == ["main_adapted_lr2e-4"]
    assert reproduce.adaptations_needed(["spans"], True) == []
    started = []

    class Finished:
        def __init__(self, code):
            self.returncode = code

    def run(command, env):
        started.append(command)
        assert env["TF_NUM_INTRAOP_THREADS"] == env["TF_NUM_INTEROP_THREADS"] == "1"
        return Finished(1)

    monkeypatch.setattr(reproduce.subprocess, "run", run)
    reproduce.adapt_in_child([])
    assert started == []
    with pytest.raises(SystemExit, match="main_adapted_lr2e-4"):
        reproduce.adapt_in_child(["main_adapted_lr2e-4"])
    (command,) = started
    assert command[command.index("--adapt-only") + 1 :] == ["main_adapted_lr2e-4"]
    text = reproduce.configured("main_adapted_lr2e-4")["text_backbone"]
    from meme_keras.backbones.adapted_text import RECORD, adapted_folder

    folder = adapted_folder(text)
    folder.mkdir(parents=True)
    (folder / RECORD).write_text("{}")
    assert reproduce.adaptations_needed(["techniques"], False) == []


def test_a_task_trains_reads_or_skips_its_reference_run(reproduce, monkeypatch, tmp_path):
    trained = []

    def fake_train(name, reuse):
        trained.append(name if reuse else f"{name} again")
        return {"test": {"micro_f1": 0.5, "macro_f1": 0.1}}

    monkeypatch.setattr(reproduce, "train", fake_train)
    monkeypatch.setattr(reproduce, "constant_top_k_scores", lambda config, k: {})
    final = reproduce.FINAL_CONFIGS["text_techniques"][0]
    reproduce.text_task(tmp_path, reuse=True, with_2021_only=False, references="skip")
    assert trained == [final]
    assert "linear probe" not in (tmp_path / "text_results.md").read_text()
    trained.clear()
    reproduce.train_references(["spans", "text_techniques"], reuse=True)
    assert trained == ["text_linear_probe"]
    trained.clear()
    reproduce.text_task(tmp_path, reuse=True, with_2021_only=False)
    assert trained == [final, "text_linear_probe"]
    assert "linear probe" in (tmp_path / "text_results.md").read_text()
    trained.clear()
    reproduce.text_task(tmp_path, reuse=False, with_2021_only=False, references="read")
    assert trained == [f"{final} again", "text_linear_probe"]  # read: another process trains it


def test_a_run_folder_trains_in_one_process_at_a_time(reproduce, monkeypatch, tmp_path):
    import threading
    from types import SimpleNamespace

    from meme_keras.folder_lock import folder_lock

    trained = []
    monkeypatch.setattr(reproduce, "REPOSITORY", tmp_path)
    monkeypatch.setattr(reproduce, "configured", lambda name: SimpleNamespace(name=name))
    monkeypatch.setattr(
        reproduce, "train_config", lambda config, output, **kwargs: trained.append(output) or {}
    )
    with folder_lock(tmp_path / "runs" / "linear_probe", "training it"):  # "another process"
        waiting = threading.Thread(target=reproduce.train, args=("linear_probe", True))
        waiting.start()
        waiting.join(timeout=2)
        assert waiting.is_alive() and trained == []
    waiting.join(timeout=30)
    assert trained == [tmp_path / "runs" / "linear_probe"]
    assert not list((tmp_path / "runs").glob("[!.]*"))  # the lock file is hidden
