"""Backbones by name: real offline MiniLM weights, and the report's ResNet50 / ALBERT loading
code exercised on tiny random-weight models (their weights cannot be downloaded here)."""

from __future__ import annotations

import keras
import keras_hub
import numpy as np
import pytest

from meme_keras.backbones.features import encode_texts, text_inputs
from meme_keras.backbones.image_backbones import (
    IMAGE_BACKBONES,
    load_image_backbone,
    split_image_backbone,
)
from meme_keras.backbones.text_backbones import load_text_backbone, load_text_tokenizer
from meme_keras.backbones.text_encoders import make_text_encoder
from meme_keras.data.meme import Meme
from meme_keras.models.masked_mean_pooling import MaskedMeanPooling


def sentence_embeddings(texts):
    memes = [Meme(str(i), text) for i, text in enumerate(texts)]
    encoded = encode_texts(memes, "all_minilm_l6_v2", 16)
    outputs = load_text_backbone("all_minilm_l6_v2")(text_inputs(encoded))
    pooled = np.asarray(MaskedMeanPooling()(outputs["sequence_output"], encoded.padding_mask))
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def test_minilm_weights_are_real_pretrained_weights():
    cat, kitten, tax = sentence_embeddings(["a cat", "a kitten", "tax law"])
    assert cat @ kitten > cat @ tax + 0.2


def test_resnet50_builds_with_caffe_preprocessing_and_saves(tmp_path):
    model = load_image_backbone("resnet50", weights=None, image_size=64)
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    grid = model.predict(images, verbose=0)
    assert grid.shape == (2, 2, 2, 2048)
    model.save(tmp_path / "resnet.keras")
    reloaded = keras.saving.load_model(tmp_path / "resnet.keras")
    assert np.allclose(reloaded.predict(images, verbose=0), grid, atol=1e-4)


@pytest.mark.parametrize("name", sorted(IMAGE_BACKBONES))
def test_split_image_backbone_top_of_bottom_is_the_backbone(name):
    model = load_image_backbone(name, weights=None, image_size=64)
    bottom, top = split_image_backbone(model, IMAGE_BACKBONES[name].top_from)
    images = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    whole = model.predict(images, verbose=0)
    assert np.allclose(top.predict(bottom.predict(images, verbose=0), verbose=0), whole, atol=1e-4)
    # The top is the backbone's last layers, shared: a fraction of its weights.
    assert 0 < top.count_params() < model.count_params() / 3
    assert top.layers[-1] is model.layers[-1]


def test_split_image_backbone_names_a_missing_or_bypassed_layer():
    model = load_image_backbone("efficientnet_lite0", weights=None, image_size=64)
    with pytest.raises(ValueError, match="has no layer 'no_such_layer'"):
        split_image_backbone(model, "no_such_layer")
    # Inside a residual block, the skip connection bypasses the cut.
    with pytest.raises(ValueError, match="cannot cut image backbone"):
        split_image_backbone(model, "blocks_14_bn0")


def test_unknown_backbone_and_missing_weights_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown image backbone"):
        load_image_backbone("vgg99")
    with pytest.raises(RuntimeError, match="cannot load image backbone 'resnet50'"):
        load_image_backbone("resnet50", weights=str(tmp_path / "missing.h5"))
    with pytest.raises(RuntimeError, match="cannot load text backbone 'albert_base'"):
        load_text_backbone("albert_base", preset=str(tmp_path / "no_such_preset"))


def test_albert_loads_from_a_local_preset_and_its_offsets_encoder_matches(tiny_albert_preset):
    backbone = load_text_backbone("albert_base", preset=str(tiny_albert_preset))
    assert isinstance(backbone, keras_hub.models.AlbertBackbone)
    texts = ["there are only TWO genders", "a cat"]
    encoded = make_text_encoder("albert_base", 12, preset=str(tiny_albert_preset)).encode(texts)
    tokenizer = load_text_tokenizer("albert_base", preset=str(tiny_albert_preset))
    for row, text in enumerate(texts):
        ids = [int(i) for i in np.asarray(tokenizer(text.lower()))]
        real = encoded.padding_mask[row].sum()
        assert encoded.token_ids[row, 1 : real - 1].tolist() == ids
        for start, end in encoded.offsets[row, 1 : real - 1]:
            assert start < end and text.lower()[start:end].strip()
    features = backbone(text_inputs(encoded))["sequence_output"]
    assert features.shape == (2, 12, 16)
