"""The span decoder's candidates (rule 34), cross-fitted on a nested span run's saved soup
probabilities: no network is trained.

`span_soup_nested.py` saves, for every train+dev meme, the token probabilities of a soup that
never saw it (its outer fold's). Here, for each outer fold, each decoder's settings are tuned on
the two other outer parts and applied to this one; the spans of all parts together are scored
against the train+dev gold. Decoders: one global threshold (the baseline), per-technique
thresholds, one-word gaps joined, and both.

Usage: python experiments/span_decoding_nested.py NESTED_DIR [NESTED_DIR ...]
  [--config spans_lr4e-4_5epochs] [--output runs/span_decoding_nested.json]
Each NESTED_DIR holds a `span_soup_nested.py` run (`results.json`, `probabilities.npz`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

import numpy as np  # noqa: E402

from experiments.span_soup_nested import train_dev_pool  # noqa: E402
from meme_keras.config import load_config  # noqa: E402
from meme_keras.thresholds import threshold_grid  # noqa: E402
from meme_keras.training import span_decoder  # noqa: E402
from meme_keras.training.folds import fold_splits  # noqa: E402
from meme_keras.training.span_decoder import (  # noqa: E402
    best_global_index,
    credit_table,
    gold_span_counts,
    technique_threshold_indices,
)
from meme_keras.training.span_run import scores_dict  # noqa: E402

# name: (words a span may bridge, per-technique thresholds)
DECODERS = {
    "baseline: one threshold": (0, False),
    "A: per-technique thresholds": (0, True),
    "B: one-word gaps": (1, False),
    "A + B": (1, True),
}
MIN_GOLD_SPANS = 20


def scores_of(credits: np.ndarray, n_gold: int) -> dict:
    return scores_dict(span_decoder.scores_of(credits, n_gold))


def cross_fitted(pool, probabilities, techniques, grid, seed, folds, recorded) -> dict:
    """Each decoder's out-of-fold scores over `pool`, and the recorded thresholds' figure."""
    parts = [rows for _, _, rows in fold_splits(len(pool), folds, seed)]
    columns = np.arange(len(techniques))
    gold_counts = [gold_span_counts(pool.subset(rows), techniques) for rows in parts]
    tables = {
        gap: [
            credit_table(pool.subset(rows), probabilities[rows], techniques, grid, gap)
            for rows in parts
        ]
        for gap in {gap for gap, _ in DECODERS.values()}
    }
    n_gold = int(sum(counts.sum() for counts in gold_counts))
    results = {}
    for name, (gap, per_technique) in DECODERS.items():
        credits, chosen = np.zeros((len(techniques), 3)), []
        for f in range(len(parts)):
            tuning = sum(tables[gap][g] for g in range(len(parts)) if g != f)
            tuning_gold = sum(gold_counts[g] for g in range(len(parts)) if g != f)
            start = best_global_index(tuning, int(tuning_gold.sum()))
            indices = np.full(len(techniques), start)
            if per_technique:
                indices = technique_threshold_indices(tuning, tuning_gold, start, MIN_GOLD_SPANS)
            credits += tables[gap][f][indices, columns]
            chosen.append([round(float(grid[i]), 4) for i in indices])
        results[name] = {**scores_of(credits, n_gold), "thresholds": chosen}
    grid_index = {round(float(t), 4): i for i, t in enumerate(grid)}
    credits = sum(
        tables[0][f][grid_index[round(fold["threshold"], 4)]] for f, fold in enumerate(recorded)
    )
    results["recorded thresholds (rule 33)"] = scores_of(credits, n_gold)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nested", nargs="+", type=Path, help="span_soup_nested.py run folders")
    parser.add_argument("--config", default="spans_lr4e-4_5epochs")
    default = REPOSITORY / "runs" / "span_decoding_nested.json"
    parser.add_argument("--output", type=Path, default=default)
    args = parser.parse_args()
    config = load_config(REPOSITORY / "experiments" / "configs" / f"{args.config}.yaml")
    techniques, pool = train_dev_pool(config)
    grid = threshold_grid(**config["thresholds"])
    results = {}
    for folder in args.nested:
        nested = json.loads((folder / "results.json").read_text())
        probabilities = np.load(folder / "probabilities.npz")["soup"].astype(np.float32)
        seed = nested["fold_seed"]
        results[f"seed {seed}"] = cross_fitted(
            pool, probabilities, techniques, grid, seed, config["folds"], nested["folds"]
        )
    names = list(DECODERS) + ["recorded thresholds (rule 33)"]
    results["mean f1"] = {
        name: float(np.mean([results[seed][name]["f1"] for seed in results])) for name in names
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    for name in names:
        cells = [
            f"{results[s][name]['precision']:.3f} / {results[s][name]['recall']:.3f} / "
            f"{results[s][name]['f1']:.4f}"
            for s in results
            if s != "mean f1"
        ]
        print(f"| {name} | " + " | ".join(cells) + f" | {results['mean f1'][name]:.4f} |")


if __name__ == "__main__":
    main()
