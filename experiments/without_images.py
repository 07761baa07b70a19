"""Test scores of a `techniques` run with the memes' images and without them.

    python experiments/without_images.py runs/main [--split test]

Without images, each meme is shown the run's "no image" input (a black image), which a run
that trained on text-only memes (`text_only_fraction`, `extra_memes`) learned to read; a run
that never did refuses such memes. Prints both rows and writes `without_images.json` in the
run folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from meme_keras.console import configure_logging, import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()

from meme_keras.atomic_files import write_text_atomically  # noqa: E402
from meme_keras.data.corpus import load_split  # noqa: E402
from meme_keras.evaluation.multilabel_f1 import (  # noqa: E402
    labels_to_multi_hot,
    multilabel_scores,
)
from meme_keras.inference.run_folder import read_run_config  # noqa: E402
from meme_keras.inference.technique_model import TechniqueModel  # noqa: E402


def scores_with_and_without_images(run: str | Path, memes) -> dict[str, dict[str, float]]:
    """Micro/macro F1 of the run's decisions on `memes` as given and with no image at all."""
    model = TechniqueModel(run)
    gold = labels_to_multi_hot([meme.labels for meme in memes], model.techniques)
    scores = {}
    for name, shown in (
        ("with_images", memes),
        ("without_images", [dataclasses.replace(meme, image_path=None) for meme in memes]),
    ):
        decisions = model.thresholds.apply(model.probabilities(shown))
        scores[name] = multilabel_scores(gold, decisions)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a techniques run folder")
    parser.add_argument("--split", default="test", help="the 2021 split to score (default: test)")
    args = parser.parse_args()
    configure_logging()
    memes = load_split(args.split, 3, read_run_config(args.run)["data_dir"])
    scores = scores_with_and_without_images(args.run, memes)
    write_text_atomically(json.dumps(scores, indent=1), args.run / "without_images.json")
    for name, row in scores.items():
        print(f"{name}: micro-F1 {row['micro_f1']:.3f}, macro-F1 {row['macro_f1']:.3f}")


if __name__ == "__main__":
    main()
