"""What the nested comparisons of a task's one network to ship share: their command line
(a config and a fold seed) and their output folder (`results.json`, `probabilities.npz`)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]


def parse_arguments(
    description: str, config_help: str, argv: list[str] | None = None, outer_folds: bool = False
):
    """(arguments, the config's path): a config name or path, `--seed`, `--limit`, `--output`
    (and `--outer-folds` if asked for); logging set up."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("config", help=config_help)
    parser.add_argument("--seed", type=int, default=42, help="the fold seed")
    if outer_folds:
        parser.add_argument(
            "--outer-folds", type=int, help="default: the config's folds, as the inner ones"
        )
    parser.add_argument("--limit", type=int, help="the first N train+dev memes only (a smoke run)")
    parser.add_argument("--output", type=Path, help="default: runs/<script>_<config>_s<seed>")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    path = Path(args.config)
    if not path.exists():
        path = REPOSITORY / "experiments" / "configs" / f"{args.config}.yaml"
    args.parser = parser
    return args, path


def write_results(results: dict, output: Path) -> dict:
    """Writes `results` (less its "probabilities", saved beside as arrays) to `output` and
    prints their out-of-fold scores."""
    output.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(output / "probabilities.npz", **results.pop("probabilities"))
    (output / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results["out_of_fold"], indent=2))
    return results
