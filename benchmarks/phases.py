"""Benchmark phases. Each runs in its own process (`python benchmarks/phases.py PHASE ARGS OUT`)
so that its peak resident memory (ru_maxrss) is its own; it writes one JSON object to OUT.

The orchestrator is `benchmarks/run.py`; nothing here is imported by the product.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPOSITORY = Path(__file__).resolve().parents[1]
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

import numpy as np  # noqa: E402

BATCH = 32
ALBERT_LARGE = {
    "vocabulary_size": 30000,
    "num_layers": 24,
    "num_heads": 16,
    "embedding_dim": 128,
    "hidden_dim": 1024,
    "intermediate_dim": 4096,
    "num_groups": 1,
    "num_inner_repetitions": 1,
    "dropout": 0.0,
    "max_sequence_length": 512,
    "num_segments": 2,
}


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median_time(function, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def corpus_memes(count: int | None = None, splits=("train", "dev", "test")):
    """The corpus (train, dev, test in order), cut to `count` memes or repeated up to it."""
    from meme_keras.data.corpus import load_split

    memes = [meme for split in splits for meme in load_split(split, 3)]
    if count is None:
        return memes
    return [memes[i % len(memes)] for i in range(count)]


def _decoded_images(paths, image_size: int) -> np.ndarray:
    from meme_keras.data.image_pipeline import image_dataset

    return np.concatenate([batch.numpy() for batch in image_dataset(paths, image_size, BATCH)])


def _forward_rate(model, batch, steps: int, repeats: int) -> float:
    """Items per second of a compiled forward pass over one resident batch."""
    import tensorflow as tf

    forward = tf.function(lambda inputs: model(inputs, training=False))
    tf.nest.map_structure(lambda t: t.numpy(), forward(batch))  # trace
    size = len(tf.nest.flatten(batch)[0])

    def run():
        for _ in range(steps):
            tf.nest.map_structure(lambda t: t.numpy(), forward(batch))

    seconds, _ = median_time(run, repeats)
    return steps * size / seconds


# ----------------------------------------------------------------------------------- phases


def phase_pipeline(args: dict) -> dict:
    """Input pipeline (decode+resize, tokenize) against the backbones' forward passes."""
    import tensorflow as tf

    from meme_keras.backbones.image_backbones import load_image_backbone
    from meme_keras.backbones.text_backbones import load_text_backbone
    from meme_keras.backbones.text_encoders import make_text_encoder
    from meme_keras.data.image_pipeline import image_dataset

    repeats = args["repeats"]
    memes = corpus_memes(args["images"])
    paths = [str(meme.image_path) for meme in memes]

    def decode_all():
        for _ in image_dataset(paths, 224, BATCH):
            pass

    decode_all()  # file cache and tracing
    image_model = load_image_backbone("efficientnet_lite0", "imagenet")
    image_batch = tf.constant(_decoded_images(paths[:BATCH], 224))
    image_steps = max(1, args["images"] // BATCH)
    forward = tf.function(lambda inputs: image_model(inputs, training=False))
    forward(image_batch).numpy()  # trace

    def forward_all():
        for _ in range(image_steps):
            forward(image_batch).numpy()

    # This shared machine's throughput jumps by about 2x within seconds (measured: 190 or 380
    # decoded images/s in consecutive passes). Each repeat times a decoding pass and then a
    # forward pass back to back, and the ratio is the median of the per-repeat ratios.
    decode_rates, forward_rates = [], []
    for _ in range(max(repeats, 7)):
        decode_rates.append(len(paths) / median_time(decode_all, 1)[0])
        forward_rates.append(image_steps * BATCH / median_time(forward_all, 1)[0])
    images_per_s = statistics.median(decode_rates)
    image_forward = statistics.median(forward_rates)
    image_ratio = statistics.median(
        [d / f for d, f in zip(decode_rates, forward_rates, strict=True)]
    )

    texts = [meme.text for meme in corpus_memes(args["texts"])]
    encoder = make_text_encoder("all_minilm_l6_v2", 128)
    encoder.encode(texts[:BATCH])
    encode_seconds, _ = median_time(lambda: encoder.encode(texts), repeats)
    texts_per_s = len(texts) / encode_seconds

    text_model = load_text_backbone("all_minilm_l6_v2")
    encoded = encoder.encode(texts[:BATCH])
    text_batch = {
        "token_ids": tf.constant(encoded.token_ids),
        "segment_ids": tf.zeros_like(tf.constant(encoded.token_ids)),
        "padding_mask": tf.constant(encoded.padding_mask),
    }
    text_steps = max(1, args["texts"] // BATCH)
    text_forward = _forward_rate(text_model, text_batch, text_steps, repeats)
    return {
        "images": len(paths),
        "texts": len(texts),
        "decode_resize_images_per_s": images_per_s,
        "efficientnet_lite0_forward_images_per_s": image_forward,
        "image_pipeline_to_forward_ratio": image_ratio,
        "image_pipeline_to_forward_ratios_all": [
            d / f for d, f in zip(decode_rates, forward_rates, strict=True)
        ],
        "decode_resize_images_per_s_all": decode_rates,
        "efficientnet_lite0_forward_images_per_s_all": forward_rates,
        "tokenize_texts_per_s": texts_per_s,
        "all_minilm_l6_v2_forward_texts_per_s": text_forward,
        "text_pipeline_to_forward_ratio": texts_per_s / text_forward,
        "text_sequence_length": 128,
    }


def _random_albert_features(memes, cache_dir, model):
    """`text_features` for ALBERT-large with random token ids (no tokenizer offline): the same
    cache and predict path, with the real texts' lengths in the padding mask."""
    from meme_keras.backbones.feature_cache import cached, fingerprint, weights_fingerprint
    from meme_keras.backbones.text_encoders import make_text_encoder

    lengths = make_text_encoder("all_minilm_l6_v2", 128).encode([m.text for m in memes])
    mask = lengths.padding_mask
    ids = np.random.default_rng(0).integers(5, ALBERT_LARGE["vocabulary_size"], mask.shape)
    inputs = {
        "token_ids": (ids * mask).astype(np.int32),
        "segment_ids": np.zeros_like(mask, dtype=np.int32),
        "padding_mask": mask.astype(np.int32),
    }
    key = fingerprint("text", "albert_large", 128, weights_fingerprint(model), inputs["token_ids"])

    def compute():
        outputs = model.predict(inputs, batch_size=BATCH, verbose=0)
        return {"features": outputs["sequence_output"].astype(np.float32)}

    return cached("text-albert_large-128", key, compute, cache_dir)["features"]


def phase_extract(args: dict) -> dict:
    """Cold (empty cache) and warm (cache hit) feature extraction for one backbone."""
    from meme_keras.backbones.features import image_features, text_features

    name = args["backbone"]
    memes = corpus_memes(args["memes"])
    started = time.perf_counter()
    if name in ("efficientnet_lite0", "resnet50"):
        from meme_keras.backbones.image_backbones import load_image_backbone

        weights = "imagenet" if name == "efficientnet_lite0" else None
        model = load_image_backbone(name, weights)

        def extract(items, cache_dir):
            return image_features(items, name, weights, cache_dir=cache_dir, model=model)

    elif name == "all_minilm_l6_v2":
        from meme_keras.backbones.text_backbones import load_text_backbone

        model = load_text_backbone(name)

        def extract(items, cache_dir):
            return text_features(items, name, 128, cache_dir=cache_dir, model=model)["features"]

    elif name == "albert_large":
        import keras_hub

        model = keras_hub.models.AlbertBackbone(**ALBERT_LARGE)

        def extract(items, cache_dir):
            return _random_albert_features(items, cache_dir, model)

    else:
        raise ValueError(name)
    load_seconds = time.perf_counter() - started
    # Traces the predict function on one full batch (no cache): "cold" below is an empty
    # cache with a loaded, traced model; the first call's extra cost is reported apart.
    started = time.perf_counter()
    extract(memes[:BATCH], None)
    trace_seconds = time.perf_counter() - started
    cold, warm, shape = [], [], None
    with tempfile.TemporaryDirectory() as root:
        for repeat in range(args["cold_repeats"]):
            cache_dir = Path(root) / f"cache{repeat}"
            started = time.perf_counter()
            shape = extract(memes, cache_dir).shape
            cold.append(time.perf_counter() - started)
        for _ in range(args["repeats"]):
            started = time.perf_counter()
            extract(memes, cache_dir)
            warm.append(time.perf_counter() - started)
        cache_mb = sum(f.stat().st_size for f in cache_dir.iterdir()) / 2**20
    cold_s, warm_s = statistics.median(cold), statistics.median(warm)
    return {
        "backbone": name,
        "memes": len(memes),
        "weights": "random" if name in ("resnet50", "albert_large") else "pretrained",
        "parameters": int(model.count_params()),
        "load_seconds": load_seconds,
        "trace_call_seconds": trace_seconds,
        "trace_call_memes": min(BATCH, len(memes)),
        "cold_seconds": cold_s,
        "cold_seconds_all": cold,
        "cold_memes_per_s": len(memes) / cold_s,
        "warm_seconds": warm_s,
        "warm_seconds_all": warm,
        "warm_speedup": cold_s / warm_s,
        "feature_shape": list(shape),
        "cache_file_mb": cache_mb,
    }


def phase_compare(args: dict) -> dict:
    """predict(numpy) vs predict(tf.data) vs a tf.function loop, same images in memory."""
    import tensorflow as tf

    from meme_keras.backbones.features import grid_features
    from meme_keras.backbones.image_backbones import load_image_backbone
    from meme_keras.data.image_pipeline import image_dataset

    name = args["backbone"]
    memes = corpus_memes(args["images"])
    paths = [str(meme.image_path) for meme in memes]
    images = _decoded_images(paths, 224)
    model = load_image_backbone(name, "imagenet" if name == "efficientnet_lite0" else None)
    forward = tf.function(lambda batch: model(batch, training=False))

    def in_memory_dataset():
        return tf.data.Dataset.from_tensor_slices(images).batch(BATCH).prefetch(tf.data.AUTOTUNE)

    methods = {
        "predict_numpy": lambda: model.predict(images, batch_size=BATCH, verbose=0),
        "predict_tf_data": lambda: model.predict(in_memory_dataset(), verbose=0),
        "tf_function_loop": lambda: np.concatenate(
            [forward(batch).numpy() for batch in in_memory_dataset()]
        ),
        # What meme_keras.backbones.features.image_features runs (decoding included).
        "product_grid_features_image_dataset": lambda: grid_features(
            model, image_dataset(paths, 224, BATCH), len(paths)
        ),
    }
    results = {}
    for method, function in methods.items():
        function()  # trace / build the predict function
        seconds, all_times = median_time(function, args["repeats"])
        results[method] = {
            "seconds": seconds,
            "images_per_s": len(paths) / seconds,
            "seconds_all": all_times,
        }
    in_memory = {k: v for k, v in results.items() if not k.startswith("product")}
    fastest = max(in_memory, key=lambda k: in_memory[k]["images_per_s"])
    return {
        "backbone": name,
        "images": len(paths),
        "methods": results,
        "fastest_in_memory": fastest,
        "product_uses": "tf_function_loop (features.grid_features over image_dataset)",
    }


@functools.cache
def _cached_encoder(name: str, length: int):
    from meme_keras.backbones.text_encoders import make_text_encoder

    return make_text_encoder(name, length)


def _training_features(memes, config, seed: int = 0):
    """A FeatureSet with the real texts' token ids, masks and labels, and random features of
    the real shapes (speed does not depend on feature values)."""
    from meme_keras.data.corpus import default_data_dir
    from meme_keras.data.techniques import read_techniques
    from meme_keras.evaluation.multilabel_f1 import labels_to_multi_hot
    from meme_keras.pipeline.feature_sets import FeatureSet

    techniques = read_techniques(default_data_dir(), "multimodal")
    encoded = _cached_encoder("all_minilm_l6_v2", config["text_backbone"]["sequence_length"])
    encoded = encoded.encode([m.text for m in memes])
    length = int(encoded.padding_mask.sum(axis=1).max())
    rng = np.random.default_rng(seed)
    features = FeatureSet(
        list(memes),
        rng.standard_normal((len(memes), length, 384), np.float32),
        encoded.padding_mask[:, :length].astype(np.int32),
        rng.standard_normal((len(memes), 49, 1280), np.float32),
        labels_to_multi_hot([m.labels for m in memes], techniques).astype(np.float32),
        encoded.token_ids[:, :length].astype(np.int32),
    )
    return features, techniques


class EpochTimer:
    """Seconds per epoch and per training batch, as a Keras callback."""

    def __new__(cls):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.epochs, self.batches = [], []

            def on_epoch_begin(self, epoch, logs=None):
                self._epoch = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.epochs.append(time.perf_counter() - self._epoch)

            def on_train_batch_begin(self, batch, logs=None):
                self._batch = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                self.batches.append(time.perf_counter() - self._batch)

        return _Timer()


def phase_train_head(args: dict) -> dict:
    """fit_head (the proposed fusion head) on cached-feature-shaped data: seconds per epoch."""
    from meme_keras.config import make_config
    from meme_keras.training import head_training

    config = make_config(
        {
            "stages": [
                {"name": "frozen", "train": [], "epochs": args["epochs"], "learning_rate": 1e-3}
            ]
        }
    )
    memes = corpus_memes(args["memes"], splits=("train",))
    features, techniques = _training_features(memes, config)
    timer = EpochTimer()
    original = head_training.stage_callbacks
    head_training.stage_callbacks = lambda *a, **k: [*original(*a, **k), timer]
    try:
        with tempfile.TemporaryDirectory() as log_dir:
            started = time.perf_counter()
            head_training.fit_head(
                features, None, config, config["stages"][0], len(techniques), Path(log_dir)
            )
            total = time.perf_counter() - started
    finally:
        head_training.stage_callbacks = original
    later = timer.epochs[1:] or timer.epochs
    return {
        "memes": len(memes),
        "batch_size": config["batch_size"],
        "model": config["model"],
        "epochs": len(timer.epochs),
        "first_epoch_seconds": timer.epochs[0],
        "seconds_per_epoch": statistics.median(later),
        "fit_head_total_seconds": total,
        "features": "random values, real text lengths/labels (speed only)",
    }


def phase_scale_train(args: dict) -> dict:
    """The frozen stage (`fit_head`, the fusion head) on `memes` cached-feature-shaped memes
    (the corpus repeated), their features written to `.npy` files a chunk at a time and read
    a batch at a time (`write_feature_files`), as a corpus too large for memory is trained:
    seconds of a steady epoch (the second; the first traces) and the bytes of the features."""
    from meme_keras.config import make_config
    from meme_keras.data.corpus import default_data_dir
    from meme_keras.data.techniques import read_techniques
    from meme_keras.pipeline.feature_files import write_feature_files
    from meme_keras.pipeline.feature_sets import FeatureSet
    from meme_keras.training import head_training

    config = make_config(
        {"stages": [{"name": "frozen", "train": [], "epochs": 2, "learning_rate": 1e-3}]}
    )
    memes = corpus_memes(args["memes"])
    chunk = args.get("chunk", 256)
    chunks = (
        _training_features(memes[start : start + chunk], config, seed=start)[0]
        for start in range(0, len(memes), chunk)
    )
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        length = config["text_backbone"]["sequence_length"]
        if args.get("in_memory"):  # the comparison: every feature in memory, as runs hold them
            features = FeatureSet.concatenate(list(chunks))
        else:
            features = write_feature_files(chunks, folder, len(memes), length)
        write_seconds = time.perf_counter() - started
        techniques = read_techniques(default_data_dir(), "multimodal")
        timer = EpochTimer()
        original = head_training.stage_callbacks
        head_training.stage_callbacks = lambda *a, **k: [*original(*a, **k), timer]
        try:
            head_training.fit_head(features, None, config, config["stages"][0], len(techniques))
        finally:
            head_training.stage_callbacks = original
    arrays = (features.text_features, features.image_features, features.padding_mask)
    return {
        "memes": args["memes"],
        "seconds": timer.epochs[-1],
        "memes_per_s": args["memes"] / timer.epochs[-1],
        "first_epoch_seconds": timer.epochs[0],
        "write_seconds": write_seconds,
        "feature_mb": sum(array.nbytes for array in arrays) / 2**20,
        "features": "random values, real text lengths/labels (speed only); "
        + ("in memory" if args.get("in_memory") else "on disk, read a batch at a time"),
    }


def phase_train_finetune(args: dict) -> dict:
    """A few steps with the text backbone fine-tuned under the head; an epoch extrapolated."""
    from meme_keras.config import make_config
    from meme_keras.pipeline.classifier_inputs import classifier_dataset
    from meme_keras.training.fine_tuning import LiveBackbones
    from meme_keras.training.head_training import build_head, compile_model

    config = make_config()
    memes = corpus_memes(args["memes"], splits=("train",))
    features, techniques = _training_features(memes, config)
    live = frozenset({"text"})
    backbones = LiveBackbones(config, live)
    head = build_head(config, features, len(techniques))
    model = backbones.compose(head, live, features, live)
    stage = dataclasses.replace(config["stages"][0], learning_rate=2e-5)
    compile_model(model, config, stage, features.labels)
    steps = args["steps"] + 1  # the first step traces
    dataset = classifier_dataset(
        features, live, backbones.image_size, config["batch_size"], shuffle=True
    ).repeat()
    timer = EpochTimer()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0)
    # Per-step callback times can miss work still running when the callback fires; the
    # epoch's wall time less the first (tracing) step cannot.
    step = (timer.epochs[0] - timer.batches[0]) / args["steps"]
    steps_per_epoch = math.ceil(len(memes) / config["batch_size"])
    return {
        "memes": len(memes),
        "train_split_memes": len(corpus_memes(None, splits=("train",))),
        "batch_size": config["batch_size"],
        "sequence_length": int(features.token_ids.shape[1]),
        "measured_steps": args["steps"],
        "first_step_seconds": timer.batches[0],
        "seconds_per_step": step,
        "step_callback_seconds": timer.batches,
        "steps_per_epoch": steps_per_epoch,
        "seconds_per_epoch_extrapolated": step * steps_per_epoch,
        "full_train_seconds_per_epoch_extrapolated": step
        * math.ceil(len(corpus_memes(None, splits=("train",))) / config["batch_size"]),
    }


def phase_export(args: dict) -> dict:
    """A SavedModel to time: `run`'s when given (in `workdir/name`), else a tiny run (1 epoch,
    few memes, one frozen head: the backbones of the full model, but not its 5 fold models)."""
    from meme_keras.config import make_config
    from meme_keras.export.saved_model import export_run
    from meme_keras.training.classifier_run import run_classifier

    workdir = Path(args["workdir"])
    if args.get("run"):
        target = workdir / args.get("name", "saved_model")
        started = time.perf_counter()
        export_run(args["run"], target)
        return {
            "run": args["run"],
            "export_seconds": time.perf_counter() - started,
            "saved_model": str(target),
        }
    from meme_keras.data.corpus_subset import copy_corpus_subset

    corpus = copy_corpus_subset(workdir / "corpus", {"train": 8, "dev": 4, "test": 4})
    os.environ["MEME_KERAS_CACHE"] = str(workdir / "cache")
    config = make_config(
        {
            "name": "bench",
            "data_dir": str(corpus),
            "stages": [{"name": "frozen", "train": [], "epochs": 1, "learning_rate": 1e-3}],
            "thresholds": {"tune_on": "dev"},
        }
    )
    started = time.perf_counter()
    run_classifier(config, workdir / "run")
    trained = time.perf_counter() - started
    started = time.perf_counter()
    export_run(workdir / "run", workdir / "saved_model")
    return {
        "tiny_run_seconds": trained,
        "export_seconds": time.perf_counter() - started,
        "saved_model": str(workdir / "saved_model"),
    }


def _load_serving(saved_model: str):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    loaded = tf.saved_model.load(saved_model)
    return loaded, loaded.signatures["serving_default"]


def _raw_batches(memes, batch_size: int):
    """(image bytes, texts) batches, reading files as they stream (nothing held at once)."""
    import tensorflow as tf

    for start in range(0, len(memes), batch_size):
        chunk = memes[start : start + batch_size]
        yield (
            tf.constant([Path(m.image_path).read_bytes() for m in chunk]),
            tf.constant([m.text for m in chunk]),
        )


def phase_inference(args: dict) -> dict:
    """The exported SavedModel on raw inputs: batch-1 latency and batch-1/32 throughput."""
    started = time.perf_counter()
    loaded, serve = _load_serving(args["saved_model"])
    load_seconds = time.perf_counter() - started
    memes = corpus_memes(max(args["single"], BATCH * args["batches"]))
    single = [(i, t) for i, t in _raw_batches(memes[: args["single"]], 1)]
    batches = list(_raw_batches(memes[: BATCH * args["batches"]], BATCH))
    started = time.perf_counter()
    serve(image_bytes=single[0][0], text=single[0][1])
    first_call = time.perf_counter() - started
    serve(image_bytes=batches[0][0], text=batches[0][1])
    latencies = []
    for images, texts in single:
        started = time.perf_counter()
        serve(image_bytes=images, text=texts)["probabilities"].numpy()
        latencies.append(time.perf_counter() - started)
    batch_times = []
    for _ in range(args["repeats"]):
        started = time.perf_counter()
        for images, texts in batches:
            serve(image_bytes=images, text=texts)["probabilities"].numpy()
        batch_times.append(time.perf_counter() - started)
    batch_seconds = statistics.median(batch_times)
    del loaded
    return {
        "load_seconds": load_seconds,
        "first_call_seconds": first_call,
        "batch1_calls": len(latencies),
        "batch1_memes_per_s": len(latencies) / sum(latencies),
        "batch1_p50_ms": 1000 * float(np.percentile(latencies, 50)),
        "batch1_p95_ms": 1000 * float(np.percentile(latencies, 95)),
        "batch32_memes": BATCH * len(batches),
        "batch32_memes_per_s": BATCH * len(batches) / batch_seconds,
    }


def timed(function, items) -> list[float]:
    """Seconds of `function(item)` for each item, in order."""
    seconds = []
    for item in items:
        started = time.perf_counter()
        function(item)
        seconds.append(time.perf_counter() - started)
    return seconds


def _raw_text_backbone(text: dict):
    """The text backbone alone: (prepare, forward). `prepare(texts)` tokenizes a batch and cuts
    it to its longest text, as the SavedModels do; `forward(inputs)` runs the backbone."""
    import tensorflow as tf

    from meme_keras.backbones.adapted_text import text_preset
    from meme_keras.backbones.text_backbones import load_text_backbone
    from meme_keras.backbones.text_encoders import make_text_encoder

    encoder = make_text_encoder(text["name"], text["sequence_length"], text_preset(text))
    model = load_text_backbone(text["name"], text_preset(text))
    # reduce_retracing: texts of new lengths reuse one graph, as the SavedModel's signature does
    forward = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)

    def prepare(texts):
        encoded = encoder.encode(texts)
        longest = max(1, int(encoded.padding_mask.sum(axis=1).max()))
        ids = tf.constant(encoded.token_ids[:, :longest])
        mask = tf.constant(encoded.padding_mask[:, :longest])
        return {"token_ids": ids, "segment_ids": tf.zeros_like(ids), "padding_mask": mask}

    return prepare, forward


def _serving_figures(rates: dict, latencies: dict, unit: str) -> dict:
    """Per label: the median batch-32 rate (and every repeat's) and batch-1 p50/p95 latency."""
    return {
        label: {
            f"batch32_{unit}_per_s": statistics.median(rates[label]),
            f"batch32_{unit}_per_s_all": rates[label],
            "batch1_p50_ms": 1000 * float(np.percentile(latencies[label], 50)),
            "batch1_p95_ms": 1000 * float(np.percentile(latencies[label], 95)),
        }
        for label in rates
    }


def _raw_backbones(run: str):
    """The run's backbones alone (no head, no decoding, no tokenizing): a forward pass on
    already tokenized texts (each batch cut to its longest, as the SavedModel does) and
    already decoded, resized images."""
    import tensorflow as tf

    from meme_keras.backbones.image_backbones import configured_image_size, load_image_backbone
    from meme_keras.inference.run_folder import read_run_config

    config = read_run_config(run)
    text, image = config["text_backbone"], config["image_backbone"]
    prepare_texts, text_forward = _raw_text_backbone(text)
    image_size = configured_image_size(image)
    image_model = load_image_backbone(image["name"], image["weights"], image_size)
    image_forward = tf.function(
        lambda images: image_model(images, training=False), reduce_retracing=True
    )

    def prepare(memes):
        return (
            prepare_texts([meme.text for meme in memes]),
            tf.constant(_decoded_images([m.image_path for m in memes], image_size)),
        )

    def forward(prepared):
        texts, images = prepared
        tf.nest.map_structure(lambda t: t.numpy(), text_forward(texts))
        image_forward(images).numpy()

    return prepare, forward


def phase_serving(args: dict) -> dict:
    """Paired serving figures on the same memes: each SavedModel on raw inputs (image bytes
    + text) against its run's backbones alone, at batch 1 and 32, timed back to back in each
    repeat; ratios are medians of the per-repeat ratios."""
    repeats = args["repeats"]
    memes = corpus_memes(max(args["single"], BATCH * args["batches"]))
    single_memes = memes[: args["single"]]
    batch_memes = [memes[i : i + BATCH] for i in range(0, BATCH * args["batches"], BATCH)]
    single = list(_raw_batches(single_memes, 1))
    batches = list(_raw_batches(memes[: BATCH * args["batches"]], BATCH))
    prepare, raw_forward = _raw_backbones(args["runs"][args["shipped"]])
    raw_single = [prepare([meme]) for meme in single_memes]
    raw_batches = [prepare(chunk) for chunk in batch_memes]
    served = {label: _load_serving(path)[1] for label, path in args["saved_models"].items()}

    def call(serve, images, texts):
        serve(image_bytes=images, text=texts)["probabilities"].numpy()

    for serve in served.values():  # one untimed pass over every input: tracing, caches
        for images, texts in single + batches:
            call(serve, images, texts)
    for prepared in raw_single + raw_batches:
        raw_forward(prepared)

    count = BATCH * len(batches)
    rates = {label: [] for label in [*served, "raw_backbones"]}
    latencies = {label: [] for label in rates}
    for _ in range(repeats):
        for label, serve in served.items():
            rates[label].append(count / sum(timed(lambda b, s=serve: call(s, *b), batches)))
            latencies[label] += timed(lambda b, s=serve: call(s, *b), single)
        rates["raw_backbones"].append(count / sum(timed(raw_forward, raw_batches)))
        latencies["raw_backbones"] += timed(raw_forward, raw_single)
    result = {
        "memes_batch32": count,
        "memes_batch1": len(single),
        "repeats": repeats,
        "saved_models": args["saved_models"],
        "runs": args["runs"],
        "shipped": args["shipped"],
    }
    result.update(_serving_figures(rates, latencies, "memes"))
    shipped = rates[args["shipped"]]
    result["shipped_to_raw_backbones_ratio"] = statistics.median(
        [s / r for s, r in zip(shipped, rates["raw_backbones"], strict=True)]
    )
    for label in served:
        if label != args["shipped"]:
            result[f"shipped_to_{label}_ratio"] = statistics.median(
                [s / o for s, o in zip(shipped, rates[label], strict=True)]
            )
    return result


def phase_serving_spans(args: dict) -> dict:
    """Paired serving figures of a span run's SavedModel (texts in, spans out) against its
    text backbone alone on the same texts, already tokenized (each batch cut to its longest),
    at batch 1 and 32; ratios are medians of the per-repeat ratios."""
    import tensorflow as tf

    from meme_keras.inference.run_folder import read_run_config

    repeats = args["repeats"]
    memes = corpus_memes(max(args["single"], BATCH * args["batches"]))
    texts = [meme.text for meme in memes]
    single = [texts[i : i + 1] for i in range(args["single"])]
    batches = [texts[i : i + BATCH] for i in range(0, BATCH * args["batches"], BATCH)]
    serve = _load_serving(args["saved_model"])[1]
    prepare, forward = _raw_text_backbone(read_run_config(args["run"])["text_backbone"])

    def served(chunk):
        serve(text=tf.constant(chunk))["span_start"].numpy()

    def raw(prepared):
        forward(prepared)["sequence_output"].numpy()

    raw_single, raw_batches = [prepare(c) for c in single], [prepare(c) for c in batches]
    for chunk in single + batches:  # untimed: tracing, caches
        served(chunk)
    for prepared in raw_single + raw_batches:
        raw(prepared)

    count = BATCH * len(batches)
    rates = {"span_saved_model": [], "raw_text_backbone": []}
    latencies = {label: [] for label in rates}
    for _ in range(repeats):
        rates["span_saved_model"].append(count / sum(timed(served, batches)))
        latencies["span_saved_model"] += timed(served, single)
        rates["raw_text_backbone"].append(count / sum(timed(raw, raw_batches)))
        latencies["raw_text_backbone"] += timed(raw, raw_single)
    result = {"texts_batch32": count, "texts_batch1": len(single), "repeats": repeats}
    result.update(_serving_figures(rates, latencies, "texts"))
    result["saved_model_to_raw_ratio"] = statistics.median(
        [s / r for s, r in zip(*rates.values(), strict=True)]
    )
    return result


def phase_scale_extract(args: dict) -> dict:
    """The product's feature extraction (no cache) for `memes` repeated memes, streamed in
    chunks (`feature_set_chunks`, what `TechniqueModel` uses): only a chunk is held."""
    from meme_keras.config import make_config
    from meme_keras.data.corpus import default_data_dir
    from meme_keras.data.techniques import read_techniques
    from meme_keras.pipeline.feature_sets import feature_set_chunks

    config = make_config()
    techniques = read_techniques(default_data_dir(), "multimodal")
    memes = corpus_memes(args["memes"])
    # Each call loads the backbones and traces them: that fixed cost is part of the time
    # (the scaling summary separates it from the cost per meme with a linear fit).
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    feature_mb, largest_chunk_mb = 0.0, 0.0
    for chunk in feature_set_chunks(memes, techniques, config, args["chunk"], cache_dir=None):
        chunk_mb = (chunk.text_features.nbytes + chunk.image_features.nbytes) / 2**20
        feature_mb += chunk_mb
        largest_chunk_mb = max(largest_chunk_mb, chunk_mb)
    seconds = time.perf_counter() - started
    return {
        "memes": len(memes),
        "chunk_memes": args["chunk"],
        "seconds": seconds,
        "memes_per_s": len(memes) / seconds,
        "peak_rss_before_mb": rss_before,
        "features_streamed_mb": feature_mb,
        "largest_chunk_mb": largest_chunk_mb,
    }


def phase_scale_predict(args: dict) -> dict:
    """The exported SavedModel streaming `memes` repeated memes in batches of 32."""
    loaded, serve = _load_serving(args["saved_model"])
    memes = corpus_memes(args["memes"])
    images, texts = next(_raw_batches(memes, BATCH))
    serve(image_bytes=images, text=texts)  # warm up
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    for images, texts in _raw_batches(memes, BATCH):
        serve(image_bytes=images, text=texts)["probabilities"].numpy()
    seconds = time.perf_counter() - started
    del loaded
    return {
        "memes": len(memes),
        "seconds": seconds,
        "memes_per_s": len(memes) / seconds,
        "peak_rss_before_mb": rss_before,
    }


PHASES = {
    "pipeline": phase_pipeline,
    "extract": phase_extract,
    "compare": phase_compare,
    "train_head": phase_train_head,
    "train_finetune": phase_train_finetune,
    "export": phase_export,
    "inference": phase_inference,
    "serving": phase_serving,
    "serving_spans": phase_serving_spans,
    "scale_extract": phase_scale_extract,
    "scale_predict": phase_scale_predict,
    "scale_train": phase_scale_train,
}


def main(argv: list[str]) -> int:
    phase, arguments, output = argv
    started = time.perf_counter()
    result = PHASES[phase](json.loads(arguments))
    result["phase_seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = peak_rss_mb()
    Path(output).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
