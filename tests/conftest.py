"""Shared fixtures: a tiny copy of the real corpus (a few memes per split) and quiet TF."""

from __future__ import annotations

import json
import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from meme_keras.data.corpus import SPLIT_FILES, default_data_dir  # noqa: E402
from meme_keras.data.techniques import TECHNIQUE_FILES  # noqa: E402

TINY_SIZES = {"train": 10, "dev": 5, "test": 5}


def make_tiny_corpus(target, sizes=TINY_SIZES):
    """Copies the first memes of each split (all subtasks, their images) into `target`."""
    source = default_data_dir()
    for name in TECHNIQUE_FILES.values():
        shutil.copy(source / name, target / name)
    for split, size in sizes.items():
        records3 = json.loads((source / SPLIT_FILES[(3, split)]).read_text(encoding="utf-8"))[:size]
        ids = {record["id"] for record in records3}
        (target / "images" / split).mkdir(parents=True)
        for record in records3:
            shutil.copy(source / "images" / split / record["image"], target / "images" / split)
        for subtask in (1, 2, 3):
            relative = SPLIT_FILES[(subtask, split)]
            records = json.loads((source / relative).read_text(encoding="utf-8"))
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            chosen = [record for record in records if record["id"] in ids]
            (target / relative).write_text(json.dumps(chosen), encoding="utf-8")
    return target


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    return make_tiny_corpus(tmp_path_factory.mktemp("tiny_corpus"))
