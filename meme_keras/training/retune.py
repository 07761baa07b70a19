"""Re-tunes a trained techniques run's decision rule into a new run folder.

The trained run is never rewritten: its thresholds, predictions and metrics stay consistent
with each other. The new folder holds the same model with the new rule, its test predictions
and metrics recomputed from the stored probabilities, and no run key (so `make reproduce`
never takes it for a trained run).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from meme_keras.atomic_files import write_json_atomically
from meme_keras.data.corpus import default_data_dir, load_split
from meme_keras.evaluation.multilabel_f1 import labels_to_multi_hot, multilabel_scores
from meme_keras.evaluation.technique_predictions import write_technique_predictions
from meme_keras.inference.run_folder import (
    RUN_TEXT_BACKBONE,
    keep_text_backbone,
    read_run_config,
)
from meme_keras.tasks import get_task
from meme_keras.thresholds import (
    TunedThresholds,
    plot_threshold_sweep,
    tune_thresholds,
    write_sweep,
)

NEEDED = ("model.keras", "thresholds.json", "gold_tuning.npy", "probabilities_tuning.npy")
COPIED = (
    "config.yaml",
    "model.keras",
    "provenance.json",
    "probabilities_tuning.npy",
    "gold_tuning.npy",
    "probabilities_test.npy",
    "probabilities_test_fold_ensemble.npy",  # a refit or soup run's fold ensemble, scored beside it
)


def retune_run(run_dir, output_dir, **rule) -> dict:
    """Copies the run to `output_dir` with thresholds tuned by `rule` (mode, objective,
    macro_weight, min_labels_per_meme); returns the new out-of-fold and test scores."""
    run_dir, output_dir = Path(run_dir), Path(output_dir)
    config = read_run_config(run_dir, NEEDED)
    if config.task == "spans":
        raise ValueError(f"{run_dir}: only techniques runs have a decision rule to re-tune")
    if output_dir.resolve() == run_dir.resolve():
        raise ValueError(f"{output_dir}: write the re-tuned run to a new folder, not the run")
    if output_dir.exists() and any(output_dir.iterdir()):
        raise ValueError(f"{output_dir}: already exists and is not empty")
    previous = TunedThresholds.from_json(run_dir / "thresholds.json")
    tuned = tune_thresholds(
        np.load(run_dir / "gold_tuning.npy"),
        np.load(run_dir / "probabilities_tuning.npy"),
        min_support=previous.min_support,
        techniques=previous.techniques,
        **rule,
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        if (run_dir / name).exists():
            shutil.copy2(run_dir / name, output_dir / name)
    if (run_dir / RUN_TEXT_BACKBONE).is_dir():
        keep_text_backbone(run_dir / RUN_TEXT_BACKBONE, output_dir)
    tuned.to_json(output_dir / "thresholds.json")
    write_sweep(tuned.sweep, output_dir / "threshold_sweep.csv")
    plot_threshold_sweep(
        tuned.sweep, output_dir / "threshold_sweep.png", chosen=tuned.global_threshold
    )
    metrics = (
        json.loads((run_dir / "metrics.json").read_text())
        if (run_dir / "metrics.json").exists()
        else {}
    )
    metrics.update(
        thresholds={
            "mode": tuned.mode,
            "objective": tuned.objective,
            "macro_weight": tuned.macro_weight,
            "global": tuned.global_threshold,
        },
        out_of_fold=tuned.metrics,
        retuned_from=str(run_dir),
    )
    test_probabilities = run_dir / "probabilities_test.npy"
    if test_probabilities.exists():
        task = get_task(config.task)
        memes = load_split(
            "test", task.subtask, config.data_dir or default_data_dir(), check_images=False
        )
        probabilities = np.load(test_probabilities)
        decisions = tuned.apply(probabilities)
        gold = labels_to_multi_hot([meme.labels for meme in memes], tuned.techniques)
        metrics["test"] = multilabel_scores(gold, decisions)
        ensemble = run_dir / "probabilities_test_fold_ensemble.npy"
        if ensemble.exists():
            metrics["test_fold_ensemble"] = multilabel_scores(gold, tuned.apply(np.load(ensemble)))
        write_technique_predictions(
            memes, decisions, tuned.techniques, output_dir / "predictions_test.json", probabilities
        )
    write_json_atomically(metrics, output_dir / "metrics.json")
    return {"out_of_fold": tuned.metrics, "test": metrics.get("test")}
