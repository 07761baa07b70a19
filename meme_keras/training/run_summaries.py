"""What a person opens TensorBoard for, beside the training curves: the run's config as text,
its threshold sweep and its per-technique F1 as images (under `logs/run`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import tensorflow as tf
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from meme_keras.atomic_files import save_figure_atomically


def plot_per_technique_f1(table: pd.DataFrame, path: str | Path, title: str) -> Path:
    """A horizontal bar per technique (F1), its support in the label: `per_label_table` rows."""
    figure = Figure(figsize=(7, 0.28 * len(table) + 1.2), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    labels = [f"{row.technique} ({row.support})" for row in table.itertuples()]
    axes.barh(labels, table["f1"], color="tab:blue")
    axes.invert_yaxis()
    axes.set_xlim(0.0, 1.0)
    axes.set_xlabel("F1 (support in parentheses)")
    axes.set_title(title)
    axes.tick_params(axis="y", labelsize=7)
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return save_figure_atomically(figure, path)


def write_run_summaries(log_dir: str | Path, config, images: dict[str, Path]) -> None:
    """The config (text) and PNG `images` (name -> file) as TensorBoard summaries."""
    writer = tf.summary.create_file_writer(str(Path(log_dir) / "run"))
    with writer.as_default():
        config_text = yaml.safe_dump(config.to_dict(), sort_keys=False)
        tf.summary.text("config", f"```\n{config_text}\n```", step=0)
        for name, path in images.items():
            image = tf.io.decode_png(tf.io.read_file(str(path)), channels=3)
            tf.summary.image(name, image[None], step=0)
    writer.close()
