"""End to end on a tiny corpus: train folds, tune, predict, reload, evaluate, export."""

from __future__ import annotations

import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np
import pytest

from meme_keras import cli
from meme_keras.data.corpus import load_split
from meme_keras.evaluation.prediction_files import evaluate_prediction_file
from meme_keras.inference.technique_model import TechniqueModel
from meme_keras.training.classifier_run import run_classifier


@pytest.fixture(scope="module")
def tiny_run(tiny_techniques_run, monkeypatch_module, feature_cache):
    """The session's tiny subtask-3 run (test_tasks.py reads it too: tests/conftest.py)."""
    monkeypatch_module.setenv("MEME_KERAS_CACHE", str(feature_cache))
    return tiny_techniques_run


def test_run_folder_has_everything(tiny_run):
    _, output, metrics = tiny_run
    for name in (
        "model.keras",
        "config.yaml",
        "thresholds.json",
        "metrics.json",
        "provenance.json",
        "predictions_dev.json",
        "predictions_test.json",
        "threshold_sweep.csv",
        "threshold_sweep.png",
        "per_label_test.csv",
    ):
        assert (output / name).stat().st_size > 0, name
    assert any((output / "logs").rglob("events.out.tfevents.*"))
    provenance = json.loads((output / "provenance.json").read_text())
    assert provenance["packages"]["keras"] == keras.__version__
    assert len(provenance["data_sha256"]) == 3
    assert 0.0 <= metrics["test"]["micro_f1"] <= 1.0
    from meme_keras.evaluation.ranking import mean_average_precision

    assert metrics["out_of_fold_mean_average_precision"] == pytest.approx(
        mean_average_precision(
            np.load(output / "gold_tuning.npy"), np.load(output / "probabilities_tuning.npy")
        )
    )


def test_the_model_averages_the_fold_models_and_their_frozen_companions(tiny_run):
    _, output, _ = tiny_run
    model = keras.saving.load_model(output / "model.keras")
    staged, companions = model.get_layer("fold_ensemble"), model.get_layer("frozen_companions")
    assert len(companions.layers) == len(staged.layers)  # one companion per fold model
    rng = np.random.default_rng(0)
    inputs = {
        name: rng.normal(size=(3, *(5 if n is None else n for n in tensor.shape[1:])))
        for name, tensor in model.input.items()
    }
    inputs["padding_mask"] = np.ones(inputs["padding_mask"].shape, "int32")
    both = (staged.predict(inputs, verbose=0) + companions.predict(inputs, verbose=0)) / 2
    np.testing.assert_allclose(model.predict(inputs, verbose=0), both, atol=1e-6)
    assert (output / "logs" / "fold_0" / "frozen_companion").is_dir()


@pytest.fixture(scope="module")
def predictor(tiny_run):
    """The tiny run reloaded once, for the tests that only read from it."""
    _, output, _ = tiny_run
    return TechniqueModel(output)


def test_test_scores_are_recomputed_from_the_prediction_file(tiny_run, tiny_corpus):
    _, output, metrics = tiny_run
    predictions = json.loads((output / "predictions_test.json").read_text())
    assert [p["id"] for p in predictions] == [m.id for m in load_split("test", 3, tiny_corpus)]
    scores = evaluate_prediction_file(
        output / "predictions_test.json", "test", data_dir=tiny_corpus
    )
    assert scores == pytest.approx(metrics["test"])


def test_model_reloads_with_the_same_outputs(tiny_run, tiny_corpus, predictor):
    _, output, _ = tiny_run
    memes = load_split("test", 3, tiny_corpus)
    probabilities = predictor.probabilities(memes)
    assert np.allclose(probabilities, np.load(output / "probabilities_test.npy"), atol=1e-5)


def test_prediction_in_chunks_matches_one_pass(tiny_corpus, predictor):
    memes = load_split("test", 3, tiny_corpus)
    assert len(memes) >= 3
    whole = predictor.probabilities(memes, chunk_size=len(memes), cache_dir=None)
    chunked = predictor.probabilities(memes, chunk_size=2, cache_dir=None)
    assert chunked.shape == (len(memes), len(predictor.techniques))
    np.testing.assert_allclose(chunked, whole, atol=1e-5)
    assert predictor.probabilities([], cache_dir=None).shape == (0, len(predictor.techniques))


def test_cli_predict_and_evaluate(tiny_run, tiny_corpus, tmp_path, capsys):
    _, output, metrics = tiny_run
    target = tmp_path / "predictions.json"
    argv = ["predict", "--run", str(output), "--split", "test", "--data-dir", str(tiny_corpus)]
    assert cli.main([*argv, "--output", str(target)]) == 0
    assert json.loads(target.read_text()) == json.loads(
        (output / "predictions_test.json").read_text()
    )
    assert cli.main(["evaluate", str(target), "--data-dir", str(tiny_corpus)]) == 0
    printed = capsys.readouterr().out
    printed = json.loads(printed[printed.index("\n{") + 1 :])  # after predict's own view
    assert printed["micro_f1"] == pytest.approx(metrics["test"]["micro_f1"])


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    assert cli.main(["evaluate", str(broken)]) == cli.EXIT_BAD_INPUT
    error = capsys.readouterr().err.strip()
    assert "broken.json" in error and "malformed" in error and "\n" not in error


def test_cli_evaluate_names_span_records_given_to_a_techniques_task(
    tiny_run, tiny_corpus, tmp_path, capsys
):
    _, output, _ = tiny_run
    records = json.loads((output / "predictions_test.json").read_text())
    records[1]["labels"] = [{"start": 0, "end": 4, "technique": "Smears"}]
    spans = tmp_path / "spans.json"
    spans.write_text(json.dumps(records))
    argv = ["evaluate", str(spans), "--data-dir", str(tiny_corpus)]
    assert cli.main(argv) == cli.EXIT_BAD_INPUT
    error = capsys.readouterr().err.strip()
    assert "spans.json" in error and records[1]["id"] in error and "--task spans" in error
    assert "\n" not in error


def test_exported_saved_model_matches_keras_in_a_fresh_process(
    tiny_corpus, tiny_techniques_served, predictor
):
    expected = predictor.probabilities(load_split("test", 3, tiny_corpus))
    served = tiny_techniques_served["outputs"]
    assert np.allclose(served["probabilities"], expected, atol=1e-4)
    decisions = predictor.thresholds.apply(np.asarray(served["probabilities"]))
    assert np.array_equal(served["decisions"], decisions)


def test_the_saved_model_refuses_bad_batches_naming_their_rows(tiny_techniques_served):
    refusals = tiny_techniques_served["refusals"]
    assert "one entry per meme" in refusals["sizes"]
    assert re.search(r"not a JPEG.* at rows\] \[1\]", refusals["not_an_image"])
    assert re.search(r"empty text at rows\] \[0 2\]", refusals["empty_text"])


def test_four_threads_get_what_serial_calls_get(tiny_run, tiny_corpus, tiny_techniques_export):
    import tensorflow as tf

    _, output, _ = tiny_run
    memes = load_split("test", 3, tiny_corpus)
    batches = [memes[shift:] + memes[:shift] for shift in range(4)]  # a different batch each

    def served_by(saved_model):
        serve = saved_model.signatures["serving_default"]

        def served(batch):
            images = tf.constant([meme.image_path.read_bytes() for meme in batch])
            texts = tf.constant([meme.text for meme in batch])
            return serve(image_bytes=images, text=texts)["probabilities"].numpy()

        return served

    # A fresh model's first calls are concurrent; the same model then answers serially.
    for load in (
        lambda: TechniqueModel(output).probabilities,
        lambda: served_by(tf.saved_model.load(str(tiny_techniques_export))),
    ):
        predict = load()
        with ThreadPoolExecutor(4) as pool:
            concurrent = list(pool.map(predict, batches * 3))
        serial = [predict(batch) for batch in batches]
        for got, expected in zip(concurrent, serial * 3, strict=True):
            assert np.allclose(got, expected, atol=1e-6)


def _meme_folder(tmp_path, tiny_corpus, broken: bool):
    folder = tmp_path / "memes"
    folder.mkdir()
    for meme in load_split("test", 3, tiny_corpus)[:2]:
        (folder / meme.image_path.name).write_bytes(meme.image_path.read_bytes())
        (folder / f"{meme.image_path.stem}.txt").write_text(meme.text, encoding="utf-8")
    if broken:
        (folder / "broken.png").write_bytes(b"not an image at all")
        (folder / "broken.txt").write_text("SOME TEXT", encoding="utf-8")
    return folder


def test_cli_predict_folder_stops_on_bad_memes_unless_skipping(tiny_run, tiny_corpus, tmp_path):
    _, output, _ = tiny_run
    folder = _meme_folder(tmp_path, tiny_corpus, broken=True)
    target = tmp_path / "folder_predictions.json"
    argv = ["predict", "--run", str(output), "--folder", str(folder), "--output", str(target)]
    assert cli.main(argv) == cli.EXIT_BAD_INPUT
    assert not target.exists()
    assert cli.main([*argv, "--skip-invalid"]) == 0
    assert len(json.loads(target.read_text())) == 2
    skipped = json.loads(target.with_name(target.name + ".skipped.json").read_text())
    assert [Path(entry["file"]).name for entry in skipped] == ["broken.png"]


def test_cli_data_summary_counts_the_corpus(tiny_corpus, capsys):
    assert cli.main(["data", "summary", "--data-dir", str(tiny_corpus)]) == 0
    printed = capsys.readouterr().out
    assert "train" in printed and "Smears" in printed


def test_a_finished_run_is_reused_and_a_changed_one_retrained(tiny_run, tmp_path, monkeypatch):
    from meme_keras.training import classifier_run

    config, trained, _ = tiny_run
    output = tmp_path / "tiny"
    shutil.copytree(trained, output)  # the session's run stays as it was for the other tests
    assert (output / "run_key.json").exists()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(classifier_run, "train_and_tune", no_training)
    assert run_classifier(config, output, reuse_finished=True) == json.loads(
        (output / "metrics.json").read_text()
    )
    # Without reuse, or with anything in the key changed, it trains (and here, fails).
    with pytest.raises(AssertionError, match="trained again"):
        run_classifier(config, output)
    assert not (output / "run_key.json").exists()  # forgotten before training started
    with pytest.raises(AssertionError, match="trained again"):
        run_classifier({**config, "seed": config["seed"] + 1}, output, reuse_finished=True)


def test_run_key_follows_config_data_and_source(tmp_path):
    from meme_keras.training.finished_runs import run_key

    data = tmp_path / "data.txt"
    data.write_text("a")
    script = tmp_path / "experiment.py"
    script.write_text("x = 1")
    key = run_key({"seed": 1}, [data], [script])
    assert key == run_key({"seed": 1}, [data], [script])
    assert key != run_key({"seed": 2}, [data], [script])
    script.write_text("x = 2")
    edited = run_key({"seed": 1}, [data], [script])
    assert edited != key
    data.write_text("b")
    assert run_key({"seed": 1}, [data], [script]) not in (key, edited)


def test_replacing_a_finished_run_drops_its_logs_but_a_killed_run_keeps_them(tmp_path):
    from meme_keras.training.finished_runs import KEY_FILE, forget_finished, mark_finished

    finished, killed = tmp_path / "finished", tmp_path / "killed"
    for run in (finished, killed):
        (run / "logs" / "fold_0" / "backup").mkdir(parents=True)
        (run / "metrics.json").write_text("{}")
    mark_finished(finished, "key")
    forget_finished(finished)
    assert not (finished / KEY_FILE).exists()
    assert not (finished / "logs").exists()  # the old run's event files would mix in
    assert (finished / "metrics.json").exists()
    forget_finished(killed)
    assert (killed / "logs" / "fold_0" / "backup").is_dir()  # what it resumes from


def test_a_run_whose_decision_rule_was_edited_is_not_reused(tmp_path):
    from meme_keras.training.finished_runs import finished_metrics, mark_finished

    run = tmp_path / "run"
    run.mkdir()
    for name in ("model.keras", "config.yaml", "thresholds.json", "predictions_test.json"):
        (run / name).write_text(name)
    (run / "metrics.json").write_text("{}")
    mark_finished(run, "key")
    assert finished_metrics(run, "key") == {}
    (run / "thresholds.json").write_text('{"edited": true}')
    assert finished_metrics(run, "key") is None
