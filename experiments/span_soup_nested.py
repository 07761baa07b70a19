"""The span model's one network to ship, chosen on folds: the fold models' weights averaged
("soup") against one network refit on all the training rows, by nested cross-validation.

For each outer fold of train+dev (seeded as a span run's folds): on its training part, the span
folds as a run trains them (inner folds, every fold started from the same weights) give inner
out-of-fold probabilities, the token threshold and the inner fold models. Their soup, a refit
(one network trained on the whole outer training part, as the run's refit is) and the inner
fold ensemble are then scored on the outer validation part at that threshold (the refit also
at a few higher ones). The spans of all outer validation parts together give each model's
out-of-fold span F1 over train+dev.

Usage: python experiments/span_soup_nested.py CONFIG [--seed 42] [--limit N]
Writes runs/span_soup_nested_<config>_s<seed>/results.json (and prints it) and
probabilities.npz (each model's outer-validation token probabilities, float16, in pool order).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

import numpy as np  # noqa: E402

from experiments.nested_comparisons import parse_arguments, write_results  # noqa: E402
from meme_keras.config import load_config  # noqa: E402
from meme_keras.data.corpus import default_data_dir  # noqa: E402
from meme_keras.data.techniques import read_techniques  # noqa: E402
from meme_keras.evaluation.span_f1 import span_scores  # noqa: E402
from meme_keras.models.model_average import average_models, weight_averaged_model  # noqa: E402
from meme_keras.pipeline.padded_length import padded_length  # noqa: E402
from meme_keras.pipeline.token_tags import (  # noqa: E402
    TokenTagData,
    decode_spans,
    predict_tag_probabilities,
)
from meme_keras.thresholds import threshold_grid  # noqa: E402
from meme_keras.training.folds import fold_splits  # noqa: E402
from meme_keras.training.span_run import load_data, scores_dict  # noqa: E402
from meme_keras.training.span_text_top import (  # noqa: E402
    cross_validate_span_text_top,
    cut_inputs,
    train_span_text_top,
)
from meme_keras.training.span_training import (  # noqa: E402
    best_threshold,
    grid_points,
    sweep_span_threshold,
)
from meme_keras.training.traced_models import reusing_traces  # noqa: E402

ARMS = ("soup", "refit", "inner_fold_ensemble")
# The refit is also scored at its threshold raised by these (it predicts more spans than the
# fold models whose out-of-fold probabilities set the threshold).
REFIT_OFFSETS = (0.025, 0.05, 0.075, 0.1)


def arm_thresholds(threshold: float) -> dict[str, tuple[str, float]]:
    """Each scored arm: the model it uses and its token threshold."""
    arms = {arm: (arm, threshold) for arm in ARMS}
    for offset in REFIT_OFFSETS:
        arms[f"refit, threshold +{offset:g}"] = ("refit", round(threshold + offset, 4))
    return arms


def nested_soup_against_refit(config, techniques, pool: TokenTagData) -> dict:
    """Out-of-fold span scores of each arm over `pool` (see the module's docstring)."""
    soup_config = config.replace(final_model="soup")
    predicted: dict[str, dict] = {arm: {} for arm in arm_thresholds(0.5)}
    # Every model's outer-validation probabilities, for rescoring without training again.
    saved = {name: np.zeros(pool.tags.shape, np.float16) for name in ARMS}
    folds = []
    with reusing_traces():  # the refits of every outer fold share one traced model
        for fold, train_rows, validation_rows in fold_splits(
            len(pool), config["folds"], config["seed"]
        ):
            started = time.perf_counter()
            train, validation = pool.subset(train_rows), pool.subset(validation_rows)
            inner, inner_models = cross_validate_span_text_top(train, soup_config, len(techniques))
            sweep = sweep_span_threshold(
                train, inner, techniques, threshold_grid(**config["thresholds"])
            )
            threshold = best_threshold(sweep)
            models = {
                "soup": weight_averaged_model(inner_models, "soup"),
                "refit": train_span_text_top(train, config, len(techniques)),
                "inner_fold_ensemble": average_models(inner_models, output_name="tags"),
            }
            record = {"fold": fold, "threshold": threshold}
            probabilities = {
                name: predict_tag_probabilities(model, cut_inputs(validation))
                for name, model in models.items()
            }
            for name, values in probabilities.items():
                saved[name][validation_rows] = values
            for arm, (name, arm_threshold) in arm_thresholds(threshold).items():
                spans = decode_spans(validation, probabilities[name], techniques, arm_threshold)
                predicted[arm].update(spans)
                record[arm] = scores_dict(span_scores(spans, validation.gold()))
            record["seconds"] = round(time.perf_counter() - started, 1)
            logging.info("outer fold %d: %s", fold, json.dumps(record))
            folds.append(record)
    gold = pool.gold()
    return {
        "out_of_fold": {
            arm: scores_dict(span_scores(spans, gold)) for arm, spans in predicted.items()
        },
        "folds": folds,
        "probabilities": saved,
    }


def train_dev_pool(config, limit: int | None = None) -> tuple[list[str], TokenTagData]:
    """The span techniques and the train+dev memes as a span run pools them (the first `limit`
    only, if given), trimmed to their longest text."""
    data_dir = Path(config.data_dir or default_data_dir())
    techniques = read_techniques(data_dir, "text")
    pool = TokenTagData.concatenate(
        [load_data(split, techniques, config, data_dir) for split in ("train", "dev")]
    )
    if limit:
        pool = pool.subset(np.arange(min(limit, len(pool))))
    longest = int(pool.padding_mask.sum(1).max())
    return techniques, pool.trimmed(padded_length(longest, 8, pool.padding_mask.shape[1]))


def main(argv: list[str] | None = None) -> dict:
    args, path = parse_arguments(
        __doc__.splitlines()[0], "a spans config with fine_tune_text_top (name or path)", argv
    )
    config = load_config(path).replace(seed=args.seed)
    if config.task != "spans" or not config.fine_tune_text_top:
        args.parser.error(f"{path}: the nested comparison is for fine_tune_text_top span configs")
    # The grid's focal point (the config's one grid row), as the span runs chose it.
    config = config.replace(loss=grid_points(config)[1])
    techniques, pool = train_dev_pool(config, args.limit)
    started = time.perf_counter()
    results = {
        "config": path.stem,
        "fold_seed": args.seed,
        "memes": len(pool),
        "loss": dict(config["loss"]),
        **nested_soup_against_refit(config, techniques, pool),
    }
    results["seconds"] = round(time.perf_counter() - started, 1)
    output = args.output or REPOSITORY / "runs" / f"span_soup_nested_{path.stem}_s{args.seed}"
    return write_results(results, output)


if __name__ == "__main__":
    main()
