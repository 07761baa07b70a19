"""Trains final configs with several training seeds and reports test mean ± sd over them.

`python experiments/seeds.py [CONFIG ...] [--seeds 42 43 44]` trains
`experiments/configs/<name>.yaml` once per seed into `runs/<name>_seed<seed>/`, or into
`runs/<name>/` for the config's own seed, where `make reproduce` puts it (a finished run is
reused), and writes `assets/seeds.md`: each config's test scores as mean ± sample standard
deviation over the seeds, with every seed's value. Without configs it trains every task's
final config and its 2021-only counterpart (`make reproduce`'s `FINAL_CONFIGS`; with
`--finals-only` the final configs alone) and also writes the table into the README, between
its `seeds` markers; with configs and `--update-readme`, their rows replace theirs there and
in `assets/seeds.md` (final configs only; the other finals' rows are kept, rows of configs no
longer final are dropped). Test is read once per final config: run it on configs already
chosen on folds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from meme_keras.console import configure_logging, import_tensorflow_quietly  # noqa: E402


def test_scores(metrics: dict) -> dict[str, float]:
    """The test scores of a run's metrics: span P/R/F1 for spans, micro/macro F1 otherwise;
    then, for a run that ships one network made from its folds, its fold ensemble's F1s."""
    if "tagger" in metrics:
        test = metrics["tagger"]["test"]
        scores = {"span F1": test["f1"], "span P": test["precision"], "span R": test["recall"]}
        if "tagger_fold_ensemble" in metrics:
            scores["fold ensemble span F1"] = metrics["tagger_fold_ensemble"]["test"]["f1"]
        return scores
    scores = {"micro-F1": metrics["test"]["micro_f1"], "macro-F1": metrics["test"]["macro_f1"]}
    if "test_fold_ensemble" in metrics:
        ensemble = metrics["test_fold_ensemble"]
        scores["fold ensemble micro-F1"] = ensemble["micro_f1"]
        scores["fold ensemble macro-F1"] = ensemble["macro_f1"]
    return scores


def mean_sd_table(results: dict[str, list[dict[str, float]]], seeds: list[int]) -> str:
    """Markdown: one row per config, `mean ± sd (seed values)` per score."""
    lines = ["| config | score | mean ± sd | per seed (" + ", ".join(map(str, seeds)) + ") |"]
    lines.append("|---|---|---|---|")
    for name, runs in results.items():
        for score in runs[0]:
            values = np.array([run[score] for run in runs])
            sd = values.std(ddof=1) if len(values) > 1 else 0.0
            each = ", ".join(f"{v:.3f}" for v in values)
            lines.append(f"| {name} | {score} | {values.mean():.3f} ± {sd:.3f} | {each} |")
    return "\n".join(lines)


README_MARKERS = ("<!-- seeds: written by experiments/seeds.py -->", "<!-- /seeds -->")


def table_rows(table: str) -> list[str]:
    """The body rows of a `mean_sd_table` (no header)."""
    return [line for line in table.splitlines()[2:] if line.startswith("| ")]


def readme_table(readme: str) -> str:
    """The table between the README's `README_MARKERS` ('' if none yet)."""
    start, end = README_MARKERS
    return readme.split(start)[1].split(end)[0].strip() if start in readme else ""


def merged_table(old: str, new: str, finals: list[str]) -> str:
    """`new`'s rows in place of `old`'s rows of the same configs; only configs in `finals`, in
    that order (rows of other configs in `old` are dropped)."""
    config_of = lambda row: row.split("|")[1].strip()  # noqa: E731
    fresh = {config_of(row) for row in table_rows(new)}
    unknown = sorted(fresh - set(finals))
    if unknown:
        raise SystemExit(f"not final configs, so not for the README: {', '.join(unknown)}")
    rows = [row for row in table_rows(old) if config_of(row) not in fresh] + table_rows(new)
    rows = [row for row in rows if config_of(row) in finals]
    rows.sort(key=lambda row: finals.index(config_of(row)))  # stable: scores keep their order
    return "\n".join([*new.splitlines()[:2], *rows])


def with_seeds_table(readme: str, table: str) -> str:
    """`readme` with the text between its two `README_MARKERS` replaced by `table`."""
    start, end = README_MARKERS
    if readme.count(start) != 1 or readme.count(end) != 1:
        raise SystemExit(f"README.md: expected one {start!r} and one {end!r}")
    before, rest = readme.split(start)
    _, after = rest.split(end)
    return f"{before}{start}\n{table}\n{end}{after}"


def run_folder(runs: Path, name: str, seed: int, config_seed: int) -> Path:
    """Where seed `seed` of config `name` trains: the config's own seed in `runs/<name>`, as
    `make reproduce` trains it (so a finished reproduce run counts as that seed), others
    beside it."""
    return runs / (name if seed == config_seed else f"{name}_seed{seed}")


def final_config_names(with_2021_only: bool = True) -> list[str]:
    """Each task's final config, then (if asked) its 2021-only counterpart where that differs."""
    from experiments.reproduce import FINAL_CONFIGS, final_runs

    return [name for task in FINAL_CONFIGS for name in final_runs(task, with_2021_only)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "configs",
        nargs="*",
        help="names in experiments/configs/ (default: the final configs, into the README too)",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument(
        "--finals-only",
        action="store_true",
        help="without configs: the final configs alone, not their 2021-only counterparts",
    )
    parser.add_argument(
        "--update-readme",
        action="store_true",
        help="with configs (final ones): their rows replace theirs in the README's table",
    )
    args = parser.parse_args()
    import_tensorflow_quietly()
    configure_logging()
    from meme_keras.config import load_config
    from meme_keras.training.run import train_config

    readme = REPOSITORY / "README.md"
    if not args.configs:
        with_seeds_table(readme.read_text(), "")  # the markers are there, before any training
    results = {}
    for name in args.configs or final_config_names(not args.finals_only):
        config = REPOSITORY / "experiments" / "configs" / f"{name}.yaml"
        config_seed = load_config(config)["seed"]
        results[name] = [
            test_scores(
                train_config(
                    config,
                    run_folder(REPOSITORY / "runs", name, seed, config_seed),
                    seed=seed,
                    verbose=0,
                    reuse_finished=True,
                )
            )
            for seed in args.seeds
        ]
    table = mean_sd_table(results, args.seeds)
    if args.configs and args.update_readme:  # the README's table, these configs' rows new
        text = readme.read_text()
        table = merged_table(readme_table(text), table, final_config_names())
    (REPOSITORY / "assets").mkdir(exist_ok=True)
    (REPOSITORY / "assets" / "seeds.md").write_text(table + "\n")
    if not args.configs or args.update_readme:
        readme.write_text(with_seeds_table(readme.read_text(), table))
    print(table)


if __name__ == "__main__":
    main()
