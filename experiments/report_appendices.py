"""The report's appendix tables, on the offline default backbones (ResNet50 + ALBERT-large with
local weights: change the configs' backbones).

- Appendix 1: BCE vs focal loss on the frozen path (fusion_frozen.yaml vs fusion_focal.yaml;
  5-fold train+dev).
- Appendix 2: frozen backbones vs fine-tuning the text backbone vs the image backbone's top and
  then the text backbone vs those two and then both together (fusion_frozen.yaml vs
  fusion_text.yaml vs fusion_image_top.yaml vs main.yaml, 5-fold), and
  fine-tuning only the text backbone vs the staged schedule over both
  (fusion_text_only_dev.yaml vs fusion_staged_all.yaml; dev for early stopping and thresholds).
  With the held-out scores of each decision rule for the fine-tuned ones (how the main model
  was chosen).
- Appendix 3: micro/macro F1 against the decision threshold of runs/main (out-of-fold).

Each table goes to assets/appendix<N>_*.{csv,md}; runs that finished with the same config, data
and code are reused, so `make reproduce` first makes appendix 3 and the main rows free.
Usage: python experiments/report_appendices.py [--appendix 1 2 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

import pandas as pd  # noqa: E402

from meme_keras.config import load_config  # noqa: E402
from meme_keras.training.classifier_run import run_classifier  # noqa: E402

CONFIGS = REPOSITORY / "experiments" / "configs"
RUNS = REPOSITORY / "runs"
ASSETS = REPOSITORY / "assets"
REPORT = {
    1: {"BCE": (0.0915, 0.5022), "focal": (0.0624, 0.4333)},
    2: {
        "frozen backbones": (float("nan"), float("nan")),
        "text fine-tuned": (0.1, 0.58),
        "image top, then text": (float("nan"), float("nan")),
        "image top, text, then both (main)": (float("nan"), float("nan")),
        "text only": (0.1, 0.58),
        "both": (0.095, 0.57),
    },
}


def metrics_of(config_name: str) -> dict:
    """The run's metrics, training the config unless it finished with this config, data and
    code (`make reproduce`'s runs are reused)."""
    config = load_config(CONFIGS / f"{config_name}.yaml")
    return run_classifier(config, RUNS / config["name"], reuse_finished=True)


def write_table(rows: list[dict], stem: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    ASSETS.mkdir(exist_ok=True)
    frame.to_csv(ASSETS / f"{stem}.csv", index=False)
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    body = "".join(
        "| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |\n"
        for row in frame.itertuples(index=False)
    )
    (ASSETS / f"{stem}.md").write_text(header + body)
    print(f"\n{stem}\n{header}{body}")
    return frame


def comparison(appendix: int, runs: dict[str, str], stem: str) -> None:
    rows = []
    for label, config_name in runs.items():
        metrics = metrics_of(config_name)
        report_macro, report_micro = REPORT[appendix][label]
        rows.append(
            {
                "setting": label,
                "tuned on": metrics["tuned_on"],
                "tuning micro-F1": metrics["out_of_fold"]["micro_f1"],
                "tuning macro-F1": metrics["out_of_fold"]["macro_f1"],
                "test micro-F1": metrics["test"]["micro_f1"],
                "test macro-F1": metrics["test"]["macro_f1"],
                "report micro-F1": report_micro,
                "report macro-F1": report_macro,
            }
        )
    write_table(rows, stem)


def held_out_rules(runs: dict[str, str], stem: str) -> None:
    """Each candidate decision rule's held-out out-of-fold micro/macro F1 (tuned on 4/5 of the
    rows, scored on the rest; `threshold_rules.csv`) for runs that choose their rule: the
    comparison that chose the main model, free of in-sample threshold tuning."""
    tables = {}
    for label, config_name in runs.items():
        metrics_of(config_name)  # trains the run unless it finished
        name = load_config(CONFIGS / f"{config_name}.yaml")["name"]
        tables[label] = pd.read_csv(RUNS / name / "threshold_rules.csv")
    rules = next(iter(tables.values()))["rule"]
    rows = []
    for index, rule in enumerate(rules):
        row = {"rule": rule}
        for label, table in tables.items():
            if table["rule"].iloc[index] != rule:
                raise ValueError(f"{label}: the runs' candidate rules differ")
            row[f"{label} micro-F1"] = table["micro_f1"].iloc[index]
            row[f"{label} macro-F1"] = table["macro_f1"].iloc[index]
            row[f"{label} chosen"] = "yes" if table["chosen"].iloc[index] else ""
        rows.append(row)
    write_table(rows, stem)


def appendix_3() -> None:
    run = RUNS / "main"
    chosen = metrics_of("main")["thresholds"]["global"]
    shutil.copy(run / "threshold_sweep.png", ASSETS / "appendix3_threshold_sweep.png")
    sweep = pd.read_csv(run / "threshold_sweep.csv")
    rows = sweep[sweep["threshold"].round(2).isin([0.2, 0.25, 0.28, 0.3, 0.35, 0.4, 0.5, chosen])]
    write_table(rows.to_dict("records"), "appendix3_threshold_sweep")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appendix", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if 1 in args.appendix:
        comparison(1, {"BCE": "fusion_frozen", "focal": "fusion_focal"}, "appendix1_loss")
    if 2 in args.appendix:
        comparison(
            2,
            {
                "frozen backbones": "fusion_frozen",
                "text fine-tuned": "fusion_text",
                "image top, then text": "fusion_image_top",
                "image top, text, then both (main)": "main",
            },
            "appendix2_frozen_vs_text",
        )
        held_out_rules(
            {
                "text fine-tuned": "fusion_text",
                "image top, then text": "fusion_image_top",
                "image top, text, then both (main)": "main",
            },
            "appendix2_rules_held_out",
        )
        comparison(
            2,
            {"text only": "fusion_text_only_dev", "both": "fusion_staged_all"},
            "appendix2_fine_tuning",
        )
    if 3 in args.appendix:
        appendix_3()


if __name__ == "__main__":
    main()
