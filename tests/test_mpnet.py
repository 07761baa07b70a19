"""MPNet in Keras: the real all-mpnet-base-v2 against reference outputs, and a tiny one that
round-trips through a .keras file."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from meme_keras.backbones.mpnet import MPNetBackbone
from meme_keras.backbones.mpnet.mpnet_preset import mean_pooled_embeddings
from meme_keras.backbones.text_backbones import load_text_backbone
from meme_keras.backbones.text_encoders import make_text_encoder

# Computed once with Hugging Face transformers 5.24 (MPNetModel, torch 2.13 CPU) on the same
# weights: token ids, offsets, the first 16 features of every token, and the mean-pooled,
# L2-normalised sentence embeddings (sentence-transformers' modules.json for this model).
REFERENCE = Path(__file__).parent / "fixtures" / "mpnet_reference.npz"


def backbone_inputs(token_ids, padding_mask):
    return {
        "token_ids": token_ids,
        "segment_ids": np.zeros_like(token_ids),
        "padding_mask": padding_mask,
    }


def test_all_mpnet_base_v2_matches_the_reference_implementation():
    reference = np.load(REFERENCE)
    length = reference["token_ids"].shape[1]
    encoded = make_text_encoder("all_mpnet_base_v2", length).encode(list(reference["texts"]))
    np.testing.assert_array_equal(encoded.token_ids, reference["token_ids"])
    np.testing.assert_array_equal(encoded.padding_mask, reference["padding_mask"])
    np.testing.assert_array_equal(encoded.offsets, reference["offsets"])
    backbone = load_text_backbone("all_mpnet_base_v2")
    assert backbone.count_params() == 108_895_872
    output = backbone.predict(backbone_inputs(encoded.token_ids, encoded.padding_mask), verbose=0)[
        "sequence_output"
    ]
    real = reference["padding_mask"].astype(bool)
    np.testing.assert_allclose(output[:, :, :16][real], reference["sequence_head"][real], atol=1e-4)
    embeddings = mean_pooled_embeddings(output, encoded.padding_mask)
    np.testing.assert_allclose(embeddings, reference["embeddings"], atol=1e-5)


def tiny_mpnet():
    return MPNetBackbone(
        vocabulary_size=50,
        num_layers=2,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=16,
        num_buckets=8,
        max_distance=12,
        dropout=0.0,
    )


def test_a_tiny_mpnet_round_trips_and_ignores_padding(tmp_path):
    keras.utils.set_random_seed(0)
    backbone = tiny_mpnet()
    token_ids = np.array([[0, 7, 9, 12, 2, 1, 1], [0, 5, 2, 1, 1, 1, 1]], np.int32)
    padding_mask = (token_ids != 1).astype(np.int32)
    output = backbone.predict(backbone_inputs(token_ids, padding_mask), verbose=0)
    backbone.save(tmp_path / "mpnet.keras")
    reloaded = keras.saving.load_model(tmp_path / "mpnet.keras")
    assert isinstance(reloaded, MPNetBackbone) and reloaded.get_config() == backbone.get_config()
    again = reloaded.predict(backbone_inputs(token_ids, padding_mask), verbose=0)
    np.testing.assert_allclose(again["sequence_output"], output["sequence_output"], atol=1e-6)
    # The same tokens with less padding: real tokens' features do not move.
    shorter = backbone.predict(backbone_inputs(token_ids[:, :5], padding_mask[:, :5]), verbose=0)
    np.testing.assert_allclose(
        shorter["sequence_output"][0], output["sequence_output"][0, :5], atol=1e-5
    )
