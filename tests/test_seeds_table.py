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
    metrics["tagger_fold_ensemble"] = {"test": {"f1": 0.35, "precision": 0.5, "recall": 0.3}}
    assert seeds.test_scores(metrics)["fold ensemble span F1"] == 0.35


def test_one_network_runs_report_their_fold_ensemble_beside_it(seeds):
    runs = [
        seeds.test_scores(
            {
                "test": {"micro_f1": 0.5, "macro_f1": 0.2},
                "test_fold_ensemble": {"micro_f1": f, "macro_f1": 0.1},
            }
        )
        for f in (0.55, 0.57)
    ]
    table = seeds.mean_sd_table({"main": runs}, [42, 43])
    assert "| main | fold ensemble micro-F1 | 0.560 ± 0.014 | 0.550, 0.570 |" in table
    assert table.index("| main | macro-F1 |") < table.index("| main | fold ensemble micro-F1 |")


def test_the_readme_block_between_the_markers_is_replaced_and_nothing_else(seeds):
    start, end = seeds.README_MARKERS
    readme = f"# title\n\n{start}\nold table\n{end}\n\nmore text\n"
    assert seeds.with_seeds_table(readme, "| new |") == (
        f"# title\n\n{start}\n| new |\n{end}\n\nmore text\n"
    )
    with pytest.raises(SystemExit, match="expected one"):
        seeds.with_seeds_table("# no markers\n", "| new |")


def test_the_default_configs_are_each_tasks_final_and_2021_only_ones(seeds):
    names = seeds.final_config_names()
    assert "text_techniques_soup_capped" in names and "text_techniques" in names
    assert len(names) == len(set(names))


def test_the_readme_has_the_block_for_the_table(seeds):
    readme = (seeds.REPOSITORY / "README.md").read_text()
    assert seeds.with_seeds_table(readme, "| table |").count("| table |") == 1


def test_the_configs_own_seed_trains_where_reproduce_puts_it(seeds, tmp_path):
    assert seeds.run_folder(tmp_path, "main", 42, 42) == tmp_path / "main"
    assert seeds.run_folder(tmp_path, "main", 43, 42) == tmp_path / "main_seed43"


def test_finals_only_leaves_out_the_2021_only_configs(seeds):
    from experiments.reproduce import FINAL_CONFIGS

    finals = seeds.final_config_names(with_2021_only=False)
    assert finals == [final for final, _ in FINAL_CONFIGS.values()]
    assert set(seeds.final_config_names()) > set(finals)


def test_new_rows_replace_their_configs_rows_and_old_finals_rows_go(seeds):
    header = "| config | score | mean ± sd | per seed (42, 43, 44) |\n|---|---|---|---|"
    old = "\n".join(
        [
            header,
            "| main | micro-F1 | 0.5 ± 0.0 | x |",
            "| spans | span F1 | 0.3 ± 0.0 | x |",
            "| text | micro-F1 | 0.4 ± 0.0 | x |",
        ]
    )
    new = "\n".join(
        [
            header,
            "| spans_top | span F1 | 0.4 ± 0.0 | y |",
            "| spans_top | span P | 0.5 ± 0.0 | y |",
        ]
    )
    merged = seeds.merged_table(old, new, ["main", "spans_top", "text"])
    assert merged.splitlines() == [
        *header.splitlines(),
        "| main | micro-F1 | 0.5 ± 0.0 | x |",
        "| spans_top | span F1 | 0.4 ± 0.0 | y |",
        "| spans_top | span P | 0.5 ± 0.0 | y |",
        "| text | micro-F1 | 0.4 ± 0.0 | x |",
    ]
    with pytest.raises(SystemExit, match="not final configs, so not for the README: spans_top"):
        seeds.merged_table(old, new, ["main", "text"])
    start, end = seeds.README_MARKERS
    assert seeds.readme_table(f"a\n{start}\n{old}\n{end}\nb") == old
