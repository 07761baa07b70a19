"""One summary table of a run's scores, for the console at the end of training."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.table import Table

PARTS = ("out_of_fold", "held_out", "dev", "test")
SCORES = ("micro_f1", "macro_f1", "f1", "precision", "recall", "micro_precision", "micro_recall")


def score_rows(metrics: Mapping) -> list[tuple[str, dict[str, float]]]:
    """(part, {score: value}) for each scored part of a run's metrics, in `PARTS` order; a span
    run's scores are its tagger's."""
    scored = metrics.get("tagger", metrics)
    rows = []
    for part in PARTS:
        values = scored.get(part)
        if isinstance(values, Mapping):
            rows.append((part, {k: float(values[k]) for k in SCORES if k in values}))
    return [(part, values) for part, values in rows if values]


def score_table(metrics: Mapping, title: str) -> Table:
    rows = score_rows(metrics)
    columns = [k for k in SCORES if any(k in values for _, values in rows)]
    table = Table(title=title)
    table.add_column("scored on")
    for column in columns:
        table.add_column(column.replace("_", " "), justify="right")
    for part, values in rows:
        table.add_row(
            part.replace("_", "-"),
            *(f"{values[c]:.3f}" if c in values else "–" for c in columns),
        )
    return table


def print_score_summary(metrics: Mapping, title: str, console: Console | None = None) -> None:
    (console or Console()).print(score_table(metrics, title))
