"""Probe: does an auxiliary loss on subtask 2's span tags help the fusion head rank techniques?

The fusion head on frozen MiniLM + EfficientNet-Lite0 features (as in fusion_frozen.yaml), with
a per-token sigmoid over the 20 text techniques on its text stream, trained on each meme's span
tags with weight `lambda` beside the subtask-3 loss (lambda 0 is the plain head). 5 folds over
train+dev; prints the out-of-fold mean average precision per (seed, lambda), over all
techniques, over those with at least 10 positives, and over the text techniques among those.
Test is not read. About 5 minutes per (seed, lambda) on 2 cores, with the feature cache warm.

A scratch experiment, not part of `make reproduce`; its result is in the README ("How the joint
stage was chosen"). Usage: python experiments/probe_span_auxiliary.py [--lambdas 0 1] [--seeds 42]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from meme_keras.backbones.features import image_features, text_features  # noqa: E402
from meme_keras.data.corpus import default_data_dir, load_split  # noqa: E402
from meme_keras.data.span_tags import spans_to_token_tags  # noqa: E402
from meme_keras.data.techniques import read_techniques  # noqa: E402
from meme_keras.evaluation.ranking import average_precision  # noqa: E402
from meme_keras.models.heads import fusion_head  # noqa: E402
from meme_keras.training.folds import fold_splits  # noqa: E402

UNTAGGED = -1.0  # tag value of [CLS], [SEP] and padding: left out of the auxiliary loss


def load_data():
    """Frozen features, multi-hot subtask-3 labels and per-token span tags of train+dev."""
    data_dir = default_data_dir()
    techniques = read_techniques(data_dir, "multimodal")
    text_techniques = read_techniques(data_dir, "text")
    memes = load_split("train") + load_split("dev")
    spans = {meme.id: meme.spans for meme in load_split("train", 2) + load_split("dev", 2)}
    tokens = text_features(memes)
    length = int(tokens["padding_mask"].sum(axis=1).max())
    mask, offsets = tokens["padding_mask"][:, :length], tokens["offsets"][:, :length]
    inputs = {
        "text_features": tokens["features"][:, :length],
        "padding_mask": mask,
        "image_features": image_features(memes).reshape(len(memes), -1, 1280),
    }
    labels = np.array([[t in meme.labels for t in techniques] for meme in memes], np.float32)
    tags = np.stack(
        [
            spans_to_token_tags(spans.get(meme.id, []), offsets[i], mask[i], text_techniques)
            for i, meme in enumerate(memes)
        ]
    )
    real = mask.astype(bool) & (offsets[..., 1] > offsets[..., 0])
    tags = np.where(real[..., None], tags, UNTAGGED).astype(np.float32)
    is_text = np.array([t in text_techniques for t in techniques])
    return inputs, labels, tags, is_text


def masked_tag_loss(targets, probabilities):
    """BCE with label smoothing 0.1 over the tagged tokens only."""
    weights = keras.ops.cast(targets != UNTAGGED, "float32")
    targets = keras.ops.maximum(targets, 0.0) * 0.9 + 0.05
    probabilities = keras.ops.clip(probabilities, 1e-7, 1 - 1e-7)
    losses = -(
        targets * keras.ops.log(probabilities) + (1 - targets) * keras.ops.log(1 - probabilities)
    )
    return keras.ops.sum(losses * weights) / keras.ops.maximum(keras.ops.sum(weights), 1.0)


def fusion_with_tags(num_labels: int, num_tags: int, image_cells: int) -> keras.Model:
    """`models.heads.fusion_head` with fusion_frozen.yaml's settings, plus a per-token tag
    output on its text stream (the last text block's output)."""
    head = fusion_head(num_labels, text_width=384, image_width=1280, image_cells=image_cells)
    text_stream = head.get_layer("text_block_0").output
    tags = keras.layers.Dense(num_tags, activation="sigmoid", name="tags")(text_stream)
    return keras.Model(head.input, {"probabilities": head.output, "tags": tags})


def out_of_fold(inputs, labels, tags, weight: float, seed: int) -> np.ndarray:
    """Out-of-fold technique probabilities; early stopping on the technique loss."""
    probabilities = np.zeros_like(labels)
    for fold, train, validation in fold_splits(len(labels), 5, seed):
        keras.utils.set_random_seed(seed * 100 + fold)
        cells = inputs["image_features"].shape[1]
        model = fusion_with_tags(labels.shape[1], tags.shape[2], cells)
        model.compile(
            keras.optimizers.Nadam(1e-3),
            loss={
                "probabilities": keras.losses.BinaryCrossentropy(label_smoothing=0.1),
                "tags": masked_tag_loss,
            },
            loss_weights={"probabilities": 1.0, "tags": weight},
        )

        def rows(index):
            return {name: array[index] for name, array in inputs.items()}

        model.fit(
            rows(train),
            {"probabilities": labels[train], "tags": tags[train]},
            validation_data=(
                rows(validation),
                {"probabilities": labels[validation], "tags": tags[validation]},
            ),
            batch_size=16,
            epochs=30,
            verbose=0,
            callbacks=[
                keras.callbacks.EarlyStopping(
                    "val_probabilities_loss", patience=2, mode="min", restore_best_weights=True
                )
            ],
        )
        probabilities[validation] = model.predict(rows(validation), verbose=0)["probabilities"]
    return probabilities


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    args = parser.parse_args()
    inputs, labels, tags, is_text = load_data()
    frequent = labels.sum(axis=0) >= 10
    for seed in args.seeds:
        for weight in args.lambdas:
            probabilities = out_of_fold(inputs, labels, tags, weight, seed)
            pairs = zip(labels.T, probabilities.T, strict=True)
            ap = np.array([average_precision(gold, scores) for gold, scores in pairs])
            print(
                f"seed {seed} lambda {weight}: mean AP {ap.mean():.4f}, "
                f">= 10 positives {ap[frequent].mean():.4f}, "
                f"text techniques among those {ap[frequent & is_text].mean():.4f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
