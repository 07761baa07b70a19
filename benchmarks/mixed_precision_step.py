"""Whether bfloat16 mixed precision speeds up a MiniLM training step on this CPU.

    python benchmarks/mixed_precision_step.py [--length 64] [--rounds 3]

Times one training step (batch 16, Nadam) of MiniLM's transformer layers on cached hidden
states, as the span folds (layers 0-5) and subtasks 3 and 1 (layers 3-5) train them, in float32
and in Keras's `mixed_bfloat16` policy (a float32 output layer), interleaved round by round.
Prints each median and the ratio, and the CPU's vector instructions: without `avx512_bf16` or
`amx_bf16`, bfloat16 arithmetic is emulated and no faster.
"""

from __future__ import annotations

import argparse
import time

import keras
import keras_hub
import numpy as np
from run import cpu_vector_flags  # benchmarks/run.py, beside this script

from meme_keras.backbones.text_backbones import minilm_folder, split_text_backbone

BATCH = 16
STEPS = 8  # steps per timed epoch
POLICIES = ("float32", "mixed_bfloat16")


def top_classifier(policy: str, top_from: int, num_labels: int = 20) -> keras.Model:
    """MiniLM's layers `top_from` and up under `policy`, mean-pooled into a float32 sigmoid."""
    backbone = keras_hub.models.BertBackbone.from_preset(str(minilm_folder()), dtype=policy)
    _, top = split_text_backbone(backbone, top_from)
    hidden = keras.Input((None, top.input[0].shape[-1]))
    mask = keras.Input((None,), dtype="int32")
    pooled = keras.layers.GlobalAveragePooling1D()(top([hidden, mask]))
    outputs = keras.layers.Dense(num_labels, activation="sigmoid", dtype="float32")(pooled)
    model = keras.Model([hidden, mask], outputs)
    model.compile(keras.optimizers.Nadam(5e-5), "binary_crossentropy")
    return model


def seconds_per_step(model, inputs, labels) -> float:
    started = time.perf_counter()
    model.fit(inputs, labels, batch_size=BATCH, epochs=1, verbose=0)
    return (time.perf_counter() - started) / STEPS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--length", type=int, default=64, help="tokens per text")
    parser.add_argument("--rounds", type=int, default=3, help="timed epochs per policy")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = BATCH * STEPS
    hidden = rng.normal(size=(rows, args.length, 384)).astype("float32")
    inputs = [hidden, np.ones((rows, args.length), "int32")]
    labels = (rng.random((rows, 20)) < 0.2).astype("float32")
    print(f"CPU vector instructions: {', '.join(cpu_vector_flags()) or 'none of the above'}")
    for top_from in (0, 3):
        models = {policy: top_classifier(policy, top_from) for policy in POLICIES}
        for model in models.values():
            seconds_per_step(model, inputs, labels)  # traces the step
        times = {policy: [] for policy in POLICIES}
        for _ in range(args.rounds):
            for policy, model in models.items():
                times[policy].append(seconds_per_step(model, inputs, labels))
        medians = {policy: float(np.median(values)) for policy, values in times.items()}
        print(
            f"layers {top_from}-5, length {args.length}: "
            + ", ".join(f"{policy} {value:.3f} s/step" for policy, value in medians.items())
            + f"; float32 / mixed_bfloat16 = {medians['float32'] / medians['mixed_bfloat16']:.2f}"
        )


if __name__ == "__main__":
    main()
