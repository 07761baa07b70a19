"""`make reproduce`: the three tasks end to end on the offline default backbones.

Subtask 3 (`techniques`, printed first): the proposed fusion model, the linear probe and the
constant top-3 reference. Subtask 2 (`spans`): the span tagger and its references. Subtask 1
(`text_techniques`): the text model, its linear probe and the constant top-3. Every choice is
made on train+dev folds; test is scored once.
Writes `assets/{main,spans,text}_results.md` and prints the tables. A run that already finished
with the same config, data, packages and code is reused (`--retrain` trains everything).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from meme_keras.console import configure_logging, import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # before anything imports TensorFlow

from experiments.per_technique_figure import draw, per_technique_f1  # noqa: E402
from meme_keras.config import load_config  # noqa: E402
from meme_keras.training.classifier_run import constant_top_k_scores  # noqa: E402
from meme_keras.training.run import train_config  # noqa: E402

REPORT = {"micro_f1": 0.498, "macro_f1": 0.15}


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


def train(config_name: str, reuse: bool) -> dict:
    config = load_config(REPOSITORY / "experiments" / "configs" / f"{config_name}.yaml")
    return train_config(config, REPOSITORY / "runs" / config.name, verbose=0, reuse_finished=reuse)


def with_held_out(metrics: dict, run: str) -> dict:
    return {
        **metrics,
        "held_out": held_out_scores(REPOSITORY / "runs" / run / "threshold_rules.csv"),
    }


def fold_ensemble_rows(metrics: dict, name: str) -> list[tuple[str, dict]]:
    """The fold ensemble's test row, beside a refit run's shipped network (none otherwise)."""
    if "test_fold_ensemble" not in metrics:
        return []
    return [(f"{name}: the 5 fold models averaged", {"test": metrics["test_fold_ensemble"]})]


def f1_cells(test: dict) -> str:
    return f"micro-F1 {test['micro_f1']:.3f}, macro-F1 {test['macro_f1']:.3f}"


def main_task(assets: Path, reuse: bool) -> tuple[str, str, str]:
    main_metrics = with_held_out(train("main", reuse), "main")
    probe_metrics = train("linear_probe", reuse)
    main_config = load_config(REPOSITORY / "experiments" / "configs" / "main.yaml")
    name = "proposed: transformer fusion, EfficientNet top + MiniLM fine-tuned (ours)"
    rows = [
        (name, main_metrics),
        *fold_ensemble_rows(main_metrics, name),
        ("linear probe on frozen pooled features (ours)", probe_metrics),
        ("constant: 3 most frequent labels", {"test": constant_top_k_scores(main_config, 3)}),
        ("report: fusion, ResNet50 + ALBERT-large, fine-tuned text", {"test": REPORT}),
    ]
    table = results_table(rows)
    (assets / "main_results.md").write_text(table + "\n")
    print("\nSubtask 3 (techniques, text + image), test set:\n" + table, flush=True)
    rules = threshold_rules_table(REPOSITORY / "runs" / "main" / "threshold_rules.csv")
    if rules:
        (assets / "main_threshold_rules.md").write_text(rules + "\n")
        print("\nDecision rules, cross-validated on the out-of-fold probabilities:\n" + rules)
    return ("3: techniques (text + image)", "main", f1_cells(main_metrics["test"]))


def span_task(assets: Path, reuse: bool) -> tuple[str, str, str]:
    metrics = train("spans", reuse)
    run = REPOSITORY / "runs" / "spans"
    for path in run.glob("spans_*"):
        shutil.copy2(path, assets / path.name)
    print(
        "\nSubtask 2 (spans), span P/R/F1:\n" + (run / "spans_results.md").read_text(), flush=True
    )
    return ("2: spans", "spans", f"span F1 {metrics['tagger']['test']['f1']:.3f}")


def text_task(assets: Path, reuse: bool) -> tuple[str, str, str]:
    text_metrics = with_held_out(train("text_techniques", reuse), "text_techniques")
    probe_metrics = train("text_linear_probe", reuse)
    config = load_config(REPOSITORY / "experiments" / "configs" / "text_techniques.yaml")
    name = "text head, MiniLM fine-tuned (ours)"
    rows = [
        (name, text_metrics),
        *fold_ensemble_rows(text_metrics, name),
        ("linear probe on frozen pooled MiniLM features (ours)", probe_metrics),
        ("constant: 3 most frequent labels", {"test": constant_top_k_scores(config, 3)}),
    ]
    table = results_table(rows)
    (assets / "text_results.md").write_text(table + "\n")
    print("\nSubtask 1 (text_techniques, text only), test set:\n" + table, flush=True)
    return ("1: techniques (text only)", "text_techniques", f1_cells(text_metrics["test"]))


TASKS = {"techniques": main_task, "spans": span_task, "text_techniques": text_task}


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
    args = parser.parse_args()
    configure_logging()
    started = time.perf_counter()
    assets = REPOSITORY / "assets"
    assets.mkdir(exist_ok=True)
    summary = [TASKS[task](assets, reuse=not args.retrain) for task in args.tasks]
    panels = {
        subtask: {"2021 data only": per_technique_f1(REPOSITORY / "runs" / run)}
        for subtask, run, task in (
            ("3", "main", "techniques"),
            ("2", "spans", "spans"),
            ("1", "text_techniques", "text_techniques"),
        )
        if task in args.tasks
    }
    print(f"\nPer-technique test F1: {draw(panels, assets / 'per_technique_f1.png')}")
    lines = ["| subtask | run | test score |", "|---|---|---|"]
    lines += [f"| {subtask} | runs/{run} | {score} |" for subtask, run, score in summary]
    print("\nSummary, 2021 test set:\n" + "\n".join(lines))
    print(f"\nreproduce finished in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
