"""The main task end to end: features -> fold heads -> thresholds -> test scores -> run folder.

Every choice (epochs by early stopping, the decision threshold) is made on train+dev through
cross-validation folds; test is predicted once, at the end, by the average of the fold heads.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import keras
import numpy as np
import yaml

from meme_keras.data.corpus import SPLIT_FILES, default_data_dir, load_split
from meme_keras.data.techniques import read_techniques
from meme_keras.evaluation.multilabel_f1 import (
    multilabel_scores,
    per_label_table,
    top_k_constant_prediction,
)
from meme_keras.evaluation.technique_predictions import (
    write_json_atomically,
    write_technique_predictions,
)
from meme_keras.thresholds import plot_threshold_sweep, tune_thresholds, write_sweep
from meme_keras.training.feature_sets import FeatureSet, build_feature_set
from meme_keras.training.head_training import average_heads, cross_validate_heads
from meme_keras.training.length_bucketed_batches import predict_features
from meme_keras.training.provenance import provenance

log = logging.getLogger(__name__)


def load_feature_sets(config: dict, techniques, splits=("train", "dev", "test"), **kwargs):
    data_dir = config["data_dir"] or default_data_dir()
    return {
        split: build_feature_set(load_split(split, 3, data_dir), techniques, config, **kwargs)
        for split in splits
    }


def tune_on_folds(config: dict, pool: FeatureSet, techniques, log_dir: Path | None):
    """Out-of-fold probabilities, tuned thresholds and the fold heads (the frozen stage)."""
    settings = config["thresholds"]
    stage = config["stages"][0]
    out_of_fold, heads = cross_validate_heads(
        pool, config, stage, len(techniques), settings["folds"], log_dir
    )
    tuned = tune_thresholds(
        pool.labels.astype(np.int32),
        out_of_fold,
        mode=settings["mode"],
        objective=settings["objective"],
        macro_weight=settings["macro_weight"],
        min_support=settings["min_support"],
        min_labels_per_meme=settings["min_labels_per_meme"],
        techniques=techniques,
    )
    return out_of_fold, tuned, heads


def run_classifier(config: dict, output_dir: str | Path, verbose: int = 0) -> dict:
    """Trains, tunes and evaluates the configured classifier; writes the run folder."""
    started = time.perf_counter()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config["seed"])
    data_dir = Path(config["data_dir"] or default_data_dir())
    techniques = read_techniques(data_dir, "multimodal")
    sets = load_feature_sets(config, techniques, verbose=verbose)
    pool = FeatureSet.concatenate([sets["train"], sets["dev"]])

    out_of_fold, tuned, heads = tune_on_folds(config, pool, techniques, output_dir / "logs")
    model = average_heads(heads)
    test_probabilities = predict_features(model, sets["test"])
    test_decisions = tuned.apply(test_probabilities)
    test_gold = sets["test"].labels.astype(np.int32)

    tuned.to_json(output_dir / "thresholds.json")
    write_sweep(tuned.sweep, output_dir / "threshold_sweep.csv")
    plot_threshold_sweep(
        tuned.sweep,
        output_dir / "threshold_sweep.png",
        chosen=tuned.global_threshold,
        title="Out-of-fold F1 (train+dev) against the decision threshold",
    )
    model.save(output_dir / "model.keras")
    dev_rows = slice(len(sets["train"]), len(pool))
    write_technique_predictions(
        sets["dev"].memes,
        tuned.apply(out_of_fold[dev_rows]),
        techniques,
        output_dir / "predictions_dev.json",
    )
    write_technique_predictions(
        sets["test"].memes, test_decisions, techniques, output_dir / "predictions_test.json"
    )
    np.save(output_dir / "probabilities_test.npy", test_probabilities)
    np.save(output_dir / "probabilities_out_of_fold.npy", out_of_fold)
    np.save(output_dir / "gold_out_of_fold.npy", pool.labels.astype(np.int32))
    per_label_table(test_gold, test_decisions, techniques).to_csv(
        output_dir / "per_label_test.csv", index=False
    )
    metrics = {
        "model": config["model"]["type"],
        "thresholds": {"mode": tuned.mode, "global": tuned.global_threshold},
        "out_of_fold": tuned.metrics,
        "test": multilabel_scores(test_gold, test_decisions),
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json_atomically(metrics, output_dir / "metrics.json")
    (output_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    data_files = [data_dir / SPLIT_FILES[(3, split)] for split in ("train", "dev", "test")]
    write_json_atomically(provenance(config, data_files), output_dir / "provenance.json")
    log.info("%s: %s", output_dir, json.dumps(metrics))
    return metrics


def constant_top_k_scores(config: dict, k: int = 3) -> dict:
    """The constant "k most frequent training labels" reference on test."""
    data_dir = config["data_dir"] or default_data_dir()
    techniques = read_techniques(data_dir, "multimodal")
    from meme_keras.evaluation.multilabel_f1 import labels_to_multi_hot

    train, test = (
        labels_to_multi_hot([m.labels for m in load_split(s, 3, data_dir, False)], techniques)
        for s in ("train", "test")
    )
    return multilabel_scores(test, top_k_constant_prediction(train, len(test), k))
