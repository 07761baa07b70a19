"""The one task interface: each task trains end to end on a tiny corpus through `mk.train`,
and its run folder predicts through `mk.load` and the CLI with no corpus present."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from fine_tuning_runs import TINY_MODEL

import meme_keras as mk
from meme_keras.cli import main as cli
from meme_keras.data.corpus import load_split

TEXT_TECHNIQUES = {
    "task": "text_techniques",
    "name": "text_techniques",
    "model": {"type": "text", **TINY_MODEL},
    "stages": [{"name": "frozen", "train": [], "epochs": 2, "learning_rate": 1e-3}],
    "thresholds": {"folds": 2},
}
TASKS = ["techniques", "text_techniques", "spans"]
SUBTASK = {"techniques": 3, "text_techniques": 1, "spans": 2}


@pytest.fixture(scope="module")
def runs(
    tiny_corpus,
    tmp_path_factory,
    monkeypatch_module,
    feature_cache,
    tiny_techniques_run,
    tiny_spans_run,
):
    """One tiny run per task, trained through the public `mk.train` (the techniques and spans
    runs are the session's, shared with other test files: tests/conftest.py)."""
    monkeypatch_module.setenv("MEME_KERAS_CACHE", str(feature_cache))
    text_run = tmp_path_factory.mktemp("runs") / "text_techniques"
    config = {**TEXT_TECHNIQUES, "data_dir": str(tiny_corpus)}
    return {
        "techniques": tiny_techniques_run[1:],
        "text_techniques": (text_run, mk.train(config, output=text_run, verbose=0)),
        "spans": tiny_spans_run,
    }


@pytest.mark.parametrize("task", TASKS)
def test_each_task_trains_end_to_end_and_records_its_task(runs, task):
    run, metrics = runs[task]
    assert mk.load_config(run / "config.yaml").task == task
    predictions = json.loads((run / "predictions_test.json").read_text())
    assert len(predictions) == 5
    scores = metrics["tagger"]["test"] if task == "spans" else metrics["test"]
    key = "f1" if task == "spans" else "micro_f1"
    assert 0.0 <= scores[key] <= 1.0


@pytest.mark.parametrize("task", TASKS)
def test_a_loaded_run_predicts_what_the_run_wrote(runs, tiny_corpus, task):
    run, _ = runs[task]
    model = mk.load(run)
    assert model.task == task
    memes = load_split("test", SUBTASK[task], tiny_corpus, check_images=task == "techniques")
    images = [m.image_path for m in memes] if task == "techniques" else None
    kwargs = {"images": images} if images else {}
    predicted = model.predict(texts=[m.text for m in memes], ids=[m.id for m in memes], **kwargs)
    written = json.loads((run / "predictions_test.json").read_text())
    assert [p["id"] for p in predicted] == [w["id"] for w in written]
    assert [p["labels"] for p in predicted] == [w["labels"] for w in written]
    if task != "spans":
        probabilities = np.array([list(p["probabilities"].values()) for p in predicted])
        np.testing.assert_allclose(
            probabilities, np.load(run / "probabilities_test.npy"), atol=2e-4
        )
        assert list(predicted[0]["probabilities"]) == list(model.techniques)


def test_a_multimodal_run_names_the_row_without_an_image(runs, tiny_corpus, tiny_needs_images_run):
    model = mk.load(tiny_needs_images_run)
    image = next((tiny_corpus / "images" / "test").iterdir()).read_bytes()
    with pytest.raises(ValueError, match=r"row 1 \(id '1'\): this model needs an image"):
        model.predict(texts=["a", "b"], images=[image, None])
    with pytest.raises(ValueError, match="row 0 .*not an image"):
        model.predict(texts=["hello"], images=[b"garbage"])
    with pytest.raises(ValueError, match="2 images for 3 texts"):
        model.predict(texts=["a", "b", "c"], images=[b"x", b"y"])
    with pytest.raises(ValueError, match="row 0 .*text is empty"):
        mk.load(runs["text_techniques"][0]).predict(texts=[" "])


def test_cli_predicts_a_users_json_of_texts_without_the_corpus(
    runs, tiny_needs_images_run, tmp_path, monkeypatch
):
    monkeypatch.setenv("MEME_KERAS_DATA", str(tmp_path / "no_corpus_here"))
    memes = [
        {"id": "u1", "text": "THEY WANT TO TAKE YOUR GUNS\nWAKE UP", "labels": ["ignored"]},
        {"id": "u2", "text": "Vote for the only honest man in Washington"},
    ]
    source = tmp_path / "memes.json"
    source.write_text(json.dumps(memes))
    for task in ("text_techniques", "spans"):
        output = tmp_path / f"{task}.json"
        args = ["predict", "--run", str(runs[task][0]), "--input", str(source)]
        assert cli([*args, "--output", str(output), "--show", "2"]) == 0
        predictions = json.loads(output.read_text())
        assert [p["id"] for p in predictions] == ["u1", "u2"]
        assert cli(["show", str(output)]) == 0  # the file holds what show needs
    # A run that needs images and a meme without one: one line naming the file and the id.
    output = tmp_path / "techniques.json"
    run = str(tiny_needs_images_run)
    assert cli(["predict", "--run", run, "--input", str(source), "--output", str(output)]) == 2


def test_show_works_on_span_predictions_and_technique_predictions(runs, capsys):
    assert cli(["show", str(runs["spans"][0] / "predictions_test.json"), "--count", "2"]) == 0
    assert cli(["show", str(runs["techniques"][0] / "predictions_test.json")]) == 0
    shown = capsys.readouterr().out
    assert "meme" in shown and "techniques:" in shown


def test_retuning_writes_a_new_run_and_leaves_the_trained_one_as_it_is(runs, tmp_path):
    run = runs["techniques"][0]
    before = {name: (run / name).read_bytes() for name in ("thresholds.json", "metrics.json")}
    new = tmp_path / "retuned"
    args = ["tune-thresholds", "--run", str(run), "--mode", "per_label", "--objective", "mix"]
    assert cli([*args, "--macro-weight", "0.5", "--output", str(new)]) == 0
    assert {name: (run / name).read_bytes() for name in before} == before
    assert json.loads((new / "thresholds.json").read_text())["mode"] == "per_label"
    retuned = mk.load(new)
    assert retuned.thresholds.mode == "per_label"
    assert cli([*args, "--output", str(run)]) == 2  # never onto the trained run
    assert not (new / "run_key.json").exists()


def test_version_and_help_texts(capsys):
    with pytest.raises(SystemExit):
        cli(["--version"])
    assert mk.__version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli(["predict", "--help"])
    assert "(default: 3)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli(["train", "--help"])
    shown = capsys.readouterr().out
    assert "(default: None)" not in shown and shown.count("(default:") == 2


def test_inference_never_imports_training(runs):
    """A fresh process that loads and predicts with a run imports no training module."""
    script = textwrap.dedent(
        f"""
        import sys
        import meme_keras as mk
        model = mk.load({str(runs["text_techniques"][0])!r})
        model.predict(texts=["hello world"])
        mk.load({str(runs["spans"][0])!r}).predict(texts=["hello world"])
        loaded = sorted(m for m in sys.modules if m.startswith("meme_keras.training"))
        print("TRAINING", loaded)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "TRAINING []" in result.stdout


def test_config_typo_stops_training_before_anything_runs(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("task: spans\nepochz: 3\n")
    assert cli(["train", str(path), "--output", str(tmp_path / "run")]) == 2
    assert not (tmp_path / "run").exists()


def test_package_root_exposes_the_api():
    assert {"load", "train", "load_config", "__version__"} <= set(dir(mk))
    assert Path(mk.__file__).name == "__init__.py"


def test_a_text_run_predicts_a_folder_of_captions_without_images(runs, tmp_path):
    folder = tmp_path / "captions"
    folder.mkdir()
    (folder / "a.txt").write_text("WAKE UP SHEEPLE")
    output = tmp_path / "spans.json"
    args = ["predict", "--run", str(runs["spans"][0]), "--folder", str(folder)]
    assert cli([*args, "--output", str(output)]) == 0
    assert json.loads(output.read_text())[0]["text"] == "WAKE UP SHEEPLE"


def test_a_meme_record_without_an_image_is_refused_by_row(tiny_needs_images_run):
    from meme_keras.data.meme import Meme

    model = mk.load(tiny_needs_images_run)
    with pytest.raises(ValueError, match=r"row 0 \(id 'z'\): this model needs an image"):
        model.predict_memes([Meme("z", "hello")])


def test_a_text_run_exports_a_savedmodel_that_ignores_image_bytes(runs, tmp_path):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)

    from meme_keras.export.saved_model import export_run

    run = runs["text_techniques"][0]
    export_run(run, tmp_path / "saved")
    served = tf.saved_model.load(str(tmp_path / "saved"))
    texts = ["THEY WANT YOUR GUNS", "Vote for the only honest man"]
    outputs = served.signatures["serving_default"](
        image_bytes=tf.constant(["", ""]), text=tf.constant(texts)
    )
    expected = mk.load(run).predict(texts=texts)
    probabilities = [list(p["probabilities"].values()) for p in expected]
    np.testing.assert_allclose(outputs["probabilities"].numpy(), probabilities, atol=2e-4)


@pytest.mark.parametrize("task", TASKS)
def test_evaluate_takes_the_task_from_the_run(runs, tiny_corpus, task, capsys):
    run, metrics = runs[task]
    args = ["evaluate", str(run / "predictions_test.json"), "--run", str(run)]
    assert cli([*args, "--data-dir", str(tiny_corpus)]) == 0
    scores = json.loads(capsys.readouterr().out)
    expected = metrics["tagger"]["test"]["f1"] if task == "spans" else metrics["test"]["micro_f1"]
    assert scores["f1" if task == "spans" else "micro_f1"] == pytest.approx(expected)
