"""The text backbone adapted once to the extra memes: targets, cache key, training, loading."""

from __future__ import annotations

import json

import numpy as np
import pytest

from meme_keras.backbones.adapted_text import (
    RECORD,
    AdaptedBackboneMissingError,
    adapted_folder,
    text_preset,
)
from meme_keras.backbones.text_backbones import load_text_backbone
from meme_keras.config import ConfigError, TextBackboneConfig, config_from_dict
from meme_keras.data.meme import Meme
from meme_keras.losses import UNKNOWN_LABEL
from meme_keras.training import text_adaptation


def test_each_label_set_is_unknown_where_a_meme_lacks_it():
    both = [Meme("a", "alpha", labels=["X"]), Meme("b", "beta", labels=[])]
    second = [Meme("a", "alpha", labels=["Q", "P"]), Meme("c", "gamma", labels=["P"])]
    texts, targets = text_adaptation.multitask_targets([both, second], [("X", "Y"), ("P", "Q")])
    assert texts == ["alpha", "beta", "gamma"]
    unknown = UNKNOWN_LABEL
    np.testing.assert_array_equal(
        targets,
        [[1, 0, 1, 1], [0, 0, unknown, unknown], [unknown, unknown, 1, 0]],
    )


def test_one_id_with_two_texts_is_an_error():
    with pytest.raises(ValueError, match="meme 'a': two texts"):
        text_adaptation.multitask_targets(
            [[Meme("a", "alpha")], [Meme("a", "other")]], [("X",), ("P",)]
        )


def test_the_adaptation_memes_hold_no_2021_meme():
    from meme_keras.data.corpus import load_split

    texts, targets = text_adaptation.adaptation_data(["semeval2024"])
    assert len(texts) == len(targets) > 6000
    assert targets.shape[1] == 22 + 20
    benchmark = {
        " ".join(meme.text.lower().split())
        for subtask in (1, 3)
        for split in ("train", "dev", "test")
        for meme in load_split(split, subtask, check_images=False)
    }
    assert not benchmark & {" ".join(text.lower().split()) for text in texts}


def test_settings_are_checked():
    with pytest.raises(ConfigError, match=r"text_backbone.adaptation.epochs"):
        config_from_dict({"text_backbone": {"adaptation": {"epochs": "two"}}})
    with pytest.raises(ConfigError, match="needs epochs >= 1"):
        config_from_dict({"text_backbone": {"adaptation": {"epochs": 0}}})
    with pytest.raises(ConfigError, match="corpora names one corpus"):
        config_from_dict({"text_backbone": {"adaptation": {"corpora": ["semeval2024", "ptc"]}}})
    with pytest.raises(ConfigError, match="corpora"):
        config_from_dict({"text_backbone": {"adaptation": {"corpora": ["news"]}}})
    config_from_dict({"text_backbone": {"adaptation": {"corpora": ["ptc"]}}})
    with pytest.raises(ConfigError, match="adaptation: not for all_mpnet_base_v2"):
        config_from_dict({"text_backbone": {"name": "all_mpnet_base_v2", "adaptation": {}}})


@pytest.fixture
def tiny_text(tiny_albert_preset, tmp_path, monkeypatch):
    """A tiny ALBERT asking for an adaptation, its cache in `tmp_path`, on 12 made-up memes."""
    monkeypatch.setenv("MEME_KERAS_CACHE", str(tmp_path))
    texts = ["I HATE TRUMP", "there are only two genders", "a cat and a kitten"] * 4
    targets = np.random.default_rng(0).integers(0, 2, (len(texts), 42)).astype(np.float32)
    targets[::3, :22] = UNKNOWN_LABEL
    monkeypatch.setattr(text_adaptation, "adaptation_data", lambda corpora: (texts, targets))
    return TextBackboneConfig.from_dict(
        {
            "name": "albert_base",
            "preset": str(tiny_albert_preset),
            "sequence_length": 16,
            "adaptation": {"epochs": 2, "batch_size": 4, "learning_rate": 0.01},
        }
    )


def test_the_cache_folder_is_keyed_by_every_setting(tiny_text, tmp_path):
    folder = adapted_folder(tiny_text)
    assert folder.parent == tmp_path
    assert adapted_folder(tiny_text) == folder
    longer = tiny_text.replace(adaptation={**tiny_text.adaptation.to_dict(), "epochs": 3})
    assert adapted_folder(longer) != folder
    assert text_preset(tiny_text.replace(adaptation=None)) == tiny_text.preset
    with pytest.raises(AdaptedBackboneMissingError, match="not in the cache"):
        text_preset(tiny_text)


def test_adaptation_trains_once_and_every_loader_reads_it(tiny_text, monkeypatch):
    folder = text_adaptation.ensure_adapted_text_backbone(tiny_text)
    record = json.loads((folder / RECORD).read_text())
    assert record["memes"] == 12 and record["label_columns"] == 42
    assert len(record["epoch_losses"]) == 2
    assert text_preset(tiny_text) == str(folder)
    base = load_text_backbone("albert_base", tiny_text.preset)
    adapted = load_text_backbone("albert_base", text_preset(tiny_text))
    changed = [
        not np.allclose(before, after)
        for before, after in zip(base.get_weights(), adapted.get_weights(), strict=True)
    ]
    assert any(changed)

    def no_training(*args, **kwargs):
        raise AssertionError("trained again although the adapted folder is cached")

    monkeypatch.setattr(text_adaptation, "train_adaptation", no_training)
    assert text_adaptation.ensure_adapted_text_backbone(tiny_text) == folder
    assert text_adaptation.ensure_adapted_text_backbone(tiny_text.replace(adaptation=None)) is None


def test_a_run_folder_keeps_the_adapted_backbone_it_trained_from(tiny_text, tmp_path):
    import shutil

    from meme_keras.config import write_config
    from meme_keras.inference.run_folder import keep_text_backbone, read_run_config

    folder = text_adaptation.ensure_adapted_text_backbone(tiny_text)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = config_from_dict({"task": "text_techniques", "text_backbone": tiny_text.to_dict()})
    write_config(config, run_dir / "config.yaml")
    keep_text_backbone(folder, run_dir)
    shutil.rmtree(folder)  # the cache may be cleared: the run folder is complete without it
    text = read_run_config(run_dir)["text_backbone"]
    assert text["adaptation"] is None
    assert text_preset(text) == str((run_dir / "text_backbone").resolve())
    assert load_text_backbone("albert_base", text_preset(text)).count_params() > 0


def test_a_process_asking_while_another_adapts_waits_and_reads_the_cache(tiny_text, monkeypatch):
    import threading

    folder = adapted_folder(tiny_text)
    trained = []
    monkeypatch.setattr(
        text_adaptation, "train_adaptation", lambda *a, **k: trained.append(1) or {"seconds": 0}
    )
    with text_adaptation.adaptation_lock(folder):  # "another process" is adapting
        waiting = threading.Thread(
            target=lambda: trained.append(text_adaptation.ensure_adapted_text_backbone(tiny_text))
        )
        waiting.start()
        waiting.join(timeout=2)
        assert waiting.is_alive() and trained == []  # it waits for the lock
        folder.mkdir(parents=True)
        (folder / RECORD).write_text("{}")  # the other process finishes the folder
    waiting.join(timeout=30)
    assert not waiting.is_alive()
    assert trained == [folder]  # read from the cache, not trained again


TECHNIQUES = ("Loaded Language", "Smears", "Doubt")  # PTC never annotates Smears


def test_ptc_sentences_become_token_tags_with_unannotated_techniques_unknown(tiny_albert_preset):
    from meme_keras.backbones.text_encoders import make_text_encoder
    from meme_keras.data.meme import Span

    sentences = [
        Meme("1:1", "they are evil liars", spans=(Span(9, 19, "Loaded Language"),)),
        Meme("1:3", "a cat", spans=()),
    ]
    encoded = make_text_encoder("albert_base", 16, str(tiny_albert_preset)).encode(
        [sentence.text for sentence in sentences]
    )
    tags, weights = text_adaptation.tagging_data(sentences, encoded, TECHNIQUES)
    assert tags.shape == (2, 16, 3) and weights.shape == (2, 16)
    real = weights == 1
    assert (tags[..., 1][real] == UNKNOWN_LABEL).all()  # Smears: unknown, not absent
    assert set(np.unique(tags[..., [0, 2]][real])) <= {0.0, 1.0}
    assert tags[0, :, 0][real[0]].sum() >= 1 and tags[1, :, 0][real[1]].sum() == 0
    assert (tags[..., 2][real] == 0).all()
    assert (weights.sum(axis=1) < encoded.padding_mask.sum(axis=1)).all()  # no [CLS]/[SEP]


def test_a_ptc_adaptation_trains_the_backbone_as_a_token_tagger(
    tiny_albert_preset, tmp_path, monkeypatch
):
    from meme_keras.data import ptc
    from meme_keras.data.meme import Span

    monkeypatch.setenv("MEME_KERAS_CACHE", str(tmp_path))
    sentences = [
        Meme("1:1", "they are evil liars", spans=(Span(9, 19, "Loaded Language"),)),
        Meme("1:2", "stop them now", spans=(Span(0, 13, "Slogans"),)),
        Meme("1:3", "a cat and a kitten", spans=()),
    ] * 3
    monkeypatch.setattr(ptc, "training_sentences", lambda ratio, seed: (sentences, 6))
    text = TextBackboneConfig.from_dict(
        {
            "name": "albert_base",
            "preset": str(tiny_albert_preset),
            "sequence_length": 16,
            "adaptation": {"corpora": ["ptc"], "epochs": 2, "batch_size": 4, "learning_rate": 0.01},
        }
    )
    folder = text_adaptation.ensure_adapted_text_backbone(text)
    assert folder == adapted_folder(text)
    assert folder != adapted_folder(text.replace(adaptation={"corpora": ["semeval2024"]}))
    record = json.loads((folder / RECORD).read_text())
    assert record["sentences"] == 9 and record["sentences_with_spans"] == 6
    assert record["label_columns"] == 20 and len(record["epoch_losses"]) == 2
    # 17 known techniques on each real text token, none on padding
    assert 0 < record["known_targets"] < 9 * 16 * 17 and record["known_targets"] % 17 == 0
    assert all(np.isfinite(record["epoch_losses"]))
    base = load_text_backbone("albert_base", text.preset)
    adapted = load_text_backbone("albert_base", text_preset(text))
    assert any(
        not np.allclose(before, after)
        for before, after in zip(base.get_weights(), adapted.get_weights(), strict=True)
    )


def test_ptc_training_sentences_hold_spans_then_as_many_drawn_without():
    from meme_keras.data import ptc

    sentences, tagged = ptc.training_sentences(1.0, seed=0)
    assert tagged > 5000 and len(sentences) == 2 * tagged
    assert all(s.spans for s in sentences[:tagged])
    assert not any(s.spans for s in sentences[tagged:])
    again, _ = ptc.training_sentences(1.0, seed=0)
    other, _ = ptc.training_sentences(1.0, seed=1)
    assert [s.id for s in again] == [s.id for s in sentences]
    assert [s.id for s in other] != [s.id for s in sentences]
    none, _ = ptc.training_sentences(0.0, seed=0)
    assert len(none) == tagged
