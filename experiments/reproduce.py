"""`make reproduce`: the three tasks end to end on the offline default backbones.

Subtask 3 (`techniques`, printed first): the proposed fusion model, the linear probe and the
constant top-3 reference. Subtask 2 (`spans`): the span tagger and its references. Subtask 1
(`text_techniques`): the text model, its linear probe and the constant top-3. Each task trains
its final config (`FINAL_CONFIGS`: with the extra data where that passed its rule), and with
`--with-2021-only` also the same model on 2021 data only. Every choice is made on train+dev
folds; test is scored once.
Writes `assets/{main,spans,text}_results.md` and prints the tables. A run that already finished
with the same config, data, packages and code is reused (`--retrain` trains everything).

The first task trains in this process while the others train beside it, one after another
in a second process (log in `runs/reproduce_<tasks>.log`): a fine-tuning step on two cores
leaves about a third of them idle, which the other process takes. The first task's table is
printed when it finishes, the others' in task order once the second process has finished
(`--one-by-one`: everything in this process, in order). Tasks that need the same adapted text
backbone train it once: whichever asks second waits for it. The first task's adaptation runs in
a short-lived process of its own, so the process that then trains the task never holds the
adaptation's memory.

The separate reference runs (linear probes) need no adapted backbone. When the first task's
backbone is still to adapt (a cold start), the second process trains them all after its first
task, while it would otherwise wait for that adaptation, and it first caches the first task's
image features; the first process then finds both done. Otherwise the first process trains
them after its task, since the second process's chain is the longer. A run folder is trained
by one process at a time (the other waits, then reuses it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from meme_keras.console import configure_logging, import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # before anything imports TensorFlow

from experiments.per_technique_figure import draw, per_technique_f1  # noqa: E402
from meme_keras.config import load_config  # noqa: E402
from meme_keras.folder_lock import folder_lock  # noqa: E402
from meme_keras.training.classifier_run import constant_top_k_scores  # noqa: E402
from meme_keras.training.run import train_config  # noqa: E402

REPORT = {"micro_f1": 0.498, "macro_f1": 0.15}
# The best SemEval-2021 test scores (subtask 3; subtask 2, span F1), for reference.
LEADERBOARD = {"techniques": {"micro_f1": 0.58, "macro_f1": 0.27}, "spans": {"f1": 0.482}}


def results_table(rows: list[tuple[str, dict]]) -> str:
    """Test and out-of-fold F1 per model. Out-of-fold scores use a rule tuned on those same
    rows; "held out" is the chosen rule tuned on 4/5 of them and scored on the rest (runs that
    choose their rule), which is the fairer figure for per-label thresholds."""
    lines = [
        "| model | test micro-F1 | test macro-F1 | out-of-fold micro-F1 | out-of-fold macro-F1 "
        "| held-out micro-F1 | held-out macro-F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, metrics in rows:
        scores = [metrics.get(part, {}) for part in ("test", "out_of_fold", "held_out")]
        cells = [
            f"{part[k]:.3f}" if k in part else "–"
            for part in scores
            for k in ("micro_f1", "macro_f1")
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def held_out_scores(path: Path) -> dict:
    """The chosen rule's held-out micro/macro F1 from a run's threshold_rules.csv ({} if none)."""
    if not path.exists():
        return {}
    import pandas as pd

    rules = pd.read_csv(path)
    chosen = rules[rules["chosen"]].iloc[0]
    return {"micro_f1": float(chosen["micro_f1"]), "macro_f1": float(chosen["macro_f1"])}


def threshold_rules_table(path: Path) -> str | None:
    """The run's candidate decision rules (scored on held-out out-of-fold rows) as markdown."""
    if not path.exists():
        return None
    import pandas as pd

    rules = pd.read_csv(path)
    lines = [
        "| rule | micro-F1 | macro-F1 | in-sample micro-F1 | in-sample macro-F1 | chosen |",
        "|---|---|---|---|---|---|",
    ]
    for row in rules.itertuples():
        lines.append(
            f"| {row.rule} | {row.micro_f1:.3f} ± {row.micro_f1_std:.3f} "
            f"| {row.macro_f1:.3f} ± {row.macro_f1_std:.3f} | {row.in_sample_micro_f1:.3f} "
            f"| {row.in_sample_macro_f1:.3f} | {'yes' if row.chosen else ''} |"
        )
    return "\n".join(lines)


# Each task's final config (trained by `make reproduce`) and the same model on 2021 data only
# (`--with-2021-only`). A final config uses extra data only where its rule, written before it
# was trained, passed on train+dev folds (docs/results.md); otherwise both names are the same.
FINAL_CONFIGS = {
    "techniques": ("main_adapted_capped", "main"),
    "spans": ("spans_soup_top2", "spans_soup_top2"),
    "text_techniques": ("text_techniques_soup_capped", "text_techniques"),
}


def configured(config_name: str):
    return load_config(REPOSITORY / "experiments" / "configs" / f"{config_name}.yaml")


def train(config_name: str, reuse: bool) -> dict:
    config = configured(config_name)
    output = REPOSITORY / "runs" / config.name
    with folder_lock(output, f"training {output}"):
        return train_config(config, output, verbose=0, reuse_finished=reuse)


def uses_extra_data(config) -> bool:
    """Whether a config learns from more than the 2021 memes: extra memes or articles in its
    folds' training parts, or a text backbone adapted to the extra memes."""
    adapted = config["text_backbone"].get("adaptation") is not None
    return adapted or bool(config.get("extra_memes")) or bool(config.get("extra_articles"))


def data_label(config_name: str) -> str:
    return "with extra data" if uses_extra_data(configured(config_name)) else "2021 data only"


def final_runs(task: str, with_2021_only: bool) -> list[str]:
    """The config names to train for `task`: its final config, then (if asked and different)
    its 2021-only counterpart."""
    final, only_2021 = FINAL_CONFIGS[task]
    return [final] if not with_2021_only or only_2021 == final else [final, only_2021]


def with_held_out(metrics: dict, run: str) -> dict:
    return {
        **metrics,
        "held_out": held_out_scores(REPOSITORY / "runs" / run / "threshold_rules.csv"),
    }


def fold_ensemble_rows(metrics: dict, name: str, folds: int) -> list[tuple[str, dict]]:
    """The fold ensemble's test row, beside a refit or soup run's shipped network (none
    otherwise)."""
    if "test_fold_ensemble" not in metrics:
        return []
    return [(f"{name}: the {folds} fold models averaged", {"test": metrics["test_fold_ensemble"]})]


def model_rows(runs: list[str], describe: str, reuse: bool) -> list[tuple[str, dict]]:
    """Each run's shipped network and fold ensemble, named `describe` plus its data."""
    rows = []
    for run in runs:
        name = f"{describe}, {data_label(run)} (ours)"
        metrics = with_held_out(train(run, reuse), run)
        folds = configured(run).thresholds.folds
        rows += [(name, metrics), *fold_ensemble_rows(metrics, name, folds)]
    return rows


def f1_cells(test: dict) -> str:
    return f"micro-F1 {test['micro_f1']:.3f}, macro-F1 {test['macro_f1']:.3f}"


def summary_row(subtask: str, run: str, score: str) -> tuple[str, str, str, str]:
    return (subtask, run, data_label(run), score)


def main_task(
    assets: Path, reuse: bool, with_2021_only: bool, references: str = "train"
) -> list[tuple]:
    runs = final_runs("techniques", with_2021_only)
    describe = "proposed: transformer fusion, EfficientNet top + MiniLM fine-tuned"
    rows = model_rows(runs, describe, reuse)
    final_test = rows[0][1]["test"]
    rows += reference_rows("techniques", reuse, references)
    rows += [
        (
            "constant: 3 most frequent labels",
            {"test": constant_top_k_scores(configured(runs[0]), 3)},
        ),
        ("report: fusion, ResNet50 + ALBERT-large, fine-tuned text", {"test": REPORT}),
        ("SemEval-2021 leaderboard, best", {"test": LEADERBOARD["techniques"]}),
    ]
    table = results_table(rows)
    (assets / "main_results.md").write_text(table + "\n")
    print("\nSubtask 3 (techniques, text + image), test set:\n" + table, flush=True)
    rules = threshold_rules_table(REPOSITORY / "runs" / runs[0] / "threshold_rules.csv")
    if rules:
        (assets / "main_threshold_rules.md").write_text(rules + "\n")
        print("\nDecision rules, cross-validated on the out-of-fold probabilities:\n" + rules)
    return [summary_row("3: techniques (text + image)", runs[0], f1_cells(final_test))]


def span_task(
    assets: Path, reuse: bool, with_2021_only: bool, references: str = "train"
) -> list[tuple]:
    # `references` is for the tasks with reference runs of their own; the span run scores its
    # references itself.
    summary = []
    for index, name in enumerate(final_runs("spans", with_2021_only)):
        metrics = train(name, reuse)
        run = REPOSITORY / "runs" / name
        # The final run's tables are the assets; a 2021-only one goes beside them.
        target = assets if index == 0 else assets / "2021_only"
        target.mkdir(exist_ok=True)
        for path in run.glob("spans_*"):
            shutil.copy2(path, target / path.name)
        results = (run / "spans_results.md").read_text()
        print(f"\nSubtask 2 (spans, {data_label(name)}), span P/R/F1:\n" + results, flush=True)
        score = f"span F1 {metrics['tagger']['test']['f1']:.3f}"
        summary.append(summary_row("2: spans", name, score))
    print(f"SemEval-2021 leaderboard, best: span F1 {LEADERBOARD['spans']['f1']:.3f}")
    return summary


def text_task(
    assets: Path, reuse: bool, with_2021_only: bool, references: str = "train"
) -> list[tuple]:
    """Subtask 1's table (`references`: as in `reference_rows`)."""
    runs = final_runs("text_techniques", with_2021_only)
    rows = model_rows(runs, "text head, MiniLM fine-tuned", reuse)
    final_test = rows[0][1]["test"]
    rows += reference_rows("text_techniques", reuse, references)
    rows += [
        (
            "constant: 3 most frequent labels",
            {"test": constant_top_k_scores(configured(runs[0]), 3)},
        ),
    ]
    table = results_table(rows)
    (assets / "text_results.md").write_text(table + "\n")
    print("\nSubtask 1 (text_techniques, text only), test set:\n" + table, flush=True)
    return [summary_row("1: techniques (text only)", runs[0], f1_cells(final_test))]


TASKS = {"techniques": main_task, "spans": span_task, "text_techniques": text_task}
# Each task's reference run of its own and its table row (the span run scores its references).
REFERENCE_RUNS = {
    "techniques": ("linear_probe", "linear probe on frozen pooled features (ours)"),
    "text_techniques": (
        "text_linear_probe",
        "linear probe on frozen pooled MiniLM features (ours)",
    ),
}


def reference_rows(task: str, reuse: bool, references: str = "train") -> list[tuple[str, dict]]:
    """The table row of `task`'s reference run ([] if it has none). `references`: "train" it
    (or reuse it, with `reuse`); "read" the run another process trains (waiting for it, and
    training it only if that process has not); "skip" it (another process's table has it)."""
    if references == "skip" or task not in REFERENCE_RUNS:
        return []
    name, row = REFERENCE_RUNS[task]
    return [(row, train(name, reuse or references == "read"))]


def train_references(tasks: list[str], reuse: bool) -> None:
    """Trains the reference runs of `tasks` (in the process that does not train those tasks'
    tables, or before the tables read them)."""
    for task in tasks:
        reference_rows(task, reuse)


def cache_image_features_of(task: str, with_2021_only: bool) -> None:
    """Caches the image features of `task`'s runs, for the process that trains it."""
    from meme_keras.training.classifier_run import cache_image_features

    for name in final_runs(task, with_2021_only):
        cache_image_features(configured(name))  # (nothing for a run without images)


SUBTASKS = {"techniques": "3", "spans": "2", "text_techniques": "1"}


def per_technique_panels(tasks: list[str], with_2021_only: bool) -> dict:
    """Per-technique test F1 of each trained final run, by subtask and data label."""
    return {
        SUBTASKS[task]: {
            data_label(run): per_technique_f1(REPOSITORY / "runs" / run)
            for run in final_runs(task, with_2021_only)
        }
        for task in tasks
    }


def adaptations_needed(tasks: list[str], with_2021_only: bool) -> list[str]:
    """The config names among `tasks`' runs whose adapted text backbone is not cached yet."""
    from meme_keras.backbones.adapted_text import adapted_folder, is_adapted

    names = [name for task in tasks for name in final_runs(task, with_2021_only)]
    sections = {name: configured(name)["text_backbone"] for name in names}
    return [
        name
        for name, text in sections.items()
        if text.get("adaptation") and not is_adapted(adapted_folder(text))
    ]


# The adaptation runs beside the second process's training: on one TensorFlow thread it is
# bit-reproducible (on TensorFlow's default threads its weights differ from run to run in the
# 6th decimal) and about 8% faster than on two threads beside another process of ours
# (docs/performance.md#cold-probes-beside-the-adaptation).
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def adapt_in_child(config_names: list[str]) -> None:
    """Adapts the text backbones of `config_names` in a process of its own (`--adapt-only`),
    on one thread (`ONE_THREAD`): a process that has adapted MiniLM keeps about a gigabyte
    more when it then trains."""
    if not config_names:
        return
    command = [sys.executable, __file__, "--adapt-only", *config_names]
    if subprocess.run(command, env={**os.environ, **ONE_THREAD}).returncode != 0:
        raise SystemExit(f"reproduce: adapting the text backbone of {config_names} failed")


def adapt(config_names: list[str]) -> None:
    from meme_keras.training.text_adaptation import ensure_adapted_text_backbone

    for name in config_names:
        ensure_adapted_text_backbone(configured(name)["text_backbone"])


def start_beside(
    tasks: list[str], retrain: bool, with_2021_only: bool, ahead_of: str | None = None
):
    """Starts one process that trains `tasks` in order (`--tasks ... --one-by-one`), its
    output in `runs/reproduce_<tasks>.log`; returns (process, log). With `ahead_of` (the first
    task, while its text backbone adapts), that process also caches its image features, first,
    and trains its and `tasks`' reference runs after its own first task."""
    log = REPOSITORY / "runs" / f"reproduce_{'_'.join(tasks)}.log"
    log.parent.mkdir(exist_ok=True)
    command = [sys.executable, __file__, "--tasks", *tasks, "--one-by-one", "--no-summary"]
    command += ["--references-elsewhere"] + (["--ahead-of", ahead_of] if ahead_of else [])
    command += ["--retrain"] * retrain + ["--with-2021-only"] * with_2021_only
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=output)
    where = log.relative_to(REPOSITORY)
    print(f"training {', '.join(tasks)} in a second process meanwhile (log: {where})", flush=True)
    return process, log


def wait_beside(process, log: Path) -> None:
    """Waits for a `start_beside` process; raises, naming its log, if it failed."""
    if process.wait() != 0:
        raise SystemExit(f"reproduce: a task failed; see {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tasks", nargs="+", choices=list(TASKS), default=list(TASKS), help="the tasks to run"
    )
    parser.add_argument(
        "--retrain",
        action="store_true",
        help="train every run again, even one that finished with the same config, data and code",
    )
    parser.add_argument(
        "--with-2021-only",
        action="store_true",
        help="also train each task's final model on 2021 data only (the leaderboard's setting)",
    )
    parser.add_argument(
        "--one-by-one",
        action="store_true",
        help="train every task in this process, in order (default: the first here, the others "
        "one after another in a second process at the same time)",
    )
    parser.add_argument("--no-summary", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--references-elsewhere", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ahead-of", choices=list(TASKS), help=argparse.SUPPRESS)
    parser.add_argument("--adapt-only", nargs="+", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure_logging()
    if args.adapt_only:
        return adapt(args.adapt_only)
    started = time.perf_counter()
    assets = REPOSITORY / "assets"
    assets.mkdir(exist_ok=True)
    later = args.tasks[1:]
    adapting = adaptations_needed(args.tasks[:1], args.with_2021_only)
    beside = None
    if later and not args.one_by_one:
        ahead_of = args.tasks[0] if adapting else None
        beside = start_beside(later, args.retrain, args.with_2021_only, ahead_of)
    if args.ahead_of:
        cache_image_features_of(args.ahead_of, args.with_2021_only)
    adapt_in_child(adapting)
    references = "skip" if args.references_elsewhere else "train"
    if beside is not None and adapting:
        references = "read"  # the second process trains them
    first = TASKS[args.tasks[0]]
    summary = first(assets, not args.retrain, args.with_2021_only, references=references)
    if args.ahead_of:
        train_references([args.ahead_of, *args.tasks], reuse=not args.retrain)
    retrain = args.retrain
    if beside is not None:
        if not adapting:
            train_references(later, reuse=not args.retrain)
        wait_beside(*beside)
        retrain = False  # trained just now: the tables below read the finished runs
    for task in later:
        summary += TASKS[task](assets, not retrain, args.with_2021_only, references=references)
    if args.no_summary:
        return
    panels = per_technique_panels(args.tasks, args.with_2021_only)
    print(f"\nPer-technique test F1: {draw(panels, assets / 'per_technique_f1.png')}")
    lines = ["| subtask | run | data | test score |", "|---|---|---|---|"]
    lines += [
        f"| {subtask} | runs/{run} | {data} | {score} |" for subtask, run, data, score in summary
    ]
    print("\nSummary, 2021 test set:\n" + "\n".join(lines))
    print(f"\nreproduce finished in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
