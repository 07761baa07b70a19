"""Held-out figures of a run's rule selection with its decision settings changed.

    python experiments/decision_rule_candidates.py RUN [RUN ...] --min-labels-per-meme 2

For each `techniques` or `text_techniques` run folder, repeats the run's choice of decision
rule (the candidate rules cross-validated on its stored out-of-fold rows, with the run's folds,
repeats and seed, then its chooser) once as configured and once with the changed settings, and
prints the chosen rule's held-out micro-F1 and macro-F1 for both, and their means over the
runs. It reads `gold_tuning.npy` and `probabilities_tuning.npy` only: no model, no test file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from meme_keras.console import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()

from meme_keras.inference.run_folder import read_run_config  # noqa: E402
from meme_keras.training.classifier_run import tune  # noqa: E402

NEEDED = ("gold_tuning.npy", "probabilities_tuning.npy")


def chosen_rule_held_out(config, gold: np.ndarray, probabilities: np.ndarray) -> dict:
    """The rule `config` chooses on (gold, probabilities) and its held-out micro/macro F1."""
    _, table = tune(config, gold, probabilities, techniques=None)
    if table is None:
        raise ValueError(f"{config['name']}: its decision rule is fixed, not chosen")
    row = table[table["chosen"]].iloc[0]
    return {"rule": row["rule"], "micro_f1": row["micro_f1"], "macro_f1": row["macro_f1"]}


def compare(run_dir: Path, changes: dict) -> tuple[dict, dict]:
    """(as configured, with `changes` to its thresholds section) for one run folder."""
    config = read_run_config(run_dir, NEEDED)
    gold = np.load(run_dir / "gold_tuning.npy")
    probabilities = np.load(run_dir / "probabilities_tuning.npy")
    changed = read_run_config(run_dir, NEEDED)
    changed["thresholds"] = changed["thresholds"].replace(**changes)
    return (
        chosen_rule_held_out(config, gold, probabilities),
        chosen_rule_held_out(changed, gold, probabilities),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="techniques or text_techniques runs")
    parser.add_argument("--min-labels-per-meme", type=int, required=True)
    args = parser.parse_args()
    changes = {"min_labels_per_meme": args.min_labels_per_meme}
    print("run\tas configured: rule, held-out micro, macro\tchanged: rule, micro, macro")
    pairs = []
    for run_dir in args.runs:
        before, after = compare(run_dir, changes)
        pairs.append((before, after))
        print(
            f"{run_dir}\t{before['rule']}, {before['micro_f1']:.4f}, {before['macro_f1']:.4f}"
            f"\t{after['rule']}, {after['micro_f1']:.4f}, {after['macro_f1']:.4f}"
        )
    for index, name in enumerate(("as configured", "changed")):
        micro = np.mean([pair[index]["micro_f1"] for pair in pairs])
        macro = np.mean([pair[index]["macro_f1"] for pair in pairs])
        print(f"mean, {name}: held-out micro-F1 {micro:.4f}, macro-F1 {macro:.4f}")


if __name__ == "__main__":
    main()
