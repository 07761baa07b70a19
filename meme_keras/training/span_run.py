"""The enhancement end to end: tag the text spans of 20 persuasion techniques (subtask 2).

On frozen MiniLM features (the offline default backbone): the report's grid over label
smoothing x focal alpha (plus a BCE baseline), chosen by span F1 on out-of-fold probabilities
over train+dev; the chosen point cross-validated again for the token-threshold sweep (the
report's Appendix 5); its fold heads averaged are the final model, scored once on test.
Beside it, references scored by the same code: a meme-level classifier's techniques as one
span over the whole text or over each line, and the constant "whole text is Loaded Language".

Writes runs/spans/{predictions_dev,predictions_test,metrics,thresholds}.json and model.keras,
and assets/spans_{grid,threshold_sweep,results,per_technique}.* .
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from meme_keras.backbones.features import text_features  # noqa: E402
from meme_keras.data.corpus import SPLIT_FILES, default_data_dir, load_split  # noqa: E402
from meme_keras.data.techniques import read_techniques  # noqa: E402
from meme_keras.evaluation.span_f1 import (  # noqa: E402
    SpanScores,
    per_technique_span_scores,
    span_scores,
)
from meme_keras.evaluation.span_predictions import write_span_predictions  # noqa: E402
from meme_keras.evaluation.span_references import line_spans, whole_text_spans  # noqa: E402
from meme_keras.training.finished_runs import (  # noqa: E402
    finished_metrics,
    forget_finished,
    mark_finished,
    run_key,
)
from meme_keras.training.head_training import fold_indices  # noqa: E402
from meme_keras.training.span_training import (  # noqa: E402
    TokenTagData,
    average_span_taggers,
    best_threshold,
    chosen_loss,
    cross_validate_span_tagger,
    decode_spans,
    lost_gold_characters,
    plot_span_threshold_sweep,
    predict_probabilities,
    run_loss_grid,
    span_config,
    sweep_span_threshold,
    threshold_grid,
    token_tag_data,
)

log = logging.getLogger("spans")
REPORT = {"precision": 0.3, "recall": 0.3, "f1": 0.3}  # "each around 0.3" on test (ALBERT)
QUICK = {
    "epochs": 2,
    "folds": 2,
    "grid_folds": 2,
    "grid": {"label_smoothing": [0.1], "alpha": [1.2]},
    "thresholds": {"start": 0.3, "stop": 0.5, "step": 0.1},
}
SPLITS = ("train", "dev", "test")
# The meme-level reference classifier: Dense(K, sigmoid) on mean-pooled frozen features.
CLASSIFIER = {"learning_rate": 5e-3, "epochs": 60, "batch_size": 64}


def load_data(split: str, techniques, config: dict) -> TokenTagData:
    memes = load_split(split, subtask=2, check_images=False)
    backbone = config["text_backbone"]
    encoded = text_features(
        memes, backbone["name"], backbone["sequence_length"], preset=backbone["preset"]
    )
    return token_tag_data(memes, encoded, techniques)


def scores_dict(scores: SpanScores) -> dict:
    return {
        "precision": scores.precision,
        "recall": scores.recall,
        "f1": scores.f1,
        "n_predicted": scores.n_predicted,
        "n_gold": scores.n_gold,
    }


# --- References ----------------------------------------------------------------------------


def pooled_features(data: TokenTagData) -> np.ndarray:
    weights = data.padding_mask[..., None].astype(np.float32)
    return (data.features * weights).sum(1) / np.maximum(weights.sum(1), 1.0)


def meme_labels(data: TokenTagData, techniques) -> np.ndarray:
    column = {technique: k for k, technique in enumerate(techniques)}
    labels = np.zeros((len(data), len(techniques)), np.float32)
    for i, meme in enumerate(data.memes):
        for span in meme.spans:
            labels[i, column[span.technique]] = 1.0
    return labels


def train_meme_classifier(features, labels, seed: int, settings: dict) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((features.shape[-1],), name="pooled_text")
    outputs = keras.layers.Dense(labels.shape[-1], activation="sigmoid", name="techniques")(inputs)
    model = keras.Model(inputs, outputs, name="meme_technique_classifier")
    model.compile(
        optimizer=keras.optimizers.Nadam(settings["learning_rate"]),
        loss=keras.losses.BinaryCrossentropy(),
    )
    model.fit(
        features,
        labels,
        batch_size=settings["batch_size"],
        epochs=settings["epochs"],
        shuffle=True,
        verbose=0,
    )
    return model


def classifier_spans(data, probabilities, techniques, threshold, to_spans):
    return {
        meme.id: to_spans(
            meme.text,
            [t for t, p in zip(techniques, probabilities[i], strict=True) if p > threshold],
        )
        for i, meme in enumerate(data.memes)
    }


def run_references(pool, dev_rows, test, techniques, config, settings) -> dict:
    """The meme-level classifier as whole-text and per-line spans, and the constant reference.

    The classifier is cross-validated on the same folds as the tagger; each reference's
    threshold maximizes its own out-of-fold span F1 (the most favourable choice for it).
    """
    features, labels = pooled_features(pool), meme_labels(pool, techniques)
    out_of_fold = np.zeros(labels.shape, np.float32)
    models = []
    for fold, held_out in enumerate(fold_indices(len(pool), config["folds"], config["seed"])):
        kept = np.setdiff1d(np.arange(len(pool)), held_out)
        model = train_meme_classifier(features[kept], labels[kept], config["seed"] + fold, settings)
        out_of_fold[held_out] = model.predict(features[held_out], verbose=0)
        models.append(model)
    test_features = pooled_features(test)
    test_probabilities = np.mean([m.predict(test_features, verbose=0) for m in models], axis=0)
    dev = pool.subset(dev_rows)
    results = {}
    references = (("classifier, whole text", whole_text_spans), ("classifier, lines", line_spans))
    for name, to_spans in references:

        def score(data, probabilities, threshold, to_spans=to_spans):
            predicted = classifier_spans(data, probabilities, techniques, threshold, to_spans)
            return span_scores(predicted, data.gold())

        thresholds = [float(t) for t in threshold_grid(config["thresholds"])]
        f1 = [score(pool, out_of_fold, t).f1 for t in thresholds]
        threshold = thresholds[int(np.argmax(f1))]
        results[name] = {
            "threshold": threshold,
            "out_of_fold": scores_dict(score(pool, out_of_fold, threshold)),
            "dev": scores_dict(score(dev, out_of_fold[dev_rows], threshold)),
            "test": scores_dict(score(test, test_probabilities, threshold)),
        }
    # A check of the scorer: FACTS.md measured F1 0.165 on test for this constant.
    constant = {}
    for split, data in (("dev", dev), ("test", test)):
        predicted = {m.id: whole_text_spans(m.text, ["Loaded Language"]) for m in data.memes}
        constant[split] = scores_dict(span_scores(predicted, data.gold()))
    results["whole text = Loaded Language"] = constant
    return results


# --- Tables --------------------------------------------------------------------------------


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    columns = list(frame.columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in frame.itertuples(index=False):
        cells = [f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def results_frame(metrics: dict) -> pd.DataFrame:
    rows = []

    def add(name, entry):
        row = {"model": name}
        for split in ("out_of_fold", "dev", "test"):
            for key in ("precision", "recall", "f1"):
                value = entry.get(split, {}).get(key)
                row[f"{split} {key[0].upper() if key != 'f1' else 'F1'}"] = (
                    "–" if value is None else float(value)
                )
        rows.append(row)

    add(f"span tagger (threshold {metrics['tagger']['threshold']:g})", metrics["tagger"])
    for name, entry in metrics["references"].items():
        label = f"{name} (threshold {entry['threshold']:g})" if "threshold" in entry else name
        add(label, entry)
    add("the report (ALBERT-large, test, approx.)", {"test": REPORT})
    return pd.DataFrame(rows)


def per_technique_frame(predicted, gold, techniques) -> pd.DataFrame:
    rows = []
    for technique, scores in per_technique_span_scores(predicted, gold, techniques).items():
        rows.append(
            {
                "technique": technique,
                "gold spans": scores.n_gold,
                "predicted spans": scores.n_predicted,
                "P": scores.precision,
                "R": scores.recall,
                "F1": scores.f1,
            }
        )
    return pd.DataFrame(rows)


# --- The run -------------------------------------------------------------------------------


def run_spans(
    output_dir: str | Path = "runs/spans",
    assets_dir: str | Path = "assets",
    seed: int = 42,
    quick: bool = False,
    overrides: dict | None = None,
    reuse_finished: bool = False,
) -> dict:
    """Runs the enhancement end to end; returns the metrics written to `metrics.json`.

    With `reuse_finished`, a run that finished in `output_dir` with the same settings, data,
    packages and code is returned as it is (its assets are already written).
    """
    started = time.perf_counter()
    output_dir, assets_dir = Path(output_dir), Path(assets_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    assets_dir.mkdir(parents=True, exist_ok=True)
    config = span_config({**(QUICK if quick else {}), **(overrides or {}), "seed": seed})
    classifier = {**CLASSIFIER, "epochs": 3} if quick else CLASSIFIER
    data_files = [default_data_dir() / SPLIT_FILES[(2, split)] for split in SPLITS]
    key = run_key(
        {"spans": config, "classifier": classifier, "assets": str(assets_dir.resolve())},
        data_files,
        extra_files=[Path(__file__)],
    )
    if reuse_finished and (metrics := finished_metrics(output_dir, key)) is not None:
        log.info("%s: finished with these settings, data and code; reusing it", output_dir)
        return metrics
    forget_finished(output_dir)
    techniques = read_techniques(default_data_dir(), "text")

    # Data: train+dev are the pool for folds; test is scored once at the end.
    train, dev, test = (load_data(split, techniques, config) for split in SPLITS)
    pool = train.concatenate(dev)
    dev_rows = np.arange(len(train), len(pool))
    longest = int(max(pool.padding_mask.sum(1).max(), test.padding_mask.sum(1).max()))
    length = min(pool.padding_mask.shape[1], -(-longest // 8) * 8)  # no compute on padding
    pool, test = pool.trimmed(length), test.trimmed(length)
    lost = lost_gold_characters(pool, techniques)
    log.info("longest text %d tokens; gold characters lost to tokenization %.4f", longest, lost)

    # The report's grid.
    grid_started = time.perf_counter()
    grid, _ = run_loss_grid(pool, config, techniques)
    grid_seconds = time.perf_counter() - grid_started
    grid.to_csv(assets_dir / "spans_grid.csv", index=False)
    (assets_dir / "spans_grid.md").write_text(markdown_table(grid) + "\n", encoding="utf-8")
    config["loss"] = chosen_loss(grid, config)
    log.info("chosen loss %s", config["loss"])

    # The chosen point: out-of-fold probabilities for the threshold, fold heads for test.
    keras.utils.set_random_seed(seed)
    out_of_fold, heads = cross_validate_span_tagger(pool, config, len(techniques))
    sweep = sweep_span_threshold(
        pool, out_of_fold, techniques, threshold_grid(config["thresholds"])
    )
    threshold = best_threshold(sweep)
    sweep.to_csv(assets_dir / "spans_threshold_sweep.csv", index=False)
    plot_span_threshold_sweep(
        sweep,
        assets_dir / "spans_threshold_sweep.png",
        chosen=threshold,
        title="Span P/R/F1 vs token threshold (out-of-fold, train+dev)",
    )
    model = average_span_taggers(heads)
    model.save(output_dir / "model.keras")
    (output_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (output_dir / "thresholds.json").write_text(
        json.dumps(
            {"token_threshold": threshold, "tuned_on": f"{config['folds']}-fold train+dev"},
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )

    # Dev predictions are out of fold (no model saw them); test once, from the fold ensemble.
    dev_data = pool.subset(dev_rows)
    dev_spans = decode_spans(dev_data, out_of_fold[dev_rows], techniques, threshold)
    test_probabilities = predict_probabilities(model, test.head_inputs())
    test_spans = decode_spans(test, test_probabilities, techniques, threshold)
    write_span_predictions(output_dir / "predictions_dev.json", dev_data.memes, dev_spans)
    write_span_predictions(output_dir / "predictions_test.json", test.memes, test_spans)
    per_technique = per_technique_frame(test_spans, test.gold(), techniques)
    per_technique.to_csv(assets_dir / "spans_per_technique.csv", index=False)
    (assets_dir / "spans_per_technique.md").write_text(
        markdown_table(per_technique) + "\n", encoding="utf-8"
    )

    metrics = {
        "config": config,
        "sequence_length": length,
        "longest_text_tokens": longest,
        "gold_characters_lost": lost,
        "grid_seconds": round(grid_seconds, 1),
        "tagger": {
            "threshold": threshold,
            "out_of_fold": sweep.loc[sweep["threshold"] == threshold].iloc[0].to_dict(),
            "dev": scores_dict(span_scores(dev_spans, dev_data.gold())),
            "test": scores_dict(span_scores(test_spans, test.gold())),
        },
        "references": run_references(pool, dev_rows, test, techniques, config, classifier),
    }
    results = results_frame(metrics)
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    (assets_dir / "spans_results.md").write_text(
        "Subtask 2, span P/R/F1 (the task's scorer). Out-of-fold: 5-fold over train+dev; "
        "dev: out-of-fold predictions of the dev memes; test: scored once.\n\n"
        + markdown_table(results)
        + "\n",
        encoding="utf-8",
    )
    (output_dir / "metrics.json").write_text(
        json.dumps(metrics, indent=1, default=float) + "\n", encoding="utf-8"
    )
    mark_finished(output_dir, key)
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="runs/spans")
    parser.add_argument("--assets-dir", default="assets")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny grid, 2 epochs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    metrics = run_spans(args.output_dir, args.assets_dir, args.seed, args.quick)
    pd.set_option("display.width", 200)
    print(markdown_table(results_frame(metrics)))
    print(f"total {metrics['seconds']:.0f} s (grid {metrics['grid_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
