"""The seeds report: test scores of each run and their mean ± sample sd over seeds."""

from __future__ import annotations

import pytest
from experiment_scripts import load_experiment_script


@pytest.fixture(scope="module")
def seeds():
    return load_experiment_script("seeds")


def test_mean_and_sample_sd_over_seeds(seeds):
    runs = [
        seeds.test_scores({"test": {"micro_f1": f, "macro_f1": 0.2}}) for f in (0.50, 0.52, 0.54)
    ]
    table = seeds.mean_sd_table({"main": runs}, [42, 43, 44])
    assert "| main | micro-F1 | 0.520 ± 0.020 | 0.500, 0.520, 0.540 |" in table
    assert "| main | macro-F1 | 0.200 ± 0.000 |" in table


def test_span_runs_report_span_scores(seeds):
    metrics = {"tagger": {"test": {"f1": 0.3, "precision": 0.4, "recall": 0.25}}}
    assert seeds.test_scores(metrics) == {"span F1": 0.3, "span P": 0.4, "span R": 0.25}
