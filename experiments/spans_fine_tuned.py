"""Fine-tune MiniLM at the span task's chosen grid point, and compare with the frozen
tagger on dev (both trained on train; token thresholds tuned on dev; test scored once each).

Reads the chosen loss from runs/spans/config.yaml (train `experiments/configs/spans.yaml` first).
Writes assets/spans_fine_tuned.{csv,md}.
Usage: python experiments/spans_fine_tuned.py [--epochs 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

import keras  # noqa: E402
import pandas as pd  # noqa: E402

from meme_keras.backbones.adapted_text import text_preset  # noqa: E402
from meme_keras.backbones.text_backbones import load_text_backbone  # noqa: E402
from meme_keras.config import load_config  # noqa: E402
from meme_keras.data.corpus import default_data_dir  # noqa: E402
from meme_keras.data.techniques import read_techniques  # noqa: E402
from meme_keras.evaluation.markdown_tables import markdown_table  # noqa: E402
from meme_keras.evaluation.span_f1 import span_scores  # noqa: E402
from meme_keras.pipeline.padded_length import padded_length  # noqa: E402
from meme_keras.thresholds import threshold_grid  # noqa: E402
from meme_keras.training.span_run import load_data  # noqa: E402
from meme_keras.training.span_training import (  # noqa: E402
    best_threshold,
    decode_spans,
    fine_tune_span_tagger,
    fit_span_tagger,
    predict_tag_probabilities,
    sweep_span_threshold,
)


def evaluate(name, model, inputs_of, dev, test, techniques, config) -> dict:
    dev_probabilities = predict_tag_probabilities(model, inputs_of(dev))
    sweep = sweep_span_threshold(
        dev, dev_probabilities, techniques, threshold_grid(**config["thresholds"])
    )
    threshold = best_threshold(sweep)
    dev_scores = sweep.loc[sweep["threshold"] == threshold].iloc[0]
    test_spans = decode_spans(
        test, predict_tag_probabilities(model, inputs_of(test)), techniques, threshold
    )
    test_scores = span_scores(test_spans, test.gold())
    return {
        "model": name,
        "threshold (dev)": threshold,
        "dev F1": float(dev_scores["f1"]),
        "test P": test_scores.precision,
        "test R": test_scores.recall,
        "test F1": test_scores.f1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    config = load_config(REPOSITORY / "runs" / "spans" / "config.yaml")
    config["fine_tune"]["epochs"] = args.epochs
    techniques = read_techniques(default_data_dir(), "text")
    train, dev, test = (
        load_data(split, techniques, config, default_data_dir())
        for split in ("train", "dev", "test")
    )
    # No compute on positions past the longest text (101 tokens), as the spans run does.
    longest = max(int(data.padding_mask.sum(1).max()) for data in (train, dev, test))
    length = padded_length(longest, 8, train.padding_mask.shape[1])
    train, dev, test = (data.trimmed(length) for data in (train, dev, test))
    keras.utils.set_random_seed(config["seed"])
    head = fit_span_tagger(train, config, len(techniques))
    rows = [
        evaluate(
            "frozen MiniLM + head", head, lambda d: d.head_inputs(), dev, test, techniques, config
        )
    ]
    backbone = load_text_backbone(
        config["text_backbone"]["name"], text_preset(config["text_backbone"])
    )
    tagger = fine_tune_span_tagger(backbone, head, train, config, verbose=2)
    rows.append(
        evaluate(
            f"MiniLM fine-tuned {args.epochs} epochs",
            tagger,
            lambda d: d.backbone_inputs(),
            dev,
            test,
            techniques,
            config,
        )
    )
    frame = pd.DataFrame(rows)
    assets = REPOSITORY / "assets"
    frame.to_csv(assets / "spans_fine_tuned.csv", index=False)
    (assets / "spans_fine_tuned.md").write_text(markdown_table(frame) + "\n")
    print(markdown_table(frame))
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
