"""`meme-keras`: data summary, train, evaluate, tune-thresholds, predict, show-spans, export.

Bad input ends in one line on stderr naming the file and record, and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EXIT_BAD_INPUT = 2


def _data_summary(args) -> None:
    from meme_keras.data.summary import corpus_summary

    counts, table = corpus_summary(args.data_dir)
    print(counts.to_string(index=False))
    print()
    print(table.to_string())


def _train(args) -> None:
    from meme_keras.training.classifier_run import run_classifier
    from meme_keras.training.config import load_config

    config = load_config(args.config)
    if args.seed is not None:
        config["seed"] = args.seed
    if args.data_dir:
        config["data_dir"] = str(args.data_dir)
    if args.strategy:
        config["strategy"] = args.strategy
    output = args.output or Path("runs") / config["name"]
    metrics = run_classifier(config, output, verbose=1)
    print(json.dumps(metrics, indent=1))


def _evaluate(args) -> None:
    from meme_keras.evaluation.prediction_files import evaluate_prediction_file

    scores = evaluate_prediction_file(args.predictions, args.split, args.task, args.data_dir)
    print(json.dumps(scores, indent=1))


def _tune_thresholds(args) -> None:
    import numpy as np

    from meme_keras.thresholds import plot_threshold_sweep, tune_thresholds, write_sweep

    run = Path(args.run)
    gold = np.load(run / "gold_tuning.npy")
    probabilities = np.load(run / "probabilities_tuning.npy")
    previous = json.loads((run / "thresholds.json").read_text())
    tuned = tune_thresholds(
        gold,
        probabilities,
        mode=args.mode,
        objective=args.objective,
        macro_weight=args.macro_weight,
        min_labels_per_meme=args.min_labels_per_meme,
        techniques=list(previous["thresholds"]),
    )
    tuned.to_json(run / "thresholds.json")
    write_sweep(tuned.sweep, run / "threshold_sweep.csv")
    plot_threshold_sweep(tuned.sweep, run / "threshold_sweep.png", chosen=tuned.global_threshold)
    print(json.dumps({"global_threshold": tuned.global_threshold, **tuned.metrics}, indent=1))


def _predict(args) -> None:
    from meme_keras.atomic_files import write_json_atomically
    from meme_keras.data.corpus import load_split

    skipped = []
    if args.folder:
        from meme_keras.data.folder import read_meme_folder

        memes, skipped = read_meme_folder(args.folder, skip_invalid=args.skip_invalid)
        if not memes:
            raise ValueError(f"{args.folder}: no valid memes to predict ({len(skipped)} skipped)")
    else:
        subtask = 2 if args.task == "spans" else 3
        memes = load_split(args.split, subtask, args.data_dir, check_images=subtask == 3)
    cache = {"cache_dir": None if args.folder else _default_cache()}
    if args.task == "spans":
        from meme_keras.evaluation.span_display import print_highlighted
        from meme_keras.evaluation.span_predictions import write_span_predictions
        from meme_keras.span_predictor import SpanPredictor

        spans = SpanPredictor(args.run, args.data_dir).predict(memes, **cache)
        write_span_predictions(args.output, memes, spans)
        for meme in memes[: args.show]:
            print_highlighted(meme.text, spans[meme.id], title=f"meme {meme.id}")
    else:
        from meme_keras.evaluation.technique_predictions import write_technique_predictions
        from meme_keras.predictor import TechniquePredictor

        predictor = TechniquePredictor(args.run)
        decisions = predictor.predict(memes, **cache)
        write_technique_predictions(memes, decisions, predictor.techniques, args.output)
    if skipped:
        report = Path(str(args.output) + ".skipped.json")
        write_json_atomically([{"file": str(f), "reason": r} for f, r in skipped], report)
        print(f"skipped {len(skipped)} invalid memes: see {report}", file=sys.stderr)
    print(f"wrote predictions for {len(memes)} memes to {args.output}")


def _show_spans(args) -> None:
    from meme_keras.data.corpus import load_split
    from meme_keras.evaluation.span_display import print_highlighted
    from meme_keras.evaluation.span_predictions import read_span_predictions

    predicted = read_span_predictions(args.predictions)
    memes = {meme.id: meme for meme in load_split(args.split, 2, args.data_dir, False)}
    for meme_id in args.ids or list(predicted)[:5]:
        if meme_id not in memes or meme_id not in predicted:
            raise ValueError(f"{args.predictions}: no meme {meme_id!r} in {args.split}")
        print_highlighted(memes[meme_id].text, predicted[meme_id], title=f"meme {meme_id}")


def _default_cache():
    from meme_keras.backbones.feature_cache import default_cache_dir

    return default_cache_dir()


def _export(args) -> None:
    from meme_keras.export.saved_model import export_run

    path = export_run(args.run, args.output)
    print(f"exported SavedModel to {path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meme-keras", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="corpus commands")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    summary = data_commands.add_parser("summary", help="per-split counts and label frequencies")
    summary.add_argument("--data-dir", type=Path)
    summary.set_defaults(handler=_data_summary)

    train = commands.add_parser("train", help="train, tune and evaluate a classifier config")
    train.add_argument("config", type=Path)
    train.add_argument("--output", type=Path, help="run folder (default runs/<name>)")
    train.add_argument("--seed", type=int)
    train.add_argument("--data-dir", type=Path)
    train.add_argument("--strategy", choices=["default", "mirrored"])
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser("evaluate", help="score a predictions file against gold")
    evaluate.add_argument("predictions", type=Path)
    evaluate.add_argument("--split", default="test", choices=["train", "dev", "test"])
    evaluate.add_argument("--task", default="techniques", choices=["techniques", "spans"])
    evaluate.add_argument("--data-dir", type=Path)
    evaluate.set_defaults(handler=_evaluate)

    tune = commands.add_parser(
        "tune-thresholds", help="re-tune a run's thresholds on its tuning predictions"
    )
    tune.add_argument("--run", type=Path, required=True)
    tune.add_argument("--mode", default="global", choices=["global", "per_label"])
    tune.add_argument("--objective", default="micro", choices=["micro", "macro", "mix"])
    tune.add_argument("--macro-weight", type=float, default=0.0)
    tune.add_argument("--min-labels-per-meme", type=int, default=1)
    tune.set_defaults(handler=_tune_thresholds)

    predict = commands.add_parser("predict", help="predict techniques to the task's JSON format")
    predict.add_argument("--run", type=Path, required=True)
    predict.add_argument("--task", default="techniques", choices=["techniques", "spans"])
    predict.add_argument("--show", type=int, default=0, help="print N memes with their spans")
    source = predict.add_mutually_exclusive_group()
    source.add_argument("--split", default="test", choices=["train", "dev", "test"])
    source.add_argument("--folder", type=Path, help="images with same-name .txt captions")
    predict.add_argument("--skip-invalid", action="store_true")
    predict.add_argument("--data-dir", type=Path)
    predict.add_argument("--output", type=Path, required=True)
    predict.set_defaults(handler=_predict)

    show = commands.add_parser("show-spans", help="print memes with their spans highlighted")
    show.add_argument("predictions", type=Path)
    show.add_argument("ids", nargs="*", help="meme ids (default: the first five)")
    show.add_argument("--split", default="test", choices=["train", "dev", "test"])
    show.add_argument("--data-dir", type=Path)
    show.set_defaults(handler=_show_spans)

    export = commands.add_parser("export", help="export a run as a SavedModel on raw inputs")
    export.add_argument("--run", type=Path, required=True)
    export.add_argument("--output", type=Path, required=True)
    export.set_defaults(handler=_export)
    return parser


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    from meme_keras.data.errors import CorpusError

    try:
        args.handler(args)
    except (CorpusError, FileNotFoundError, ValueError) as error:
        print(f"meme-keras: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
