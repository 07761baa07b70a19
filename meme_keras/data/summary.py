"""Per-split counts and per-technique frequencies of the corpus (`meme-keras data summary`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from meme_keras.data.corpus import SPLITS, default_data_dir, load_split
from meme_keras.data.techniques import read_techniques


def corpus_summary(data_dir: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(split counts, technique frequency table) for subtasks 3 (labels) and 2 (spans)."""
    counts, frequencies = [], {}
    for split in SPLITS:
        memes = load_split(split, 3, data_dir)
        span_memes = load_split(split, 2, data_dir, check_images=False)
        counts.append(
            {
                "split": split,
                "memes": len(memes),
                "labels": sum(len(m.labels) for m in memes),
                "span memes": len(span_memes),
                "spans": sum(len(m.spans) for m in span_memes),
            }
        )
        frequencies[f"{split} memes"] = Counter(label for m in memes for label in m.labels)
        frequencies[f"{split} spans"] = Counter(s.technique for m in span_memes for s in m.spans)
    techniques = read_techniques(data_dir or default_data_dir())
    table = pd.DataFrame(
        {
            column: [counter.get(t, 0) for t in techniques]
            for column, counter in frequencies.items()
        },
        index=pd.Index(techniques, name="technique"),
    )
    return pd.DataFrame(counts), table.sort_values("train memes", ascending=False)
