"""The main task end to end: features -> staged training -> thresholds -> test -> run folder.

Every choice (epochs by early stopping, the decision threshold) is made on train+dev, through
cross-validation folds or on dev; test is predicted once, at the end.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import keras
import numpy as np

from meme_keras.atomic_files import (
    save_array_atomically,
    save_model_atomically,
    write_csv_atomically,
    write_json_atomically,
)
from meme_keras.backbones.adapted_text import adaptation_files
from meme_keras.backbones.features import image_features
from meme_keras.backbones.image_backbones import load_image_backbone
from meme_keras.backbones.weights import check_offline_weights
from meme_keras.config import TypedConfig, config_from_dict, write_config
from meme_keras.config.typed_config import plain
from meme_keras.data.corpus import SPLIT_FILES, default_data_dir, load_split
from meme_keras.data.memes_2024 import extra_meme_file, load_extra_memes
from meme_keras.data.techniques import read_techniques
from meme_keras.evaluation.multilabel_f1 import (
    labels_to_multi_hot,
    multilabel_scores,
    per_label_table,
    top_k_constant_prediction,
)
from meme_keras.evaluation.ranking import mean_average_precision
from meme_keras.evaluation.technique_predictions import write_technique_predictions
from meme_keras.models.model_average import average_models, weight_averaged_model
from meme_keras.pipeline.classifier_inputs import model_live_parts, predict_probabilities
from meme_keras.pipeline.feature_sets import (
    FeatureSet,
    build_feature_set,
    image_top_layer,
    load_frozen_backbones,
)
from meme_keras.tasks import get_task
from meme_keras.thresholds import (
    CANDIDATE_RULES,
    choose_rule,
    cross_validated_rules,
    plot_threshold_sweep,
    tune_thresholds,
    write_sweep,
)
from meme_keras.training.cross_validation import cross_validate, refit_epochs, training_part
from meme_keras.training.distribution import (
    make_strategy,
    seed_everything,
    worker_scratch_folder,
    writes_run_folder,
)
from meme_keras.training.fine_tuning import (
    check_stages,
    train_stages,
    with_frozen_bottoms,
)
from meme_keras.training.finished_runs import (
    finished_metrics,
    forget_finished,
    mark_finished,
    run_key,
)
from meme_keras.training.frozen_companion import (
    companion_settings,
    fit_frozen_companion,
    with_frozen_companions,
)
from meme_keras.training.garbage import collect_garbage
from meme_keras.training.provenance import provenance, weights_digest
from meme_keras.training.run_summaries import plot_per_technique_f1, write_run_summaries
from meme_keras.training.traced_models import reusing_traces

log = logging.getLogger(__name__)


def load_feature_sets(
    config: dict, techniques, splits=("train", "dev", "test"), models=None, **kwargs
):
    """Feature sets of the splits, with each backbone loaded once for all of them (or the
    already loaded `models`, as `load_frozen_backbones` gives them). Test gets no cut image
    activations: only training reads them, and test is predicted by the saved model on raw
    images."""
    models = models if models is not None else load_frozen_backbones(config)
    return {
        split: build_feature_set(
            memes,
            techniques,
            config,
            **models,
            cut_features=split != "test",
            **kwargs,
        )
        for split, memes in split_memes(config, splits).items()
    }


def split_memes(config: dict, splits=("train", "dev", "test")) -> dict[str, list]:
    """The memes of each of `splits` of the config's task and data."""
    data_dir = config["data_dir"] or default_data_dir()
    task = get_task(config["task"])
    return {
        split: load_split(split, task.subtask, data_dir, check_images=task.needs_images)
        for split in splits
    }


def without_images(memes) -> list:
    """`memes` again, each without its image (a run's text-only copies)."""
    return [dataclasses.replace(meme, image_path=None) for meme in memes]


def run_feature_sets(config: dict, techniques, verbose: int = 0) -> dict[str, FeatureSet]:
    """The feature sets a run of `config` reads: the splits', and the extra memes' and the
    text-only copies' where the config asks for them."""
    models = load_frozen_backbones(config)  # once, for every set below
    sets = load_feature_sets(config, techniques, models=models, verbose=verbose)
    if config["extra_memes"]:
        sets["extra"] = extra_feature_set(config, techniques, models, verbose=verbose)
    if config["text_only_fraction"] > 0:
        memes = sets["train"].memes + sets["dev"].memes
        sets["text_only"] = text_only_feature_set(
            config, techniques, memes, models, verbose=verbose
        )
    return sets


def cache_image_features(config: dict, verbose: int = 0) -> None:
    """Extracts into the feature cache every image feature a run of `config` reads (each
    split's, the cut activations an `image_top` stage trains on, the black image of the
    text-only copies), and no text feature: `make reproduce` runs this in one process while
    another adapts the text backbone that the run's text features need. The sets mirror
    `run_feature_sets`'s. Nothing for a config without images."""
    image = config.get("image_backbone")
    if image is None:
        return
    splits = split_memes(config)
    # (memes, whether training reads their cut activations)
    sets = [(memes, split != "test") for split, memes in splits.items()]
    if config["extra_memes"]:
        subtask = get_task(config["task"]).subtask
        sets.append((load_extra_memes(subtask, config["data_dir"] or default_data_dir()), True))
    if config["text_only_fraction"] > 0:
        memes = splits["train"] + splits["dev"]
        sets.append((without_images(memes), True))
    model = load_image_backbone(image["name"], image["weights"], image["image_size"])
    top_from = image_top_layer(config)
    arguments = (image["name"], image["weights"], image["image_size"])
    for memes, cut in sets:
        for layer in [None] + [top_from] * (cut and top_from is not None):
            image_features(memes, *arguments, model=model, verbose=verbose, cut=layer)


def extra_feature_set(config: dict, techniques, models: dict, **kwargs) -> FeatureSet:
    """The features of the configured extra memes (`extra_memes`)."""
    task = get_task(config["task"])
    memes = load_extra_memes(task.subtask, config["data_dir"] or default_data_dir())
    log.info("training on %d extra memes in every fold", len(memes))
    return build_feature_set(memes, techniques, config, **models, **kwargs)


def text_only_feature_set(config: dict, techniques, memes, models: dict, **kwargs) -> FeatureSet:
    """`memes` again, row for row, without their images (a black image each).

    Every row's image features are the black image's (`image_features` computes it once and
    repeats its row): held once, as a read-only view repeated for every row (the same values,
    0.2 GiB less for the 750 train+dev memes).
    """
    features = build_feature_set(
        without_images(memes),
        techniques,
        config,
        **models,
        **kwargs,
    )
    return dataclasses.replace(
        features,
        image_features=first_row_repeated(features.image_features),
        image_cut_features=first_row_repeated(features.image_cut_features),
    )


def first_row_repeated(rows: np.ndarray | None) -> np.ndarray | None:
    """A read-only view of `rows`' first row repeated `len(rows)` times (None stays None)."""
    return None if rows is None else np.broadcast_to(rows[:1].copy(), rows.shape)


@dataclasses.dataclass
class Trained:
    """What training gives: the model to ship and predict test with, the gold labels and
    probabilities of the rows the decision rule is tuned on, and, for one network made from the
    folds (a refit or a soup), the fold ensemble (scored on test beside it) and a refit's
    epochs."""

    model: keras.Model
    tuning_labels: np.ndarray  # [rows, techniques] multi-hot: train then dev, or dev
    tuning_probabilities: np.ndarray
    fold_ensemble: keras.Model | None = None
    refit_epochs: list[int] | None = None


def train_and_tune(config: dict, sets: dict, techniques, log_dir: Path | None, verbose=0):
    """The model to predict test with, and (gold, probabilities) to tune thresholds on.

    "folds": cross-validation over train+dev; the fold models averaged predict test, or
    (`final_model: refit`) one model trained on all of train+dev for each stage's median
    epochs over the folds, or (`final_model: soup`) the fold models' weights averaged. Its
    decision rule is tuned on the folds' out-of-fold probabilities, which come from single
    networks too.
    "dev": one model trained on train (early stopping on dev); thresholds tuned on dev.
    `sets["extra"]` and text-only copies (`sets["text_only"]`, row for row train then dev),
    when there, join every training part, never a validation part (`training_part`). Each
    stage's steps are traced once for all folds and the refit (`reusing_traces`). With folds,
    `sets`' train, dev, extra and text-only entries are taken out, so that each is freed as
    soon as training is done with it.
    """
    with reusing_traces():
        return _train_and_tune(config, sets, techniques, log_dir, verbose)


def _train_and_tune(config: dict, sets: dict, techniques, log_dir: Path | None, verbose=0):
    settings = config["thresholds"]
    if settings["tune_on"] == "folds":
        # The pool holds train's and dev's features from here on: their own copies are
        # dropped from `sets` (about 0.4 GiB for the finals; the caller keeps dev's memes).
        pool = FeatureSet.concatenate([sets.pop("train"), sets.pop("dev")])
        extra, text_only = sets.pop("extra", None), sets.pop("text_only", None)
        folds = settings["folds"]
        out_of_fold, models, companions, stage_epochs = cross_validate(
            pool, config, len(techniques), folds, log_dir, verbose, extra, text_only
        )
        model = average_models(models)
        if companions:
            model = with_frozen_companions(model, companions, config, pool)
        if config["final_model"] == "fold_ensemble":
            return Trained(model, pool.labels, out_of_fold)
        if config["final_model"] == "soup":
            soup = weight_averaged_model(models, f"{config['model']['type']}_soup")
            return Trained(soup, pool.labels, out_of_fold, fold_ensemble=model)
        epochs = refit_epochs(stage_epochs)
        # Fold `folds` (one past the last) draws the text-only copies and seeds the refit.
        train = training_part(pool, np.arange(len(pool)), config, folds, extra, text_only)
        # The refit's training part holds these rows now: the sets it was made of are freed
        # before it trains (0.25 GiB lower peak for the finals).
        labels = pool.labels
        del pool, extra, text_only
        refit = train_refit(train, config, len(techniques), epochs, log_dir, verbose)
        return Trained(refit, labels, out_of_fold, fold_ensemble=model, refit_epochs=epochs)
    if settings["tune_on"] == "dev":
        extra, text_only = sets.get("extra"), sets.get("text_only")
        rows = np.arange(len(sets["train"]))  # train's rows come first in text_only too
        train = training_part(sets["train"], rows, config, 0, extra, text_only)
        model = train_stages(train, sets["dev"], config, len(techniques), log_dir, verbose=verbose)
        if companion_settings(config):
            companion_log = None if log_dir is None else Path(log_dir) / "frozen_companion"
            companion = fit_frozen_companion(
                train, config, len(techniques), companion_log, verbose=verbose
            )
            model = with_frozen_companions(model, [companion], config, train)
        dev = sets["dev"]
        return Trained(model, dev.labels, predict_probabilities(model, dev, config))
    raise ValueError(f"thresholds.tune_on must be 'folds' or 'dev', not {settings['tune_on']!r}")


def train_refit(
    train: FeatureSet,
    config: dict,
    num_labels: int,
    epochs: list[int],
    log_dir: Path | None = None,
    verbose: int = 0,
) -> keras.Model:
    """One network trained on all of `train` (a training part with whatever joins it), each
    stage for its `epochs` (from the folds: `refit_epochs`), seeded as the fold after the
    last."""
    log.info("refitting on all of train+dev; epochs per stage %s", epochs)
    stages = [
        dataclasses.replace(stage, epochs=count)
        for stage, count in zip(config["stages"], epochs, strict=True)
    ]
    keras.utils.set_random_seed(config["seed"] + config["thresholds"]["folds"])
    return train_stages(
        train,
        None,
        dataclasses.replace(config, stages=stages),
        num_labels,
        None if log_dir is None else Path(log_dir) / "refit",
        name=f"{config['model']['type']}_refit",
        verbose=verbose,
    )


def rule_selection(config) -> dict | None:
    """`thresholds.select_rule` as a dict (None when the rule is fixed)."""
    selection = config["thresholds"]["select_rule"]
    return None if selection is None else dict(selection)


def tune(config: dict, gold: np.ndarray, probabilities: np.ndarray, techniques):
    """Thresholds tuned on (gold, probabilities), and the table of candidate rules when the
    rule itself is chosen (`thresholds.select_rule`), else None."""
    settings = config["thresholds"]
    rule = {key: settings[key] for key in ("mode", "objective", "macro_weight")}
    if settings["fixed"] is not None:  # one global threshold, swept over itself alone
        rule = {"mode": "global", "thresholds": np.array([settings["fixed"]])}
    table = None
    selection = rule_selection(config)
    if selection is not None:
        table = cross_validated_rules(
            gold.astype(np.int32),
            probabilities,
            CANDIDATE_RULES,
            folds=selection["folds"],
            repeats=selection["repeats"],
            seed=config["seed"],
            min_labels_per_meme=settings["min_labels_per_meme"],
            min_support=settings["min_support"],
        )
        chosen = choose_rule(table, selection["micro_tolerance"])
        table["chosen"] = table["rule"] == chosen
        rule = CANDIDATE_RULES[chosen]
        log.info("threshold rule chosen by cross-validation on the tuning rows: %s", chosen)
    tuned = tune_thresholds(
        gold.astype(np.int32),
        probabilities,
        **rule,
        min_support=settings["min_support"],
        min_labels_per_meme=settings["min_labels_per_meme"],
        techniques=techniques,
    )
    return tuned, table


def predict_test_set(
    trained: Trained, shipped: keras.Model, test: FeatureSet, config: dict
) -> tuple[np.ndarray, np.ndarray | None]:
    """Test probabilities of the network to ship (`shipped`: `trained.model` on raw images and
    token ids) and of the fold ensemble beside it (None without one). Where both have frozen
    bottoms, one pass of one model with two outputs: the bottoms run and are traced once for
    both (about 15 s of a subtask-3 run)."""

    def predicted(model: keras.Model) -> np.ndarray:
        return predict_probabilities(model, test, config)

    if trained.fold_ensemble is None:
        return predicted(shipped), None
    if not model_live_parts(trained.model):  # heads on cached features: no bottoms to share
        return predicted(shipped), predicted(with_frozen_bottoms(trained.fold_ensemble, config))
    inputs = {
        name: keras.Input(tensor.shape[1:], dtype=tensor.dtype, name=name)
        for name, tensor in trained.model.input.items()
    }
    both = keras.Model(inputs, [trained.model(inputs), trained.fold_ensemble(inputs)])
    shipped_probabilities, ensemble_probabilities = predicted(with_frozen_bottoms(both, config))
    return shipped_probabilities, ensemble_probabilities


def run_classifier(
    config: dict, output_dir: str | Path, verbose: int = 0, reuse_finished: bool = False
) -> dict:
    """Trains, tunes and evaluates the configured classifier; writes the run folder.

    With `reuse_finished`, a run that already finished in `output_dir` with the same config,
    data, packages and meme_keras source is not trained again: its metrics are returned.
    """
    started = time.perf_counter()
    config = config_from_dict(plain(config)) if not isinstance(config, TypedConfig) else config
    # The run folder; across workers, the chief's (the others read its backups there, and
    # write to a scratch folder of their own).
    run_folder = Path(output_dir)
    output_dir = run_folder
    if not writes_run_folder(config["strategy"]):
        output_dir, reuse_finished = worker_scratch_folder(), False
    output_dir.mkdir(parents=True, exist_ok=True)
    data_dir = Path(config["data_dir"] or default_data_dir())
    task = get_task(config["task"])
    data_files = [
        data_dir / SPLIT_FILES[(task.subtask, split)] for split in ("train", "dev", "test")
    ]
    if config["extra_memes"]:
        data_files.append(extra_meme_file(task.subtask))
    data_files += adaptation_files(config["text_backbone"])
    key = run_key(config, data_files)
    if reuse_finished and (metrics := finished_metrics(output_dir, key)) is not None:
        log.info("%s: finished with this config, data and code; reusing it", output_dir)
        return metrics
    check_stages(config)
    check_offline_weights(config)  # missing weights stop the run here, not deep in Keras
    forget_finished(output_dir)
    # Before any TensorFlow op: a multi-worker strategy must start its collectives first.
    strategy = make_strategy(config["strategy"])
    seed_everything(config["seed"])
    techniques = read_techniques(data_dir, task.techniques)
    sets = run_feature_sets(config, techniques, verbose)
    # The extraction backbones and their traced steps are done with (the stages load their
    # own): freed now, they are not held through the folds and refit (0.17 GB lower peak).
    collect_garbage()
    dev_memes = sets["dev"].memes  # training may free the dev set's features
    with strategy.scope():
        trained = train_and_tune(config, sets, techniques, run_folder / "logs", verbose)
    tuning_labels, tuning_probabilities = trained.tuning_labels, trained.tuning_probabilities
    tuned, rules = tune(config, tuning_labels, tuning_probabilities, techniques)
    model = with_frozen_bottoms(trained.model, config)  # it takes raw images and token ids
    test_probabilities, ensemble_probabilities = predict_test_set(
        trained, model, sets["test"], config
    )
    test_decisions = tuned.apply(test_probabilities)
    test_gold = sets["test"].labels.astype(np.int32)
    refit_metrics = {}
    if ensemble_probabilities is not None:
        save_array_atomically(
            ensemble_probabilities, output_dir / "probabilities_test_fold_ensemble.npy"
        )
        if trained.refit_epochs is not None:
            refit_metrics["refit_epochs"] = trained.refit_epochs
        refit_metrics["test_fold_ensemble"] = multilabel_scores(
            test_gold, tuned.apply(ensemble_probabilities)
        )

    tuned.to_json(output_dir / "thresholds.json")
    write_sweep(tuned.sweep, output_dir / "threshold_sweep.csv")
    if rules is not None:
        write_csv_atomically(rules, output_dir / "threshold_rules.csv")
    plot_threshold_sweep(
        tuned.sweep,
        output_dir / "threshold_sweep.png",
        chosen=tuned.global_threshold,
        title="Out-of-fold F1 (train+dev) against the decision threshold",
    )
    save_model_atomically(model, output_dir / "model.keras")
    log.info("%s: model weights sha256 %s", run_folder, weights_digest(model))
    dev_rows = slice(len(tuning_labels) - len(dev_memes), len(tuning_labels))
    write_technique_predictions(
        dev_memes,
        tuned.apply(tuning_probabilities[dev_rows]),
        techniques,
        output_dir / "predictions_dev.json",
        tuning_probabilities[dev_rows],
    )
    write_technique_predictions(
        sets["test"].memes,
        test_decisions,
        techniques,
        output_dir / "predictions_test.json",
        test_probabilities,
    )
    save_array_atomically(test_probabilities, output_dir / "probabilities_test.npy")
    save_array_atomically(tuning_probabilities, output_dir / "probabilities_tuning.npy")
    save_array_atomically(tuning_labels.astype(np.int32), output_dir / "gold_tuning.npy")
    write_csv_atomically(
        per_label_table(test_gold, test_decisions, techniques), output_dir / "per_label_test.csv"
    )
    per_label_tuning = per_label_table(
        tuning_labels.astype(np.int32), tuned.apply(tuning_probabilities), techniques
    )
    write_csv_atomically(per_label_tuning, output_dir / "per_label_tuning.csv")
    plot_per_technique_f1(
        per_label_tuning,
        output_dir / "per_label_tuning.png",
        "Out-of-fold F1 per technique (train+dev), at the chosen thresholds",
    )
    write_run_summaries(
        output_dir / "logs",
        config,
        {
            "threshold_sweep": output_dir / "threshold_sweep.png",
            "per_technique_f1_out_of_fold": output_dir / "per_label_tuning.png",
        },
    )
    metrics = {
        "model": config["model"]["type"],
        "thresholds": {
            "mode": tuned.mode,
            "objective": tuned.objective,
            "macro_weight": tuned.macro_weight,
            "global": tuned.global_threshold,
        },
        "tuned_on": config["thresholds"]["tune_on"],
        "out_of_fold": tuned.metrics,
        # Threshold-free: how the tuning probabilities rank memes, per technique.
        "out_of_fold_mean_average_precision": mean_average_precision(
            tuning_labels, tuning_probabilities
        ),
        "test": multilabel_scores(test_gold, test_decisions),
        **refit_metrics,
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json_atomically(metrics, output_dir / "metrics.json")
    write_config(config, output_dir / "config.yaml")
    write_json_atomically(provenance(config, data_files, model), output_dir / "provenance.json")
    mark_finished(output_dir, key)
    log.info("%s: %s", output_dir, json.dumps(metrics))
    return metrics


def constant_top_k_scores(config: dict, k: int = 3) -> dict:
    """The constant "k most frequent training labels" reference on test."""
    data_dir = config["data_dir"] or default_data_dir()
    task = get_task(config["task"])
    techniques = read_techniques(data_dir, task.techniques)
    train, test = (
        labels_to_multi_hot(
            [m.labels for m in load_split(s, task.subtask, data_dir, False)], techniques
        )
        for s in ("train", "test")
    )
    return multilabel_scores(test, top_k_constant_prediction(train, len(test), k))
