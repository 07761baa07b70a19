"""Threshold sweeps and tuning on small synthetic probability matrices."""

import numpy as np
import pandas as pd
import pytest

from meme_keras.evaluation.multilabel_f1 import multilabel_scores
from meme_keras.thresholds import (
    TunedThresholds,
    apply_thresholds,
    plot_threshold_sweep,
    sweep_global_threshold,
    tune_thresholds,
    write_sweep,
)

# One label; positives at 0.45, 0.7, 0.8 and negatives at 0.2, 0.4, 0.5. Micro F1 is best
# (6/7: tp 3, fp 1) for thresholds in (0.40, 0.45], and lower everywhere else.
KNOWN_GOLD = np.array([[1], [1], [1], [0], [0], [0]])
KNOWN_PROBABILITIES = np.array([[0.45], [0.7], [0.8], [0.2], [0.4], [0.5]])


def calibrated_mismatch(seed=0, n=120):
    """Three labels whose best thresholds differ (0.2, 0.5, 0.8): per-label tuning should win."""
    rng = np.random.default_rng(seed)
    gold = (rng.random((n, 3)) < 0.3).astype(int)
    centres = np.array([0.2, 0.5, 0.8])
    noise = rng.normal(0.0, 0.08, size=gold.shape)
    probabilities = np.clip(centres + np.where(gold == 1, 0.1, -0.1) + noise, 0.0, 1.0)
    return gold, probabilities


def test_sweep_table_matches_direct_scoring():
    gold, probabilities = calibrated_mismatch()
    table = sweep_global_threshold(gold, probabilities)
    assert list(table.columns) == [
        "threshold",
        "micro_f1",
        "macro_f1",
        "micro_precision",
        "micro_recall",
    ]
    assert len(table) == 91 and table["threshold"].iloc[[0, -1]].tolist() == [0.05, 0.95]
    row = table.set_index("threshold").loc[0.28]
    expected = multilabel_scores(gold, apply_thresholds(probabilities, 0.28))
    assert row.to_dict() == pytest.approx(expected)


def test_global_threshold_known_best():
    tuned = tune_thresholds(
        KNOWN_GOLD, KNOWN_PROBABILITIES, thresholds=np.array([0.1, 0.3, 0.42, 0.48, 0.6, 0.9])
    )
    assert tuned.global_threshold == 0.42
    assert tuned.score == pytest.approx(6 / 7)
    # On the default grid 0.41..0.45 tie; the middle one is chosen.
    assert tune_thresholds(KNOWN_GOLD, KNOWN_PROBABILITIES).global_threshold == 0.43


def test_per_label_improves_on_global():
    gold, probabilities = calibrated_mismatch()
    for objective, weight in [("micro", 0.0), ("macro", 0.0), ("mix", 0.5)]:
        kwargs = dict(objective=objective, macro_weight=weight, min_support=5)
        global_ = tune_thresholds(gold, probabilities, mode="global", **kwargs)
        per_label = tune_thresholds(gold, probabilities, mode="per_label", **kwargs)
        assert per_label.score >= global_.score
        # Labels calibrated this differently leave room for a strict gain under every objective.
        assert per_label.score > global_.score
    # Each label's threshold lands near its own calibration centre.
    assert np.all(np.diff(per_label.thresholds) > 0)


def test_rare_labels_keep_global_threshold():
    gold, probabilities = calibrated_mismatch()
    gold[:, 2] = 0
    gold[:3, 2] = 1
    tuned = tune_thresholds(gold, probabilities, mode="per_label", min_support=4)
    assert tuned.thresholds[2] == tuned.global_threshold


def test_min_labels_per_meme_adds_top_label():
    probabilities = np.array([[0.1, 0.3, 0.2], [0.9, 0.1, 0.6]])
    np.testing.assert_array_equal(apply_thresholds(probabilities, 0.5), [[0, 0, 0], [1, 0, 1]])
    np.testing.assert_array_equal(
        apply_thresholds(probabilities, 0.5, min_labels_per_meme=1), [[0, 1, 0], [1, 0, 1]]
    )
    gold = np.array([[0, 1, 0], [1, 0, 0]])
    tuned = tune_thresholds(gold, probabilities, min_labels_per_meme=1, thresholds=[0.95])
    assert tuned.score == 1.0


def test_json_round_trip(tmp_path):
    gold, probabilities = calibrated_mismatch()
    techniques = ["Smears", "Loaded Language", "Doubt"]
    tuned = tune_thresholds(
        gold, probabilities, mode="per_label", min_support=5, techniques=techniques
    )
    restored = TunedThresholds.from_json(tuned.to_json(tmp_path / "thresholds.json"))
    assert restored.techniques == tuple(techniques)
    np.testing.assert_array_equal(restored.thresholds, tuned.thresholds)
    assert (restored.mode, restored.score, restored.metrics) == (
        tuned.mode,
        tuned.score,
        tuned.metrics,
    )
    np.testing.assert_array_equal(restored.apply(probabilities), tuned.apply(probabilities))


def test_sweep_csv_and_plot_written(tmp_path):
    gold, probabilities = calibrated_mismatch()
    tuned = tune_thresholds(gold, probabilities)
    csv_path = write_sweep(tuned.sweep, tmp_path / "out" / "sweep.csv")
    pd.testing.assert_frame_equal(pd.read_csv(csv_path), tuned.sweep)
    png = plot_threshold_sweep(tuned.sweep, tmp_path / "out" / "sweep.png", tuned.global_threshold)
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 1000


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        tune_thresholds(KNOWN_GOLD, KNOWN_PROBABILITIES, mode="per_meme")
    with pytest.raises(ValueError, match="macro_weight only applies"):
        tune_thresholds(KNOWN_GOLD, KNOWN_PROBABILITIES, macro_weight=0.5)
    with pytest.raises(ValueError, match=r"\[N, K\]"):
        tune_thresholds(KNOWN_GOLD, KNOWN_PROBABILITIES[:3])


def test_choose_rule_prefers_macro_only_within_the_micro_tolerance():
    table = pd.DataFrame(
        {
            "rule": ["a", "b", "c"],
            "micro_f1": [0.60, 0.597, 0.58],
            "macro_f1": [0.10, 0.15, 0.30],
        }
    )
    from meme_keras.thresholds import choose_rule

    assert choose_rule(table, 0.0) == "a"
    assert choose_rule(table, 0.005) == "b"
    assert choose_rule(table, 0.05) == "c"
    with pytest.raises(ValueError, match="no threshold rules"):
        choose_rule(table.iloc[:0], 0.01)


def test_cross_validated_rules_score_held_out_rows():
    from meme_keras.thresholds import cross_validated_rules

    gold, probabilities = calibrated_mismatch(n=200)
    rules = {"global": {"mode": "global"}, "per label": {"mode": "per_label"}}
    table = cross_validated_rules(gold, probabilities, rules, folds=4, repeats=2, min_support=5)
    assert list(table["rule"]) == ["global", "per label"]
    by_rule = table.set_index("rule")
    # Labels whose best thresholds really differ: per-label thresholds win on held-out rows too.
    assert by_rule.loc["per label", "micro_f1"] > by_rule.loc["global", "micro_f1"]
    # Held-out scores never beat the rule scored on the rows it was tuned on.
    assert (table["micro_f1"] <= table["in_sample_micro_f1"] + 1e-9).all()
    again = cross_validated_rules(gold, probabilities, rules, folds=4, repeats=2, min_support=5)
    pd.testing.assert_frame_equal(table, again)
    with pytest.raises(ValueError, match="folds"):
        cross_validated_rules(gold[:3], probabilities[:3], rules, folds=4)


def test_a_run_can_choose_its_threshold_rule():
    from meme_keras.config import make_config
    from meme_keras.training.classifier_run import tune

    gold, probabilities = calibrated_mismatch(n=150)
    config = make_config({"thresholds": {"select_rule": {"micro_tolerance": 0.0, "repeats": 2}}})
    tuned, table = tune(config, gold, probabilities, ["a", "b", "c"])
    chosen = table.loc[table["chosen"], "rule"].item()
    assert chosen == table.loc[table["micro_f1"].idxmax(), "rule"]
    assert tuned.mode == chosen.split(",")[0].replace(" ", "_")
    fixed, no_table = tune(make_config(), gold, probabilities, ["a", "b", "c"])
    assert no_table is None and fixed.mode == "global" and fixed.objective == "micro"


def test_unknown_rule_selection_keys_fail_before_training(tmp_path):
    from meme_keras.training.classifier_run import run_classifier

    with pytest.raises(ValueError, match=r"select_rule.micro_tolerence: unknown config key"):
        run_classifier({"thresholds": {"select_rule": {"micro_tolerence": 0.01}}}, tmp_path / "run")
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize("min_labels", [0, 1, 2])
def test_one_labels_candidates_score_as_whole_candidates(min_labels):
    """Per-label tuning scores a label's grid from the counts it can change: the same scores as
    scoring every candidate matrix whole, ties and fallback labels included."""
    from meme_keras.thresholds import _candidate_scores, _label_candidate_scores

    rng = np.random.default_rng(min_labels)
    gold = rng.random((120, 6)) < 0.25
    # Two decimals: probabilities tie with each other and with grid values.
    probabilities = np.round(rng.random((120, 6)) ** 2, 2)
    probabilities[:5] = 0.01  # memes no label reaches: the fallback decides
    grid = np.round(np.arange(0.05, 0.96, 0.05), 4)
    current = rng.choice(grid, 6)
    for label in range(6):
        candidates = np.repeat(current[None, :], len(grid), axis=0)
        candidates[:, label] = grid
        whole = _candidate_scores(gold, probabilities, candidates, min_labels)
        fast = _label_candidate_scores(gold, probabilities, current, label, grid, min_labels)
        for name in whole:
            np.testing.assert_array_equal(fast[name], whole[name], err_msg=f"{name}, {label}")


def test_decision_rule_candidates_repeat_the_runs_selection_with_a_changed_floor(tmp_path):
    """The experiment script's "as configured" figures are the run's own rule selection; a
    floor of two techniques a meme, on memes that each carry one, must lose micro-F1."""
    from experiment_scripts import load_experiment_script

    from meme_keras.config import make_config
    from meme_keras.config.loading import write_config
    from meme_keras.thresholds import CANDIDATE_RULES, choose_rule, cross_validated_rules

    rng = np.random.default_rng(3)
    gold = np.eye(4, dtype=np.int32)[rng.integers(0, 4, 160)]
    probabilities = np.clip(0.7 * gold + rng.normal(0.15, 0.1, gold.shape), 0.0, 1.0)
    config = make_config({"thresholds": {"select_rule": {"repeats": 2}}})
    write_config(config, tmp_path / "config.yaml")
    np.save(tmp_path / "gold_tuning.npy", gold)
    np.save(tmp_path / "probabilities_tuning.npy", probabilities)

    script = load_experiment_script("decision_rule_candidates")
    before, after = script.compare(tmp_path, {"min_labels_per_meme": 2})
    table = cross_validated_rules(
        gold, probabilities, CANDIDATE_RULES, repeats=2, seed=config["seed"]
    )
    chosen = table[table["rule"] == choose_rule(table, 0.005)].iloc[0]
    assert before["rule"] == chosen["rule"]
    assert before["micro_f1"] == pytest.approx(chosen["micro_f1"])
    assert after["micro_f1"] < before["micro_f1"] - 0.1
