"""Adapts a text backbone to extra labelled text once, before any fold or task trains on it.

The SemEval-2024 memes and PTC's news articles are never in a 2021 fold's validation part and
hold no 2021 meme, so a backbone fine-tuned on them alone may start every fold of every task
(the leak-free design of the extra-data work). On the 2024 memes it is trained multi-task: one
sigmoid head over the 22 techniques of subtask 3 and the 20 of subtask 1, on masked
mean-pooled token features; a meme that lacks one label set (`train_subtask2a.json` and
`train_subtask1.json` share 5,732 of 6,981 memes) has those columns as `UNKNOWN_LABEL`, left
out of the loss. On PTC it is trained as a token tagger: one sigmoid layer over the 20 text
techniques on every token of the sentences that hold a span and as many without, the
techniques PTC never annotates `UNKNOWN_LABEL`. The backbone alone is kept, as a keras-hub
preset folder in the cache (`meme_keras.backbones.adapted_text`), so every existing path
(features, fine-tuning, export) loads it like any preset.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np

from meme_keras.backbones.adapted_text import (
    RECORD,
    adaptation_techniques,
    adapted_folder,
    is_adapted,
)
from meme_keras.backbones.features import text_inputs
from meme_keras.backbones.text_backbones import load_text_backbone, load_text_tokenizer
from meme_keras.backbones.text_encoders import make_text_encoder
from meme_keras.data.meme import Meme
from meme_keras.folder_lock import folder_lock
from meme_keras.losses import UNKNOWN_LABEL, SmoothedBinaryCrossentropy
from meme_keras.models.masked_mean_pooling import MaskedMeanPooling
from meme_keras.pipeline.length_bucketed_batches import length_bucketed_order
from meme_keras.pipeline.padded_length import padded_length
from meme_keras.progress import tracked

log = logging.getLogger(__name__)
LENGTH_STEP = 16
# PTC sentences without a span, per sentence with one, in a tagging adaptation.
PTC_NEGATIVE_RATIO = 1.0


def multitask_targets(
    label_sets: list[list[Meme]], technique_sets: list[tuple[str, ...]]
) -> tuple[list[str], np.ndarray]:
    """(texts, targets): one row per meme id found in any of `label_sets`, the columns of each
    technique set side by side, `UNKNOWN_LABEL` where a meme is not in that set's memes.

    A meme id in two sets must have the same text in both (else a ValueError naming it)."""
    texts: dict[str, str] = {}
    for memes in label_sets:
        for meme in memes:
            if texts.setdefault(meme.id, meme.text) != meme.text:
                raise ValueError(f"meme {meme.id!r}: two texts in the extra corpora's files")
    rows = {meme_id: row for row, meme_id in enumerate(texts)}
    width = sum(len(techniques) for techniques in technique_sets)
    targets = np.full((len(rows), width), UNKNOWN_LABEL, np.float32)
    start = 0
    for memes, techniques in zip(label_sets, technique_sets, strict=True):
        column = {technique: start + index for index, technique in enumerate(techniques)}
        for meme in memes:
            targets[rows[meme.id], start : start + len(techniques)] = 0.0
            for label in meme.labels:
                targets[rows[meme.id], column[label]] = 1.0
        start += len(techniques)
    return list(texts.values()), targets


def adaptation_data(corpora) -> tuple[list[str], np.ndarray]:
    """The texts and multi-task targets of the 2024 memes (`corpora: [semeval2024]`)."""
    from meme_keras.data.memes_2024 import load_2024_memes

    if list(corpora) != ["semeval2024"]:
        raise ValueError(f"meme-level adaptation corpora: only ['semeval2024'], got {corpora}")
    return multitask_targets(
        [load_2024_memes("2a"), load_2024_memes("1")], list(adaptation_techniques())
    )


def tagging_data(sentences: list[Meme], encoded, techniques) -> tuple[np.ndarray, np.ndarray]:
    """(tags [n, L, K], token weights [n, L]) of encoded PTC `sentences`: their spans as token
    tags, the techniques PTC never annotates `UNKNOWN_LABEL`, weight 1 on real text tokens."""
    from meme_keras.pipeline.token_tags import ptc_token_tag_data

    arrays = {
        "token_ids": encoded.token_ids,
        "padding_mask": encoded.padding_mask,
        "offsets": encoded.offsets,
    }
    data = ptc_token_tag_data(sentences, arrays, techniques)
    return data.tags, data.token_weights


def adaptation_model(backbone: keras.Model, outputs: int, seed: int) -> keras.Model:
    """`backbone` under masked mean pooling and one sigmoid layer of `outputs` techniques."""
    inputs = _backbone_inputs(backbone)
    tokens = backbone(inputs)["sequence_output"]
    pooled = MaskedMeanPooling(name="mean_pooling")(tokens, inputs["padding_mask"])
    pooled = keras.layers.Dropout(0.1, seed=seed, name="dropout")(pooled)
    probabilities = keras.layers.Dense(outputs, activation="sigmoid", name="techniques")(pooled)
    return keras.Model(inputs, probabilities, name="adaptation")


def tagging_adaptation_model(backbone: keras.Model, outputs: int, seed: int) -> keras.Model:
    """`backbone` under one sigmoid layer of `outputs` techniques on every token."""
    inputs = _backbone_inputs(backbone)
    tokens = backbone(inputs)["sequence_output"]
    tokens = keras.layers.Dropout(0.1, seed=seed, name="dropout")(tokens)
    tags = keras.layers.Dense(outputs, activation="sigmoid", name="token_techniques")(tokens)
    return keras.Model(inputs, tags, name="tagging_adaptation")


def _backbone_inputs(backbone: keras.Model) -> dict:
    for layer in backbone.layers:
        if layer.name == "pooled_dense":  # the heads read token features: no gradient there
            layer.trainable = False
    return {
        name: keras.Input((None,), dtype="int32", name=name)
        for name in ("token_ids", "segment_ids", "padding_mask")
    }


def _batches(encoded, batch_size: int, rng: np.random.Generator):
    """(rows, length, inputs): length-bucketed, shuffled batches cut to their longest text (see
    `padded_length`)."""
    inputs = text_inputs(encoded)
    lengths = encoded.padding_mask.sum(axis=1)
    maximum = encoded.padding_mask.shape[1]
    for rows in length_bucketed_order(lengths, batch_size, rng, LENGTH_STEP):
        length = padded_length(lengths[rows].max(), LENGTH_STEP, maximum)
        yield rows, length, {name: value[rows, :length] for name, value in inputs.items()}


def train_adaptation(text: Mapping, folder: Path, verbose: int = 0) -> dict:
    """Fine-tunes the backbone `text` names on its adaptation corpus; writes the backbone (and
    its tokenizer) as a keras-hub preset into `folder`, and the record of how, last."""
    settings = text["adaptation"]
    started = time.perf_counter()
    tagging = list(settings["corpora"]) == ["ptc"]
    if tagging:
        from meme_keras.data.ptc import training_sentences

        sentences, with_spans = training_sentences(PTC_NEGATIVE_RATIO, settings["seed"])
        texts = [sentence.text for sentence in sentences]
    else:
        texts, targets = adaptation_data(settings["corpora"])
    encoded = make_text_encoder(text["name"], text["sequence_length"], text["preset"]).encode(texts)
    keras.utils.set_random_seed(settings["seed"])
    backbone = load_text_backbone(text["name"], text["preset"])
    if tagging:
        techniques = adaptation_techniques()[1]
        targets, weights = tagging_data(sentences, encoded, techniques)
        model = tagging_adaptation_model(backbone, len(techniques), settings["seed"])
        described = {"sentences": len(texts), "sentences_with_spans": with_spans}
    else:
        weights = None
        model = adaptation_model(backbone, targets.shape[1], settings["seed"])
        described = {"memes": len(texts)}
    model.compile(
        optimizer=keras.optimizers.Nadam(settings["learning_rate"]),
        loss=SmoothedBinaryCrossentropy(
            label_smoothing=settings["label_smoothing"],
            # Token losses averaged over real text tokens only.
            reduction="mean_with_sample_weight" if tagging else "sum_over_batch_size",
        ),
    )
    log.info(
        "adapting %s on %s (%d label columns), %d epochs",
        text["name"],
        ", ".join(f"{count} {what}" for what, count in described.items()),
        targets.shape[-1],
        settings["epochs"],
    )
    rng = np.random.default_rng(settings["seed"])
    epoch_losses = []
    for epoch in range(settings["epochs"]):
        losses = []
        for rows, length, inputs in tracked(
            list(_batches(encoded, settings["batch_size"], rng)),
            f"adapting {text['name']}, epoch {epoch + 1}",
        ):
            if tagging:
                loss = model.train_on_batch(
                    inputs, targets[rows, :length], sample_weight=weights[rows, :length]
                )
            else:
                loss = model.train_on_batch(inputs, targets[rows])
            losses.append(float(loss))
        epoch_losses.append(float(np.mean(losses)))
        log.info("adaptation epoch %d: mean loss %.4f", epoch + 1, epoch_losses[-1])
    record = {
        "backbone": text["name"],
        "base_preset": text["preset"],
        "settings": dict(settings),
        **described,
        "label_columns": int(targets.shape[-1]),
        # Label entries in the loss (on real text tokens when tagging).
        "known_targets": int(
            ((targets >= 0) if weights is None else (targets >= 0) & (weights[..., None] > 0)).sum()
        ),
        "epoch_losses": epoch_losses,
        "seconds": round(time.perf_counter() - started, 1),
    }
    _save_preset(backbone, text, folder, record)
    return record


def _save_preset(backbone: keras.Model, text: Mapping, folder: Path, record: dict) -> None:
    """Writes a finished folder or none: into a sibling, renamed onto `folder` at the end."""
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        backbone.save_to_preset(str(partial))
        load_text_tokenizer(text["name"], text["preset"]).save_to_preset(str(partial))
        (partial / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def ensure_adapted_text_backbone(text: Mapping, verbose: int = 0) -> Path | None:
    """The adapted backbone folder `text` asks for, trained now if it is not cached; None when
    `text` asks for no adaptation. Processes asking at once (`make reproduce`'s tasks) train
    it once: the others wait for it, then read it from the cache."""
    if not text.get("adaptation"):
        return None
    folder = adapted_folder(text)
    with adaptation_lock(folder):
        if is_adapted(folder):
            log.info("adapted %s backbone from the cache: %s", text["name"], folder)
            return folder
        record = train_adaptation(text, folder, verbose)
    log.info("adapted %s backbone in %.0f s: %s", text["name"], record["seconds"], folder)
    return folder


def adaptation_lock(folder: Path):
    """The lock of the process adapting the text backbone into `folder` (others wait on it)."""
    return folder_lock(folder, f"adapting the text backbone into {folder}")
