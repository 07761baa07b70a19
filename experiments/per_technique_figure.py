"""Per-technique test F1 of trained runs, one panel per subtask, as `assets/per_technique_f1.png`.

    python experiments/per_technique_figure.py \\
        --run "3|2021 data only|runs/main" --run "2|2021 data only|runs/spans" \\
        --run "1|2021 data only|runs/text_techniques" [--output assets/per_technique_f1.png]

Each `--run` is `SUBTASK|LABEL|RUN_FOLDER`; runs of one subtask with different labels (e.g.
"2021 data only", "with extra data") are drawn side by side. Technique runs are read from
`per_label_test.csv`, span runs from `spans_per_technique.csv` (span F1 with partial credit).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from meme_keras.atomic_files import save_figure_atomically  # noqa: E402

SUBTASK_TITLES = {
    "3": "subtask 3: techniques, text + image",
    "2": "subtask 2: spans (span F1)",
    "1": "subtask 1: techniques, text",
}


def per_technique_f1(run: Path) -> pd.Series:
    """Test F1 per technique of a run folder, indexed by technique."""
    spans = run / "spans_per_technique.csv"
    if spans.exists():
        table = pd.read_csv(spans)
        return table.set_index("technique")["F1"]
    labels = run / "per_label_test.csv"
    if not labels.exists():
        raise SystemExit(f"{run}: no per_label_test.csv or spans_per_technique.csv (train it)")
    return pd.read_csv(labels).set_index("technique")["f1"]


def parse_run(spec: str) -> tuple[str, str, Path]:
    parts = spec.split("|")
    if len(parts) != 3 or parts[0] not in SUBTASK_TITLES:
        raise SystemExit(f"--run {spec!r}: expected SUBTASK|LABEL|RUN_FOLDER, SUBTASK 1, 2 or 3")
    return parts[0], parts[1], Path(parts[2])


def draw(panels: dict[str, dict[str, pd.Series]], output: Path) -> Path:
    """One horizontal bar panel per subtask over a shared technique axis (a technique a subtask
    does not have is left empty there)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    techniques = sorted(
        {name for runs in panels.values() for f1 in runs.values() for name in f1.index},
        reverse=True,
    )
    figure, axes = plt.subplots(
        1,
        len(panels),
        figsize=(3.2 * len(panels) + 3.5, 0.32 * len(techniques) + 1.8),
        sharey=True,
        squeeze=False,
    )
    for axis, (subtask, runs) in zip(axes[0], panels.items(), strict=True):
        table = pd.DataFrame(runs).reindex(techniques)
        table.plot.barh(ax=axis, width=0.8, legend=False)
        axis.set_title(SUBTASK_TITLES[subtask], fontsize="medium")
        axis.set_xlim(0, 1)
        axis.set_xlabel("test F1")
        axis.set_ylabel("")
        axis.grid(axis="x", alpha=0.3)
        axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize="small")
    figure.tight_layout()
    return save_figure_atomically(figure, output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, help="SUBTASK|LABEL|RUN_FOLDER")
    parser.add_argument(
        "--output", type=Path, default=REPOSITORY / "assets" / "per_technique_f1.png"
    )
    args = parser.parse_args()
    panels: dict[str, dict[str, pd.Series]] = {}
    for spec in args.run:
        subtask, label, run = parse_run(spec)
        panels.setdefault(subtask, {})[label] = per_technique_f1(run)
    ordered = {subtask: panels[subtask] for subtask in SUBTASK_TITLES if subtask in panels}
    print(f"wrote {draw(ordered, args.output)}")


if __name__ == "__main__":
    main()
