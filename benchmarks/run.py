"""How fast meme-keras is, where the time goes and how it grows.

    python benchmarks/run.py            # full: the 950-meme corpus (several minutes)
    python benchmarks/run.py --quick    # tiny sizes, a smoke run (about 2-3 minutes)
    python benchmarks/run.py --only serving --export-run runs/main --compare-run OTHER_RUN
                                        # serving: SavedModels against their raw backbones
    python benchmarks/run.py --only serving_spans --span-run runs/spans
                                        # the span export against its text backbone

Every phase runs in its own Python process (benchmarks/phases.py), so each peak resident
memory figure (ru_maxrss) belongs to that phase alone. Prints a table, writes JSON
(benchmarks/results.json, or --output) and a scaling plot (assets/benchmark_scaling.png).
Timings are medians over --repeats runs unless a row says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent
PHASES = HERE / "phases.py"

# Sizes: (quick, full). Full mode runs the slow random-weight backbones on a subset and says so.
SIZES = {
    "pipeline_images": (32, 256),
    "pipeline_texts": (64, 512),
    "extract_memes": (32, 950),
    "extract_memes_resnet50": (8, 950),
    "extract_memes_albert_large": (4, 96),
    "cold_repeats": (1, 1),
    "compare_images": (32, 256),
    "train_memes": (32, None),
    "train_epochs": (2, 5),
    "finetune_steps": (2, 8),
    "inference_single": (10, 60),
    "inference_batches": (1, 4),
    "serving_single": (8, 40),
    "serving_batches": (1, 4),
    "scale_base": (8, 950),  # full: 1x, 4x and 16x the corpus (950 memes)
    "scale_chunk": (8, 256),
}
CORPUS_MEMES = 950
NOTES = [
    "Cold extraction: empty cache, backbone loaded and traced on one batch first "
    "(load_seconds and trace_call_seconds are reported apart). Warm: a cache hit, which still "
    "hashes the weights and the image files (or encodes the texts) to find its key, so at "
    "small sizes its fixed cost makes cold/warm look small.",
    "resnet50 and albert_large have random weights (speed only); albert_large gets random "
    "token ids with the real texts' lengths. Runs on fewer than 950 memes are extrapolated "
    "linearly to 950 (marked).",
    "Head training uses random features of the real shapes with the real texts' lengths and "
    "labels; fine-tuning times a few steps after the first (tracing) one and extrapolates.",
    "Inference: a tiny run (1 epoch, few memes, one frozen head) exported, or with "
    "--export-run the given trained run (e.g. runs/main: 5 fold models, each with its own "
    "fine-tuned backbones, which is what a user ships).",
    "Scaling: each size is a fresh process; extraction is feature_set_chunks without cache, "
    "chunks of 256 memes, as TechniqueModel streams them (includes loading and tracing "
    "both backbones: the linear fit separates that fixed cost); "
    "prediction streams raw memes through the SavedModel in batches of 32 (sizes under 32 "
    "run smaller batches, so their memory is lower). Training writes random features of the "
    "real shapes to .npy files a chunk at a time (write_feature_files) and trains the frozen "
    "fusion head on them, read a batch at a time.",
    "The machine is shared: timings vary up to about 2x between runs (load average recorded).",
]
SCALES = (1, 4, 16)
# Training is measured up to the extra-data corpus (the 2021 memes and the 6,981 SemEval-2024
# memes), the most a run here trains a head on.
EXTRA_DATA_MEMES = 950 + 6981


def size(name: str, quick: bool):
    return SIZES[name][0 if quick else 1]


# The vector instructions TensorFlow's CPU kernels speed up with: two "AMD EPYC" machines here
# differ in these alone, and trained about 2x apart (docs/performance.md).
CPU_VECTOR_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_vector_flags() -> list[str]:
    """Which of `CPU_VECTOR_FLAGS` this CPU lists in /proc/cpuinfo (empty where there is none)."""
    cpuinfo = Path("/proc/cpuinfo")
    flags = set(cpuinfo.read_text().split()) if cpuinfo.exists() else set()
    return [flag for flag in CPU_VECTOR_FLAGS if flag in flags]


def machine_info() -> dict:
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    try:
        meminfo = Path("/proc/meminfo").read_text().split("\n")[0].split()
        info["memory_gib"] = round(int(meminfo[1]) / 2**20, 1)
        model = [
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ]
        info["cpu_model"] = model[0] if model else None
        info["cpu_vector_flags"] = cpu_vector_flags()
    except OSError:
        pass
    from importlib.metadata import version

    for package in ("tensorflow", "keras", "keras-hub", "numpy"):
        info[package] = version(package)
    return info


def run_phase(phase: str, arguments: dict, log) -> dict:
    """Runs one phase in a fresh process; returns its JSON (with peak_rss_mb and wall_seconds)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        output = Path(handle.name)
    label = f"{phase} {json.dumps(arguments)}"
    log(f"  running {label}")
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, str(PHASES), phase, json.dumps(arguments), str(output)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    try:
        if completed.returncode != 0:
            tail = "\n".join(completed.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"phase {label} failed ({completed.returncode}):\n{tail}")
        result = json.loads(output.read_text())
    finally:
        output.unlink(missing_ok=True)
    result["wall_seconds"] = wall
    log(f"    done in {wall:.1f}s, peak RSS {result['peak_rss_mb']:.0f} MB")
    return result


def run_all(
    quick: bool,
    repeats: int,
    only: set[str] | None,
    log,
    all_backbones: bool = False,
    export_run: Path | None = None,
    compare_run: Path | None = None,
    span_run: Path | None = None,
) -> dict:
    def wanted(section):
        return only is None or section in only

    results: dict = {}
    if wanted("pipeline"):
        results["pipeline"] = run_phase(
            "pipeline",
            {
                "images": size("pipeline_images", quick),
                "texts": size("pipeline_texts", quick),
                "repeats": repeats,
            },
            log,
        )
    if wanted("extract"):
        results["extract"] = {}
        backbones = ["efficientnet_lite0", "all_minilm_l6_v2"]
        if not quick or all_backbones:  # the random-weight ones are slow
            backbones += ["resnet50", "albert_large"]
        for backbone in backbones:
            key = f"extract_memes_{backbone}"
            memes = size(key if key in SIZES else "extract_memes", quick)
            result = run_phase(
                "extract",
                {
                    "backbone": backbone,
                    "memes": memes,
                    "repeats": repeats,
                    "cold_repeats": size("cold_repeats", quick),
                },
                log,
            )
            # Cold extraction is linear in memes (see the scaling run): corpus estimate.
            result["corpus_cold_seconds_estimate"] = result["cold_seconds"] * CORPUS_MEMES / memes
            result["extrapolated"] = memes != CORPUS_MEMES
            results["extract"][backbone] = result
    if wanted("compare"):
        results["compare"] = {}
        backbones = ("efficientnet_lite0",) if quick else ("efficientnet_lite0", "resnet50")
        for backbone in backbones:
            images = size("compare_images", quick) if backbone == "efficientnet_lite0" else 64
            results["compare"][backbone] = run_phase(
                "compare", {"backbone": backbone, "images": images, "repeats": repeats}, log
            )
    if wanted("train"):
        results["train_head"] = run_phase(
            "train_head",
            {"memes": size("train_memes", quick), "epochs": size("train_epochs", quick)},
            log,
        )
        results["train_finetune"] = run_phase(
            "train_finetune",
            {"memes": size("train_memes", quick), "steps": size("finetune_steps", quick)},
            log,
        )
    with tempfile.TemporaryDirectory() as workdir:
        saved_model = None
        if wanted("inference") or wanted("scaling") or wanted("serving"):
            results["export"] = run_phase(
                "export",
                {"workdir": workdir, "run": None if export_run is None else str(export_run)},
                log,
            )
            saved_model = results["export"]["saved_model"]
        if wanted("inference"):
            results["inference"] = run_phase(
                "inference",
                {
                    "saved_model": saved_model,
                    "single": size("inference_single", quick),
                    "batches": size("inference_batches", quick),
                    "repeats": repeats,
                },
                log,
            )
        if wanted("serving"):
            saved_models = {"shipped": saved_model}
            # Without --export-run, the export phase's tiny run (in workdir/run).
            runs = {"shipped": str(export_run or Path(workdir) / "run")}
            if compare_run is not None:
                compared = run_phase(
                    "export",
                    {"workdir": workdir, "run": str(compare_run), "name": "compared"},
                    log,
                )
                saved_models["compared"] = compared["saved_model"]
                runs["compared"] = str(compare_run)
            results["serving"] = run_phase(
                "serving",
                {
                    "saved_models": saved_models,
                    "runs": runs,
                    "shipped": "shipped",
                    "single": size("serving_single", quick),
                    "batches": size("serving_batches", quick),
                    "repeats": max(repeats, 5),
                },
                log,
            )
        if wanted("serving_spans") and span_run is not None:
            if not (span_run / "model.keras").exists():
                if only is not None:
                    raise SystemExit(f"{span_run}: no trained span run (make reproduce trains it)")
                log(f"serving_spans skipped: {span_run} holds no trained run")
            else:
                exported = run_phase(
                    "export", {"workdir": workdir, "run": str(span_run), "name": "spans"}, log
                )
                results["serving_spans"] = run_phase(
                    "serving_spans",
                    {
                        "saved_model": exported["saved_model"],
                        "run": str(span_run),
                        "single": size("serving_single", quick),
                        "batches": size("serving_batches", quick),
                        "repeats": max(repeats, 5),
                    },
                    log,
                )
        if wanted("scaling") or wanted("scaling_train"):
            base = size("scale_base", quick)
            results["scaling"] = {"base_memes": base, "extract": [], "predict": [], "train": []}
            largest = EXTRA_DATA_MEMES if not quick else 8 * base

            # The price of reading features from disk: the smallest size in memory, before and
            # after the sizes on disk (the machine's speed drifts).
            def in_memory():
                return run_phase("scale_train", {"memes": base, "in_memory": True}, log)

            results["scaling"]["train_in_memory"] = [in_memory()]
            for memes in (base, 4 * base, largest):
                train = run_phase("scale_train", {"memes": memes}, log)
                results["scaling"]["train"].append({"scale": memes / base, **train})
            results["scaling"]["train_in_memory"].append(in_memory())
            for scale in SCALES if wanted("scaling") else ():
                memes = base * scale
                extract = run_phase(
                    "scale_extract", {"memes": memes, "chunk": size("scale_chunk", quick)}, log
                )
                predict = run_phase(
                    "scale_predict", {"memes": memes, "saved_model": saved_model}, log
                )
                results["scaling"]["extract"].append({"scale": scale, **extract})
                results["scaling"]["predict"].append({"scale": scale, **predict})
    return results


# ------------------------------------------------------------------------------ reporting


def _fmt(value, digits=1):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def table_rows(results: dict) -> list[tuple[str, str, str, str]]:
    """(section, measure, value, target/verdict) rows."""
    rows = []

    def verdict(ok: bool, target: str) -> str:
        return f"{target}: {'MET' if ok else 'NOT MET'}"

    pipeline = results.get("pipeline")
    if pipeline:
        rows += [
            (
                "pipeline",
                "decode+resize images/s (image_dataset)",
                _fmt(pipeline["decode_resize_images_per_s"]),
                "",
            ),
            (
                "pipeline",
                "efficientnet_lite0 forward images/s",
                _fmt(pipeline["efficientnet_lite0_forward_images_per_s"]),
                "",
            ),
            (
                "pipeline",
                "image pipeline / forward",
                _fmt(pipeline["image_pipeline_to_forward_ratio"], 2) + "x",
                verdict(pipeline["image_pipeline_to_forward_ratio"] >= 3, ">= 3x"),
            ),
            (
                "pipeline",
                "tokenize texts/s (MiniLM encoder, len 128)",
                _fmt(pipeline["tokenize_texts_per_s"]),
                "",
            ),
            (
                "pipeline",
                "all_minilm_l6_v2 forward texts/s (len 128)",
                _fmt(pipeline["all_minilm_l6_v2_forward_texts_per_s"]),
                "",
            ),
            (
                "pipeline",
                "text pipeline / forward",
                _fmt(pipeline["text_pipeline_to_forward_ratio"], 2) + "x",
                verdict(pipeline["text_pipeline_to_forward_ratio"] >= 3, ">= 3x"),
            ),
            ("pipeline", "peak RSS MB", _fmt(pipeline["peak_rss_mb"], 0), ""),
        ]
    for name, extract in results.get("extract", {}).items():
        note = f"{extract['memes']} memes, {extract['weights']} weights"
        rows += [
            ("extract " + name, f"cold seconds ({note})", _fmt(extract["cold_seconds"], 2), ""),
            ("extract " + name, "cold memes/s", _fmt(extract["cold_memes_per_s"]), ""),
            (
                "extract " + name,
                "cold seconds, 950 memes" + (" (extrapolated)" if extract["extrapolated"] else ""),
                _fmt(extract["corpus_cold_seconds_estimate"]),
                "",
            ),
            ("extract " + name, "warm (cache hit) seconds", _fmt(extract["warm_seconds"], 3), ""),
            (
                "extract " + name,
                "cold / warm",
                _fmt(extract["warm_speedup"]) + "x",
                verdict(extract["warm_speedup"] >= 20, ">= 20x"),
            ),
            ("extract " + name, "peak RSS MB", _fmt(extract["peak_rss_mb"], 0), ""),
        ]
    for name, compare in results.get("compare", {}).items():
        for method, measured in compare["methods"].items():
            rows.append(
                (
                    f"compare {name}",
                    f"{method} images/s ({compare['images']} images)",
                    _fmt(measured["images_per_s"]),
                    "",
                )
            )
        rows.append(
            (
                f"compare {name}",
                "fastest in memory",
                compare["fastest_in_memory"],
                f"product: {compare['product_uses']}",
            )
        )
    head = results.get("train_head")
    if head:
        rows += [
            (
                "train head",
                f"seconds/epoch ({head['memes']} memes, batch {head['batch_size']})",
                _fmt(head["seconds_per_epoch"], 2),
                f"first epoch {head['first_epoch_seconds']:.1f}s",
            ),
            ("train head", "peak RSS MB", _fmt(head["peak_rss_mb"], 0), ""),
        ]
    tune = results.get("train_finetune")
    if tune:
        rows += [
            (
                "train text fine-tuned",
                f"seconds/step (len {tune['sequence_length']}, batch {tune['batch_size']})",
                _fmt(tune["seconds_per_step"], 2),
                f"median of {tune['measured_steps']} steps",
            ),
            (
                "train text fine-tuned",
                f"seconds/epoch, {tune['memes']} memes (extrapolated)",
                _fmt(tune["seconds_per_epoch_extrapolated"]),
                "",
            ),
            (
                "train text fine-tuned",
                f"seconds/epoch, train split {tune['train_split_memes']} memes (extrapolated)",
                _fmt(tune["full_train_seconds_per_epoch_extrapolated"]),
                "",
            ),
            ("train text fine-tuned", "peak RSS MB", _fmt(tune["peak_rss_mb"], 0), ""),
        ]
    serving = results.get("serving")
    if serving:
        section = "serving (paired)"
        for label in [*serving["saved_models"], "raw_backbones"]:
            figures = serving[label]
            name = {"shipped": "shipped SavedModel", "compared": "compared SavedModel"}.get(
                label, "raw backbones alone"
            )
            rows += [
                (section, f"{name}: batch-32 memes/s", _fmt(figures["batch32_memes_per_s"]), ""),
                (
                    section,
                    f"{name}: batch-1 p50 / p95 ms",
                    f"{figures['batch1_p50_ms']:.0f} / {figures['batch1_p95_ms']:.0f}",
                    verdict(figures["batch1_p95_ms"] < 60, "p95 < 60 ms")
                    if label == "shipped"
                    else "",
                ),
            ]
        ratio = serving["shipped_to_raw_backbones_ratio"]
        met = verdict(ratio >= 0.6, ">= 0.6")
        rows.append((section, "shipped / raw backbones, batch 32", _fmt(ratio, 2), met))
        if "shipped_to_compared_ratio" in serving:
            ratio = serving["shipped_to_compared_ratio"]
            met = verdict(ratio >= 2.5, ">= 2.5")
            rows.append((section, "shipped / compared, batch 32", _fmt(ratio, 2), met))
    spans = results.get("serving_spans")
    if spans:
        section = "serving spans (paired)"
        for label, name in (
            ("span_saved_model", "span SavedModel"),
            ("raw_text_backbone", "text backbone alone"),
        ):
            figures = spans[label]
            rows += [
                (section, f"{name}: batch-32 texts/s", _fmt(figures["batch32_texts_per_s"]), ""),
                (
                    section,
                    f"{name}: batch-1 p50 / p95 ms",
                    f"{figures['batch1_p50_ms']:.0f} / {figures['batch1_p95_ms']:.0f}",
                    "",
                ),
            ]
        ratio = spans["saved_model_to_raw_ratio"]
        rows.append((section, "SavedModel / text backbone, batch 32", _fmt(ratio, 2), ""))
    inference = results.get("inference")
    if inference:
        rows += [
            (
                "inference SavedModel",
                "memes/s at batch 1",
                _fmt(inference["batch1_memes_per_s"]),
                "",
            ),
            (
                "inference SavedModel",
                "latency p50 / p95 ms at batch 1",
                f"{inference['batch1_p50_ms']:.0f} / {inference['batch1_p95_ms']:.0f}",
                "",
            ),
            (
                "inference SavedModel",
                "memes/s at batch 32",
                _fmt(inference["batch32_memes_per_s"]),
                verdict(inference["batch32_memes_per_s"] >= 20, ">= 20/s"),
            ),
            ("inference SavedModel", "peak RSS MB", _fmt(inference["peak_rss_mb"], 0), ""),
        ]
    scaling = results.get("scaling")
    if scaling:
        for kind in ("extract", "predict", "train"):
            for point in scaling.get(kind, []):
                rows.append(
                    (
                        f"scaling {kind}",
                        f"{point['scale']:.3g}x = {point['memes']} memes",
                        f"{point['seconds']:.1f}s, {point['memes_per_s']:.1f}/s",
                        f"peak RSS {point['peak_rss_mb']:.0f} MB",
                    )
                )
    for point in (scaling or {}).get("train_in_memory", []):
        rows.append(
            (
                "scaling train, in memory",
                f"1x = {point['memes']} memes",
                f"{point['seconds']:.1f}s, {point['memes_per_s']:.1f}/s",
                f"peak RSS {point['peak_rss_mb']:.0f} MB",
            )
        )
    peaks = [
        value["peak_rss_mb"]
        for value in _walk(results)
        if isinstance(value, dict) and "peak_rss_mb" in value
    ]
    if peaks:
        rows.append(
            (
                "all phases",
                "largest peak RSS MB",
                _fmt(max(peaks), 0),
                verdict(max(peaks) < 6 * 1024, "< 6 GiB"),
            )
        )
    return rows


def _walk(value):
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def format_table(rows) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    header = ("section", "measure", "value", "target / note")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    for row in rows:
        lines.append(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def scaling_summary(scaling: dict) -> dict:
    """Time per meme at each scale, a linear fit (fixed + per-meme cost) and memory growth."""
    import numpy as np

    summary = {}
    for kind in ("extract", "predict", "train"):
        points = scaling.get(kind)
        if not points:
            continue
        first, last = points[0], points[-1]
        slope, intercept = np.polyfit(
            [p["memes"] for p in points], [p["seconds"] for p in points], 1
        )
        summary[kind] = {
            "linear_fit_seconds_per_meme": float(slope),
            "linear_fit_fixed_seconds": float(intercept),
            "seconds_per_meme": [p["seconds"] / p["memes"] for p in points],
            "time_ratio_largest_to_smallest": last["seconds"] / first["seconds"],
            "size_ratio": last["memes"] / first["memes"],
            "peak_rss_growth_mb": last["peak_rss_mb"] - first["peak_rss_mb"],
        }
    return summary


def plot_scaling(scaling: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (times, memory) = plt.subplots(1, 2, figsize=(11, 4.2))
    labels = {
        "extract": "feature extraction (feature_set_chunks, no cache)",
        "predict": "prediction (SavedModel, raw inputs, batch 32)",
        "train": "training on cached features (frozen stage, one steady epoch)",
    }
    for kind, marker in (("extract", "o"), ("predict", "s"), ("train", "^")):
        points = scaling.get(kind)
        if not points:
            continue
        memes = [p["memes"] for p in points]
        seconds = [p["seconds"] for p in points]
        times.plot(memes, seconds, marker=marker, label=labels[kind])
        linear = [seconds[0] * m / memes[0] for m in memes]
        times.plot(memes, linear, linestyle=":", color="gray")
        memory.plot(memes, [p["peak_rss_mb"] for p in points], marker=marker, label=kind)
    times.set_xscale("log")
    times.set_yscale("log")
    times.set_xlabel("memes (the corpus repeated)")
    times.set_ylabel("seconds")
    times.set_title("Time (dotted: linear from the smallest size)")
    times.legend(fontsize=8)
    memory.set_xscale("log")
    memory.set_xlabel("memes")
    memory.set_ylabel("peak RSS of the process, MB")
    memory.set_ylim(bottom=0)
    memory.set_title("Peak memory")
    memory.legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument(
        "--all-backbones",
        action="store_true",
        help="with --quick: also resnet50 and albert_large (random weights, slow)",
    )
    parser.add_argument("--repeats", type=int, default=None, help="default: 3 (quick: 2)")
    parser.add_argument("--output", type=Path, default=HERE / "results.json")
    parser.add_argument(
        "--plot", type=Path, default=REPOSITORY / "assets" / "benchmark_scaling.png"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=(
            "pipeline",
            "extract",
            "compare",
            "train",
            "inference",
            "serving",
            "serving_spans",
            "scaling",
            "scaling_train",
        ),
        help="run only these sections (scaling_train: the training part of scaling alone)",
    )
    parser.add_argument(
        "--export-run",
        type=Path,
        default=None,
        help="time this trained run's SavedModel (e.g. runs/main) instead of a tiny one",
    )
    parser.add_argument(
        "--compare-run",
        type=Path,
        default=None,
        help="serving: also time this run's SavedModel beside it (e.g. a fold-ensemble run)",
    )
    parser.add_argument(
        "--span-run",
        type=Path,
        default=REPOSITORY / "runs" / "spans",
        help="serving_spans: the span run whose SavedModel is timed",
    )
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 3)

    def log(message):
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    machine = machine_info()
    log(
        f"meme-keras benchmark ({'quick' if args.quick else 'full'}), {repeats} repeats, "
        f"{machine['cpus_usable']} CPUs, load {machine['load_average_at_start']}"
    )
    only = set(args.only) if args.only else None
    results = run_all(
        args.quick,
        repeats,
        only,
        log,
        args.all_backbones,
        args.export_run,
        args.compare_run,
        args.span_run,
    )
    if "scaling" in results:
        results["scaling"]["summary"] = scaling_summary(results["scaling"])
    rows = table_rows(results)
    report = {
        "mode": "quick" if args.quick else "full",
        "repeats": repeats,
        "machine": machine,
        "load_average_at_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "total_seconds": time.perf_counter() - started,
        "results": results,
        "notes": NOTES,
        "table": [
            dict(zip(("section", "measure", "value", "target"), r, strict=True)) for r in rows
        ],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))
    if "scaling" in results:
        plot_scaling(
            results["scaling"],
            args.plot,
            f"meme-keras scaling ({report['mode']} run, base {results['scaling']['base_memes']} "
            f"memes; {machine['cpus_usable']} CPUs, {machine['platform']})",
        )
    print(format_table(rows))
    print(
        f"\n{report['mode']} run: {report['total_seconds']:.0f}s; wrote {args.output}"
        + (f" and {args.plot}" if "scaling" in results else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
