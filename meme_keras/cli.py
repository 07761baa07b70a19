"""`meme-keras`: train, predict, show, evaluate, tune-thresholds and export runs of any task.

A run folder records its task, so `predict`, `show`, `tune-thresholds` and `export` need no
task flag. Bad input ends in one line on stderr naming the file and record, and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import meme_keras

EXIT_BAD_INPUT = 2
SPLITS = ("train", "dev", "test")


def _data_summary(args) -> None:
    from meme_keras.data.summary import corpus_summary

    counts, table = corpus_summary(args.data_dir)
    print(counts.to_string(index=False))
    print()
    print(table.to_string())


def _train(args) -> None:
    from meme_keras.training.run import train_config

    metrics = train_config(
        args.config, args.output, args.seed, args.data_dir, verbose=2, strategy=args.strategy
    )
    if args.json:
        print(json.dumps(metrics, indent=1, default=str))
        return
    from meme_keras.config import load_config
    from meme_keras.evaluation.score_summary import print_score_summary

    output = args.output or Path("runs") / load_config(args.config).name
    print_score_summary(metrics, f"{args.config.stem}: scores (all in {output}/metrics.json)")


def _evaluate(args) -> None:
    from meme_keras.evaluation.prediction_files import evaluate_prediction_file

    task = args.task
    if args.run is not None:
        from meme_keras.inference import read_run_config

        task = read_run_config(args.run).task
    scores = evaluate_prediction_file(args.predictions, args.split, task, args.data_dir)
    print(json.dumps(scores, indent=1))


def _tune_thresholds(args) -> None:
    from meme_keras.training.retune import retune_run

    scores = retune_run(
        args.run,
        args.output,
        mode=args.mode,
        objective=args.objective,
        macro_weight=args.macro_weight,
        min_labels_per_meme=args.min_labels_per_meme,
    )
    print(json.dumps(scores, indent=1))
    print(f"wrote the re-tuned run to {args.output}")


def _predict(args) -> None:
    from meme_keras.atomic_files import write_json_atomically
    from meme_keras.evaluation.prediction_display import print_predictions
    from meme_keras.inference import load
    from meme_keras.tasks import get_task

    model = load(args.run)
    task = get_task(model.task)
    skipped, options = [], {}
    if args.input:
        from meme_keras.inference.raw_memes import read_meme_json

        memes = read_meme_json(args.input, args.images, needs_images=model.needs_images)
    elif args.folder:
        from meme_keras.data.folder import read_meme_folder

        memes, skipped = read_meme_folder(
            args.folder,
            skip_invalid=args.skip_invalid,
            check_images=model.reads_images,
            require_images=model.needs_images,
        )
        if not memes:
            raise ValueError(f"{args.folder}: no valid memes to predict ({len(skipped)} skipped)")
    else:
        from meme_keras.backbones.feature_cache import default_cache_dir
        from meme_keras.data.corpus import load_split

        memes = load_split(args.split, task.subtask, args.data_dir, task.needs_images)
        options["cache_dir"] = default_cache_dir()  # the corpus's features are worth keeping
    records = model.predict_memes(memes, **options)
    write_json_atomically(records, args.output)
    if skipped:
        report = Path(str(args.output) + ".skipped.json")
        write_json_atomically([{"file": str(f), "reason": r} for f, r in skipped], report)
        print(f"skipped {len(skipped)} invalid memes: see {report}", file=sys.stderr)
    texts = {meme.id: meme.text for meme in memes}
    print_predictions(records[: args.show], texts, model.techniques)
    print(f"wrote {task.name} predictions for {len(memes)} memes to {args.output}")


def _show(args) -> None:
    from meme_keras.data.corpus import read_json_records
    from meme_keras.data.errors import CorpusError
    from meme_keras.evaluation.prediction_display import print_predictions

    records = read_json_records(Path(args.predictions))
    for position, record in enumerate(records):
        if not isinstance(record.get("id"), str) or not isinstance(record.get("labels"), list):
            raise CorpusError(args.predictions, None, f"record {position}: needs 'id' and 'labels'")
    by_id = {record["id"]: record for record in records}
    texts = {}
    if any("text" not in record for record in records) and args.split:
        from meme_keras.data.corpus import load_split

        texts = {m.id: m.text for m in load_split(args.split, 1, args.data_dir, False)}
    for meme_id in args.ids:
        if meme_id not in by_id:
            raise CorpusError(args.predictions, meme_id, "no prediction for this meme")
    chosen = [by_id[i] for i in args.ids] if args.ids else records[: args.count]
    print_predictions(chosen, texts)


def _export(args) -> None:
    from meme_keras.export.saved_model import export_run

    path = export_run(args.run, args.output)
    print(f"exported SavedModel to {path}")


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless its help already says it or there is none."""

    def _get_help_string(self, action):
        if "default" in (action.help or "") or action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    formatter = DefaultsHelpFormatter
    parser = argparse.ArgumentParser(
        prog="meme-keras", description=__doc__.splitlines()[0], formatter_class=formatter
    )
    parser.add_argument("--version", action="version", version=meme_keras.__version__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name, help_text):
        return commands.add_parser(name, help=help_text, formatter_class=formatter)

    def data_dir_option(sub):
        sub.add_argument(
            "--data-dir",
            type=Path,
            help="the SemEval-2021 corpus folder (default: $MEME_KERAS_DATA, else "
            "../shared/data/semeval2021_task6)",
        )

    data = command("data", "corpus commands")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    summary = data_commands.add_parser("summary", help="per-split counts and label frequencies")
    data_dir_option(summary)
    summary.set_defaults(handler=_data_summary)

    train = command("train", "train a config of any task (its `task` key) into a run folder")
    train.add_argument(
        "config", type=Path, help="a YAML config, e.g. experiments/configs/main.yaml"
    )
    train.add_argument("--output", type=Path, help="the run folder (default: runs/<name>)")
    train.add_argument("--seed", type=int, help="override the config's seed")
    data_dir_option(train)
    train.add_argument(
        "--strategy",
        choices=["default", "mirrored", "multi_worker"],
        help="override the config's strategy; multi_worker runs the same command on every "
        "host of the cluster in TF_CONFIG (the chief writes the run folder)",
    )
    train.add_argument(
        "--json", action="store_true", help="print the whole metrics.json instead of a table"
    )
    train.set_defaults(handler=_train)

    predict = command("predict", "predict with a trained run, in the task's JSON format")
    predict.add_argument("--run", type=Path, required=True, help="a trained run folder")
    source = predict.add_mutually_exclusive_group()
    source.add_argument(
        "--input",
        type=Path,
        help="a JSON array of memes: id, text, and image for multimodal runs (other keys are "
        "ignored)",
    )
    source.add_argument(
        "--folder", type=Path, help="a folder of images with same-name .txt captions"
    )
    source.add_argument(
        "--split",
        default="test",
        choices=SPLITS,
        help="a split of the corpus (without --input or --folder)",
    )
    predict.add_argument(
        "--images", type=Path, help="where --input's image names are (default: its folder)"
    )
    predict.add_argument(
        "--skip-invalid",
        action="store_true",
        help="with --folder: predict the valid memes and list the others in OUTPUT.skipped.json",
    )
    data_dir_option(predict)
    predict.add_argument("--output", type=Path, required=True, help="the predictions file")
    predict.add_argument("--show", type=int, default=3, help="print the first N predictions")
    predict.set_defaults(handler=_predict)

    for name in ("show", "show-spans"):
        show = command(name, "print the memes of a predictions file with their techniques")
        show.add_argument("predictions", type=Path, help="a predictions file (task format)")
        show.add_argument("ids", nargs="*", help="meme ids (default: the first --count)")
        show.add_argument("--count", type=int, default=5, help="how many memes without ids")
        show.add_argument(
            "--split", choices=SPLITS, help="take texts the file lacks from this corpus split"
        )
        data_dir_option(show)
        show.set_defaults(handler=_show)

    evaluate = command("evaluate", "score a predictions file against a split's gold")
    evaluate.add_argument("predictions", type=Path, help="a predictions file (task format)")
    evaluate.add_argument("--split", default="test", choices=SPLITS, help="the gold split")
    evaluate.add_argument("--run", type=Path, help="take the task from this run folder")
    evaluate.add_argument(
        "--task",
        default="techniques",
        choices=["techniques", "text_techniques", "spans"],
        help="the task, when --run is not given",
    )
    data_dir_option(evaluate)
    evaluate.set_defaults(handler=_evaluate)

    tune = command(
        "tune-thresholds",
        "re-tune a run's decision rule into a NEW run folder (the trained run is left as it is)",
    )
    tune.add_argument("--run", type=Path, required=True, help="a trained techniques run")
    tune.add_argument("--output", type=Path, required=True, help="the new run folder")
    tune.add_argument("--mode", default="global", choices=["global", "per_label"])
    tune.add_argument("--objective", default="micro", choices=["micro", "macro", "mix"])
    tune.add_argument(
        "--macro-weight", type=float, default=0.0, help="macro-F1's weight with --objective mix"
    )
    tune.add_argument(
        "--min-labels-per-meme", type=int, default=1, help="always keep this many top techniques"
    )
    tune.set_defaults(handler=_tune_thresholds)

    export = command("export", "export a run as a SavedModel on raw inputs")
    export.add_argument("--run", type=Path, required=True, help="a trained run folder")
    export.add_argument("--output", type=Path, required=True, help="the SavedModel folder")
    export.set_defaults(handler=_export)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from meme_keras.console import configure_logging, import_tensorflow_quietly

    import_tensorflow_quietly()
    configure_logging()
    from meme_keras.data.errors import CorpusError

    try:
        args.handler(args)
    except (CorpusError, FileNotFoundError, ValueError) as error:
        print(f"meme-keras: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
