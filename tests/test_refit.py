"""One network made from the folds: `final_model: refit` (refit on all of train+dev with the
folds' epochs) and `final_model: soup` (the fold models' weights averaged)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from fine_tuning_runs import TINY_MODEL

from meme_keras.config import ConfigError, make_config
from meme_keras.data.corpus import load_split
from meme_keras.inference.technique_model import TechniqueModel
from meme_keras.training.callbacks import epochs_kept, training_callbacks
from meme_keras.training.classifier_run import run_classifier
from meme_keras.training.cross_validation import refit_epochs


def test_refit_epochs_are_each_stages_median_over_the_folds():
    # three folds, two stages
    assert refit_epochs([[3, 1], [5, 2], [4, 4]]) == [4, 2]
    assert refit_epochs([[2, 1], [3, 1]]) == [3, 1]  # a half rounds up
    assert refit_epochs([[1], [1]]) == [1]


def test_epochs_kept_is_the_best_epoch_early_stopping_restored():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    x = np.linspace(-1, 1, 32)[:, None].astype(np.float32)
    # Validation targets the model fits worse the better it fits training: best at epoch 1.
    callbacks = training_callbacks(None, validation=True, patience=2)
    model.fit(x, 2 * x, validation_data=(x, -2 * x), epochs=10, callbacks=callbacks, verbose=0)
    assert epochs_kept(callbacks, 10) == 1
    assert epochs_kept(training_callbacks(None, validation=False, patience=2), 7) == 7


def test_refit_is_checked_against_what_it_cannot_take():
    refit = {"task": "techniques", "final_model": "refit"}
    assert make_config(refit)["final_model"] == "refit"
    with pytest.raises(ConfigError, match="final_model: refit is made from the folds' models"):
        make_config({**refit, "thresholds": {"tune_on": "dev"}})
    with pytest.raises(ConfigError, match="final_model: refit does not train a frozen_comp"):
        make_config({**refit, "frozen_companion": {"epochs": 1, "learning_rate": 1e-3}})
    with pytest.raises(ConfigError, match="final_model"):
        make_config({**refit, "final_model": "distilled"})
    soup = {**refit, "final_model": "soup"}
    with pytest.raises(ConfigError, match="final_model: soup is made from the folds' models"):
        make_config({**soup, "thresholds": {"tune_on": "dev"}})


def tiny_config(tiny_corpus, final_model: str):
    return make_config(
        {
            "name": f"tiny_{final_model}",
            "data_dir": str(tiny_corpus),
            "model": TINY_MODEL,
            "text_backbone": {"sequence_length": 32},
            "stages": [
                {"name": "frozen", "train": [], "epochs": 6, "learning_rate": 1e-3, "patience": 1}
            ],
            "thresholds": {"folds": 2},
            "final_model": final_model,
        }
    )


@pytest.fixture(scope="module")
def refit_run(tiny_corpus, tmp_path_factory, monkeypatch_module, feature_cache):
    monkeypatch_module.setenv("MEME_KERAS_CACHE", str(feature_cache))
    output = tmp_path_factory.mktemp("runs") / "tiny_refit"
    return output, run_classifier(tiny_config(tiny_corpus, "refit"), output)


def test_a_refit_run_ships_one_network_and_scores_the_fold_ensemble_beside_it(refit_run):
    output, metrics = refit_run
    assert len(metrics["refit_epochs"]) == 1 and 1 <= metrics["refit_epochs"][0] <= 6
    assert set(metrics["test_fold_ensemble"]) >= {"micro_f1", "macro_f1"}
    assert metrics == json.loads((output / "metrics.json").read_text())
    model = keras.saving.load_model(output / "model.keras")
    layer_names = [layer.name for layer in model.layers]
    assert "fold_ensemble" not in layer_names
    assert "fusion_refit" in [model.name, *layer_names]
    assert any((output / "logs" / "refit").rglob("events.out.tfevents.*"))


def test_the_refit_network_predicts_through_the_inference_layer(refit_run, tiny_corpus):
    output, _ = refit_run
    memes = load_split("test", 3, tiny_corpus)
    probabilities = TechniqueModel(output).probabilities(memes, cache_dir=None)
    np.testing.assert_allclose(probabilities, np.load(output / "probabilities_test.npy"), atol=1e-5)


def test_retuning_a_refit_run_rescores_its_fold_ensemble_with_the_new_rule(
    refit_run, tiny_corpus, tmp_path
):
    from meme_keras.evaluation.multilabel_f1 import labels_to_multi_hot, multilabel_scores
    from meme_keras.thresholds import TunedThresholds
    from meme_keras.training.retune import retune_run

    output, _ = refit_run
    new = tmp_path / "retuned"
    retune_run(output, new, mode="per_label", objective="mix", macro_weight=0.5)
    retuned = json.loads((new / "metrics.json").read_text())
    thresholds = TunedThresholds.from_json(new / "thresholds.json")
    memes = load_split("test", 3, tiny_corpus)
    gold = labels_to_multi_hot([meme.labels for meme in memes], thresholds.techniques)
    decisions = thresholds.apply(np.load(new / "probabilities_test_fold_ensemble.npy"))
    assert retuned["test_fold_ensemble"] == pytest.approx(multilabel_scores(gold, decisions))


@pytest.fixture(scope="module")
def soup_run(tiny_corpus, tmp_path_factory, monkeypatch_module, feature_cache):
    """A tiny soup run, with every fold head's weights as built (before training)."""
    from meme_keras.training import head_training

    monkeypatch_module.setenv("MEME_KERAS_CACHE", str(feature_cache))
    initial_heads = []

    def recording_build_head(*args, **kwargs):
        head = build_head(*args, **kwargs)
        initial_heads.append(head.get_weights())
        return head

    build_head = head_training.build_head
    monkeypatch_module.setattr(head_training, "build_head", recording_build_head)
    output = tmp_path_factory.mktemp("runs") / "tiny_soup"
    return output, run_classifier(tiny_config(tiny_corpus, "soup"), output), initial_heads


@pytest.mark.heavy  # a second tiny run; soups are checked unit by unit in test_model_soup
def test_a_soup_run_starts_every_fold_alike_and_ships_their_weights_averaged(soup_run):
    output, metrics, initial_heads = soup_run
    assert len(initial_heads) == 2  # one head a fold, no refit
    first, second = initial_heads
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert "refit_epochs" not in metrics
    assert set(metrics["test_fold_ensemble"]) >= {"micro_f1", "macro_f1"}
    model = keras.saving.load_model(output / "model.keras")
    layer_names = [layer.name for layer in model.layers]
    assert "fold_ensemble" not in layer_names
    assert "fusion_soup" in [model.name, *layer_names]
    assert not (output / "logs" / "refit").exists()


@pytest.mark.heavy  # a second tiny run; soups are checked unit by unit in test_model_soup
def test_the_soup_predicts_through_the_inference_layer(soup_run, tiny_corpus):
    output, _, _ = soup_run
    memes = load_split("test", 3, tiny_corpus)
    probabilities = TechniqueModel(output).probabilities(memes, cache_dir=None)
    np.testing.assert_allclose(probabilities, np.load(output / "probabilities_test.npy"), atol=1e-5)


@pytest.mark.heavy  # about a minute: three outer folds of two inner folds and a refit each
def test_the_nested_comparison_scores_each_arm_on_every_train_dev_meme(
    tiny_corpus, tmp_path, monkeypatch
):
    from experiment_scripts import load_experiment_script

    from meme_keras.data.techniques import read_techniques

    monkeypatch.setenv("MEME_KERAS_CACHE", str(tmp_path / "cache"))
    script = load_experiment_script("classifier_soup_nested")
    config = tiny_config(tiny_corpus, "refit")
    techniques = read_techniques(tiny_corpus, "multimodal")
    pool, text_only, extra = script.load_pool(config, techniques)
    results = script.nested_soup_against_refit(
        config, techniques, pool, text_only, extra, outer_folds=3
    )
    assert set(results["out_of_fold"]) == set(script.ARMS)
    assert [record["fold"] for record in results["folds"]] == [0, 1, 2]
    assert (results["outer_folds"], results["inner_folds"]) == (3, 2)
    probabilities = results["probabilities"]
    for arm in script.ARMS:  # every meme predicted once, by the arm of its outer fold
        assert probabilities[arm].shape == pool.labels.shape and (probabilities[arm] > 0).all()
    assert not np.allclose(probabilities["soup"], probabilities["refit"])
