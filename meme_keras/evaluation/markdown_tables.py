"""Result tables as Markdown, for the README and the run folders."""

from __future__ import annotations

import pandas as pd


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """`frame` as a Markdown table; floats rounded to `digits`."""
    columns = list(frame.columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in frame.itertuples(index=False):
        cells = [f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
