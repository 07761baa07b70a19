"""A classifier's one network to ship, chosen on folds: the fold models' weights averaged
("soup") against one network refit on all the training rows, by nested cross-validation.

For each outer fold of train+dev (seeded as the run's folds; `--outer-folds K`: K of them, so
configs of different fold counts meet on the same outer folds): on its training part, the run's
folds (inner folds, every fold's head started from the same weights, as `final_model: soup`
trains them) give inner out-of-fold probabilities, the decision rule and thresholds (chosen and
tuned on them as the run does) and the inner fold models. Their soup, a refit (one network
trained on the whole outer training part for the inner folds' median epochs, as the run's
refit is) and the inner fold ensemble then predict the outer validation part, decided at those
thresholds. The decisions of all outer validation parts together give each model's
out-of-fold micro-F1 and macro-F1 over train+dev (and its mean average precision, which needs
no threshold). Text-only copies and extra memes join every training part, as in a run.

Usage: python experiments/classifier_soup_nested.py CONFIG [--seed 42] [--outer-folds K] [--limit N]
Writes runs/classifier_soup_nested_<config>_s<seed>/results.json (and prints its out-of-fold
scores) and probabilities.npz (each model's outer-validation probabilities, in pool order).
"""

from __future__ import annotations

import gc
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from meme_keras.console import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()

from experiments.nested_comparisons import parse_arguments, write_results  # noqa: E402
from meme_keras.config import load_config  # noqa: E402
from meme_keras.data.corpus import default_data_dir  # noqa: E402
from meme_keras.data.techniques import read_techniques  # noqa: E402
from meme_keras.evaluation.multilabel_f1 import multilabel_scores  # noqa: E402
from meme_keras.evaluation.ranking import mean_average_precision  # noqa: E402
from meme_keras.models.model_average import average_models, weight_averaged_model  # noqa: E402
from meme_keras.pipeline.classifier_inputs import predict_probabilities  # noqa: E402
from meme_keras.pipeline.feature_sets import FeatureSet, load_frozen_backbones  # noqa: E402
from meme_keras.tasks import get_task  # noqa: E402
from meme_keras.training.classifier_run import (  # noqa: E402
    extra_feature_set,
    load_feature_sets,
    text_only_feature_set,
    train_refit,
    tune,
)
from meme_keras.training.cross_validation import (  # noqa: E402
    cross_validate,
    refit_epochs,
    training_part,
)
from meme_keras.training.distribution import seed_everything  # noqa: E402
from meme_keras.training.folds import fold_splits  # noqa: E402
from meme_keras.training.traced_models import reusing_traces  # noqa: E402

ARMS = ("soup", "refit", "inner_fold_ensemble")


def scores(gold: np.ndarray, decisions: np.ndarray, probabilities: np.ndarray) -> dict:
    """Micro/macro F1 of the decisions and the mean average precision of the probabilities."""
    return {
        **{
            key: round(float(value), 4)
            for key, value in multilabel_scores(gold, decisions).items()
            if key in ("micro_f1", "macro_f1")
        },
        "mean_average_precision": round(float(mean_average_precision(gold, probabilities)), 4),
    }


def nested_soup_against_refit(
    config,
    techniques,
    pool: FeatureSet,
    text_only: FeatureSet | None = None,
    extra: FeatureSet | None = None,
    outer_folds: int | None = None,
) -> dict:
    """Out-of-fold scores of each arm over `pool` (see the module's docstring). `text_only`:
    row for row `pool` without images, or None; `outer_folds`: None for the config's folds."""
    soup_config = config.replace(final_model="soup")
    folds = config["thresholds"]["folds"]
    outer_folds = outer_folds or folds
    gold = pool.labels.astype(np.int32)
    decisions = {arm: np.zeros(gold.shape, np.int32) for arm in ARMS}
    probabilities = {arm: np.zeros(gold.shape, np.float32) for arm in ARMS}
    records = []
    outer_splits = fold_splits(len(pool), outer_folds, config["seed"])
    with reusing_traces():  # every inner fold and refit of every outer fold: traced once
        for fold, train_rows, validation_rows in outer_splits:
            started = time.perf_counter()
            train = pool.subset(train_rows)
            inner_text_only = None if text_only is None else text_only.subset(train_rows)
            inner, inner_models, _, stage_epochs = cross_validate(
                train, soup_config, len(techniques), folds, None, 0, extra, inner_text_only
            )
            tuned, rules = tune(config, train.labels, inner, techniques)
            epochs = refit_epochs(stage_epochs)
            refit_part = training_part(
                train, np.arange(len(train)), config, folds, extra, inner_text_only
            )
            models = {
                "soup": weight_averaged_model(inner_models, "soup"),
                "refit": train_refit(refit_part, config, len(techniques), epochs),
                "inner_fold_ensemble": average_models(inner_models),
            }
            validation = pool.subset(validation_rows)
            record = {
                "fold": fold,
                "rule": None if rules is None else str(rules[rules["chosen"]].iloc[0]["rule"]),
                "refit_epochs": epochs,
            }
            for arm, model in models.items():
                predicted = predict_probabilities(model, validation, config)
                probabilities[arm][validation_rows] = predicted
                decisions[arm][validation_rows] = tuned.apply(predicted)
                record[arm] = scores(
                    gold[validation_rows], decisions[arm][validation_rows], predicted
                )
            record["seconds"] = round(time.perf_counter() - started, 1)
            logging.info("outer fold %d: %s", fold, json.dumps(record))
            records.append(record)
            del train, inner_text_only, refit_part, models, inner_models, validation
            gc.collect()
    return {
        "outer_folds": outer_folds,
        "inner_folds": folds,
        "out_of_fold": {arm: scores(gold, decisions[arm], probabilities[arm]) for arm in ARMS},
        "folds": records,
        "probabilities": probabilities,
    }


def load_pool(config, techniques, limit: int | None = None):
    """(train+dev's features, their text-only copies or None, the extra memes' or None), as a
    run builds them; `limit`: the first N train+dev memes only."""
    models = load_frozen_backbones(config)
    sets = load_feature_sets(config, techniques, splits=("train", "dev"), models=models)
    pool = FeatureSet.concatenate([sets.pop("train"), sets.pop("dev")])
    if limit:
        pool = pool.subset(np.arange(min(limit, len(pool))))
    text_only = extra = None
    if config["text_only_fraction"] > 0:
        text_only = text_only_feature_set(config, techniques, pool.memes, models)
    if config["extra_memes"]:
        extra = extra_feature_set(config, techniques, models)
    return pool, text_only, extra


def main(argv: list[str] | None = None) -> dict:
    args, path = parse_arguments(
        __doc__.splitlines()[0],
        "a techniques or text_techniques config (name or path)",
        argv,
        outer_folds=True,
    )
    config = load_config(path).replace(seed=args.seed)
    if config["thresholds"]["tune_on"] != "folds":
        args.parser.error(f"{path}: the nested comparison is for configs tuned on folds")
    seed_everything(config["seed"])
    data_dir = Path(config["data_dir"] or default_data_dir())
    techniques = read_techniques(data_dir, get_task(config["task"]).techniques)
    started = time.perf_counter()
    pool, text_only, extra = load_pool(config, techniques, args.limit)
    results = {
        "config": path.stem,
        "fold_seed": args.seed,
        "memes": len(pool),
        **nested_soup_against_refit(config, techniques, pool, text_only, extra, args.outer_folds),
    }
    results["seconds"] = round(time.perf_counter() - started, 1)
    name = f"classifier_soup_nested_{path.stem}_s{args.seed}"
    return write_results(results, args.output or REPOSITORY / "runs" / name)


if __name__ == "__main__":
    main()
