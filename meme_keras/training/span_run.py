"""A `spans` run end to end (subtask 2): tag the text spans of 20 persuasion techniques.

On frozen text-backbone features: the report's grid over label smoothing x focal alpha (plus a
BCE baseline), chosen by span F1 on out-of-fold probabilities over train+dev; the chosen point
cross-validated again for the token-threshold sweep (with `fine_tune_text_top`, each fold's
head then trains on with the backbone's upper layers, `span_text_top`); its fold models
averaged, one network refit on train+dev (`final_model: refit`) or their weights averaged
(`soup`) are the final model, scored once on test. Beside it, references scored by the same
code: a meme-level classifier's techniques as one span over the whole text or over each
line, and the constant "whole text is Loaded Language".

Writes to the run folder: config.yaml, model.keras, thresholds.json, metrics.json,
predictions_{dev,test}.json, and spans_{grid,threshold_sweep,results,per_technique}.* .
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from meme_keras.atomic_files import (
    save_model_atomically,
    write_csv_atomically,
    write_json_atomically,
    write_text_atomically,
)
from meme_keras.backbones.adapted_text import adaptation_files, text_preset
from meme_keras.backbones.features import text_cut_features, text_features
from meme_keras.backbones.weights import check_offline_weights
from meme_keras.config import SpansConfig, write_config
from meme_keras.data import ptc
from meme_keras.data.corpus import SPLIT_FILES, default_data_dir, load_split
from meme_keras.data.techniques import read_techniques
from meme_keras.evaluation.markdown_tables import markdown_table
from meme_keras.evaluation.span_f1 import SpanScores, per_technique_span_scores, span_scores
from meme_keras.evaluation.span_predictions import write_span_predictions
from meme_keras.evaluation.span_references import line_spans, whole_text_spans
from meme_keras.pipeline.padded_length import padded_length
from meme_keras.pipeline.token_tags import (
    TokenTagData,
    decode_spans,
    predict_tag_probabilities,
    ptc_token_tag_data,
    token_tag_data,
)
from meme_keras.thresholds import SPAN_SWEEP_CURVES, plot_threshold_sweep, threshold_grid
from meme_keras.training.finished_runs import (
    finished_metrics,
    forget_finished,
    mark_finished,
    run_key,
)
from meme_keras.training.folds import cross_validated
from meme_keras.training.provenance import provenance
from meme_keras.training.span_decoder import (
    credit_table,
    gold_span_counts,
    sweep_of,
    technique_thresholds_of,
)
from meme_keras.training.span_text_top import (
    cross_validate_span_text_top,
    refit_span_text_top,
    span_soup_on_tokens,
    span_tagger_on_tokens,
)
from meme_keras.training.span_training import (
    average_span_taggers,
    best_threshold,
    chosen_loss,
    cross_validate_span_tagger,
    lost_gold_characters,
    run_loss_grid,
)

log = logging.getLogger("spans")
REPORT = {"precision": 0.3, "recall": 0.3, "f1": 0.3}  # "each around 0.3" on test (ALBERT)
SPLITS = ("train", "dev", "test")


def load_data(split: str, techniques, config: SpansConfig, data_dir: Path) -> TokenTagData:
    """A split's tag data with frozen features, and the cut activations of the backbone's top
    when the run fine-tunes it (train and dev; test goes through the saved model's tokens)."""
    memes = load_split(split, 2, data_dir, check_images=False)
    backbone = config["text_backbone"]
    preset = text_preset(backbone)
    encoded = text_features(memes, backbone["name"], backbone["sequence_length"], preset=preset)
    data = token_tag_data(memes, encoded, techniques)
    if config.fine_tune_text_top and split != "test":
        data.cut_features = text_cut_features(
            memes,
            backbone["name"],
            backbone["sequence_length"],
            preset=preset,
            top_from=backbone["top_from"],
        )
    return data


def ptc_training_sentences(techniques, config: SpansConfig) -> TokenTagData:
    """PTC sentences with a span, and `extra_negative_ratio` times as many without (drawn by
    the seed), from train and dev articles; techniques PTC never annotates are unknown."""
    chosen, tagged = ptc.training_sentences(config.extra_negative_ratio, config.seed)
    log.info(
        "PTC: %d sentences with spans, %d without, in every fold", tagged, len(chosen) - tagged
    )
    backbone = config["text_backbone"]
    encoded = text_features(
        chosen, backbone["name"], backbone["sequence_length"], preset=text_preset(backbone)
    )
    return ptc_token_tag_data(chosen, encoded, techniques)


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

    def fit_fold(fold, kept, held_out):
        model = train_meme_classifier(features[kept], labels[kept], config["seed"] + fold, settings)
        return model.predict(features[held_out], verbose=0), model

    out_of_fold, models = cross_validated(
        len(pool), config["folds"], config["seed"], fit_fold, "reference folds"
    )
    test_features = pooled_features(test)
    test_probabilities = np.mean([m.predict(test_features, verbose=0) for m in models], axis=0)
    dev = pool.subset(dev_rows)
    results = {}
    references = (("classifier, whole text", whole_text_spans), ("classifier, lines", line_spans))
    for name, to_spans in references:

        def score(data, probabilities, threshold, to_spans=to_spans):
            predicted = classifier_spans(data, probabilities, techniques, threshold, to_spans)
            return span_scores(predicted, data.gold())

        thresholds = [float(t) for t in threshold_grid(**config["thresholds"])]
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

    tagger = metrics["tagger"]
    per_technique = ", per-technique thresholds" if "technique_thresholds" in tagger else ""
    add(f"span tagger (threshold {tagger['threshold']:g}{per_technique})", tagger)
    if "tagger_fold_ensemble" in metrics:
        folds = metrics["config"]["folds"]
        add(f"span tagger: its {folds} fold models averaged", metrics["tagger_fold_ensemble"])
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


def technique_thresholds_entry(techniques, decision) -> dict:
    """`{"technique_thresholds": {technique: threshold}}` where each technique has its own
    threshold, else `{}`."""
    if np.ndim(decision) == 0:
        return {}
    own = np.asarray(decision).tolist()
    return {"technique_thresholds": dict(zip(techniques, own, strict=True))}


def out_of_fold_scores(pool, out_of_fold, techniques, decision, sweep) -> dict:
    """The out-of-fold scores at the decoder's thresholds (the sweep's row for a global one)."""
    if np.ndim(decision) == 0:
        return sweep.loc[sweep["threshold"] == decision].iloc[0].to_dict()
    return scores_dict(
        span_scores(decode_spans(pool, out_of_fold, techniques, decision), pool.gold())
    )


# --- The run -------------------------------------------------------------------------------


def run_spans(
    config: SpansConfig,
    output_dir: str | Path,
    verbose: int = 0,
    reuse_finished: bool = False,
) -> dict:
    """Runs the span task end to end; returns the metrics written to `metrics.json`.

    With `reuse_finished`, a run that finished in `output_dir` with the same config, data,
    packages and code is returned as it is.
    """
    started = time.perf_counter()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    seed = config.seed
    data_dir = Path(config.data_dir or default_data_dir())
    data_files = [data_dir / SPLIT_FILES[(2, split)] for split in SPLITS]
    if config.extra_articles:
        data_files += ptc.label_files()
    data_files += adaptation_files(config["text_backbone"])
    key = run_key(config, data_files)
    if reuse_finished and (metrics := finished_metrics(output_dir, key)) is not None:
        log.info("%s: finished with this config, data and code; reusing it", output_dir)
        return metrics
    check_offline_weights(config)
    forget_finished(output_dir)
    techniques = read_techniques(data_dir, "text")

    # Data: train+dev are the pool for folds; test is scored once at the end.
    train, dev, test = (load_data(split, techniques, config, data_dir) for split in SPLITS)
    pool = TokenTagData.concatenate([train, dev])
    dev_rows = np.arange(len(train), len(pool))
    extra = ptc_training_sentences(techniques, config) if config.extra_articles else None
    parts = [pool, test] + ([] if extra is None else [extra])
    longest = int(max(part.padding_mask.sum(1).max() for part in parts))
    length = padded_length(longest, 8, pool.padding_mask.shape[1])  # no compute on padding
    pool, test = pool.trimmed(length), test.trimmed(length)
    if extra is not None:
        extra = extra.trimmed(length)
    lost = lost_gold_characters(pool, techniques)
    log.info("longest text %d tokens; gold characters lost to tokenization %.4f", longest, lost)

    # The report's grid.
    grid_started = time.perf_counter()
    grid, _ = run_loss_grid(pool, config, techniques, extra)
    grid_seconds = time.perf_counter() - grid_started
    write_csv_atomically(grid, output_dir / "spans_grid.csv")
    write_text_atomically(markdown_table(grid) + "\n", output_dir / "spans_grid.md")
    config["loss"] = chosen_loss(grid, config)
    log.info("chosen loss %s", config["loss"])

    # The chosen point: out-of-fold probabilities for the threshold, fold models for test.
    keras.utils.set_random_seed(seed)
    ensemble = None  # the fold ensemble, beside a refit network
    if config.fine_tune_text_top:
        out_of_fold, fold_models = cross_validate_span_text_top(pool, config, len(techniques))
        model = span_tagger_on_tokens(fold_models, config)
        if config.final_model == "refit":
            ensemble, model = model, refit_span_text_top(pool, config, len(techniques))
        elif config.final_model == "soup":
            ensemble, model = model, span_soup_on_tokens(fold_models, config)
    else:
        out_of_fold, heads = cross_validate_span_tagger(pool, config, len(techniques), extra=extra)
        model = average_span_taggers(heads)
    # Each technique's credits at each threshold: the sweep of one threshold for all, and
    # per-technique thresholds without decoding again.
    grid_values = threshold_grid(**config["thresholds"])
    table = credit_table(pool, out_of_fold, techniques, grid_values)
    counts = gold_span_counts(pool, techniques)
    sweep = sweep_of(table, grid_values, counts)
    threshold = best_threshold(sweep)
    decision = threshold  # what decodes: the global threshold or one per technique
    if config.technique_thresholds is not None:
        decision = technique_thresholds_of(
            table, grid_values, counts, threshold, config.technique_thresholds.min_gold_spans
        )
        log.info("per-technique thresholds %s", technique_thresholds_entry(techniques, decision))
    write_csv_atomically(sweep, output_dir / "spans_threshold_sweep.csv")
    plot_threshold_sweep(
        sweep,
        output_dir / "spans_threshold_sweep.png",
        chosen=threshold,
        title="Span P/R/F1 vs token threshold (out-of-fold, train+dev)",
        curves=SPAN_SWEEP_CURVES,
        xlabel="token probability threshold",
    )
    save_model_atomically(model, output_dir / "model.keras")
    write_config(config, output_dir / "config.yaml")
    write_json_atomically(
        {
            "token_threshold": threshold,
            **technique_thresholds_entry(techniques, decision),
            "tuned_on": f"{config['folds']}-fold train+dev",
            "model": config.final_model,
            "techniques": list(techniques),
        },
        output_dir / "thresholds.json",
    )

    # Dev predictions are out of fold (no model saw them); test once, from the fold ensemble.
    dev_data = pool.subset(dev_rows)
    dev_spans = decode_spans(dev_data, out_of_fold[dev_rows], techniques, decision)
    test_probabilities = predict_tag_probabilities(model, test.inputs_of(model))
    test_spans = decode_spans(test, test_probabilities, techniques, decision)
    write_span_predictions(output_dir / "predictions_dev.json", dev_data.memes, dev_spans)
    write_span_predictions(output_dir / "predictions_test.json", test.memes, test_spans)
    per_technique = per_technique_frame(test_spans, test.gold(), techniques)
    write_csv_atomically(per_technique, output_dir / "spans_per_technique.csv")
    write_text_atomically(
        markdown_table(per_technique) + "\n", output_dir / "spans_per_technique.md"
    )

    def ensemble_scores(ensemble: keras.Model) -> dict:
        probabilities = predict_tag_probabilities(ensemble, test.inputs_of(ensemble))
        spans = decode_spans(test, probabilities, techniques, decision)
        return {"threshold": threshold, "test": scores_dict(span_scores(spans, test.gold()))}

    metrics = {
        "config": config.to_dict(),
        "sequence_length": length,
        "longest_text_tokens": longest,
        "gold_characters_lost": lost,
        "grid_seconds": round(grid_seconds, 1),
        "tagger": {
            "threshold": threshold,
            **technique_thresholds_entry(techniques, decision),
            "out_of_fold": out_of_fold_scores(pool, out_of_fold, techniques, decision, sweep),
            "dev": scores_dict(span_scores(dev_spans, dev_data.gold())),
            "test": scores_dict(span_scores(test_spans, test.gold())),
        },
        **({} if ensemble is None else {"tagger_fold_ensemble": ensemble_scores(ensemble)}),
        "references": run_references(
            pool, dev_rows, test, techniques, config, config.reference_classifier
        ),
    }
    results = results_frame(metrics)
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    write_text_atomically(
        f"Subtask 2, span P/R/F1 (the task's scorer). Out-of-fold: {config['folds']}-fold "
        "over train+dev; "
        "dev: out-of-fold predictions of the dev memes; test: scored once.\n\n"
        + markdown_table(results)
        + "\n",
        output_dir / "spans_results.md",
    )
    write_json_atomically(metrics, output_dir / "metrics.json")
    write_json_atomically(provenance(config, data_files), output_dir / "provenance.json")
    mark_finished(output_dir, key)
    return metrics
