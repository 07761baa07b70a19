"""Copies the first memes of each split (every subtask's records and their images) into a new
corpus folder: a small real corpus for tests, benchmarks and quick experiments."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from meme_keras.data.corpus import SPLIT_FILES, default_data_dir
from meme_keras.data.techniques import TECHNIQUE_FILES


def copy_corpus_subset(target: Path, sizes: dict[str, int], source: Path | None = None) -> Path:
    """`sizes`: memes per split, e.g. {"train": 10, "dev": 5, "test": 5}."""
    source = Path(source or default_data_dir())
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for name in TECHNIQUE_FILES.values():
        shutil.copy(source / name, target / name)
    for split, size in sizes.items():
        records = json.loads((source / SPLIT_FILES[(3, split)]).read_text(encoding="utf-8"))
        chosen_ids = {record["id"] for record in records[:size]}
        (target / "images" / split).mkdir(parents=True, exist_ok=True)
        for record in records[:size]:
            shutil.copy(source / "images" / split / record["image"], target / "images" / split)
        for subtask in (1, 2, 3):
            relative = SPLIT_FILES[(subtask, split)]
            subtask_records = json.loads((source / relative).read_text(encoding="utf-8"))
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            chosen = [record for record in subtask_records if record["id"] in chosen_ids]
            (target / relative).write_text(json.dumps(chosen), encoding="utf-8")
    return target
