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


def test_later_tasks_train_side_by_side_and_a_failure_names_its_log(
    reproduce, monkeypatch, tmp_path
):
    started = []

    class FakeProcess:
        def __init__(self, command, stdout, stderr):
            started.append(command)
            self.task = command[command.index("--tasks") + 1]

        def wait(self):
            return 1 if self.task == "text_techniques" else 0

    monkeypatch.setattr(reproduce, "REPOSITORY", tmp_path)
    monkeypatch.setattr(reproduce.subprocess, "Popen", FakeProcess)
    with pytest.raises(SystemExit, match="reproduce_text_techniques.log"):
        reproduce.train_side_by_side(["spans", "text_techniques"], True, False)
    assert [command[3] for command in started] == ["spans", "text_techniques"]
    assert all({"--one-by-one", "--no-summary", "--retrain"} <= set(c) for c in started)
    assert (tmp_path / "runs" / "reproduce_spans.log").exists()
    started.clear()
    monkeypatch.setattr(FakeProcess, "wait", lambda self: 0)
    reproduce.train_side_by_side(["spans", "text_techniques"], False, True)
    assert all("--retrain" not in c and "--with-2021-only" in c for c in started)
