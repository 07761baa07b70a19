"""Decision thresholds: turn predicted probabilities into technique sets.

Thresholds are tuned on validation or out-of-fold probabilities (the dev set alone, 63 memes
lacking 3 labels, is too noisy) and scored with the task's multilabel F1. A label is predicted
when its probability is at or above its threshold (`p >= t`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from meme_keras.atomic_files import (
    save_figure_atomically,
    write_csv_atomically,
    write_json_atomically,
)
from meme_keras.evaluation.multilabel_f1 import (
    label_counts,
    multilabel_scores,
    scores_from_counts,
)


# Rounded so that a chosen threshold reads (and serializes) as 0.28, not 0.28000000000000014.
def threshold_grid(start: float, stop: float, step: float) -> np.ndarray:
    """Thresholds from `start` to `stop` (included) every `step`, rounded to 4 decimals: the
    one grid every sweep uses (meme-level thresholds and the span task's token threshold)."""
    return np.round(np.arange(start, stop + 1e-9, step), 4)


DEFAULT_THRESHOLDS = threshold_grid(0.05, 0.95, 0.01)
MODES = ("global", "per_label")
OBJECTIVES = ("micro", "macro", "mix")
SWEEP_COLUMNS = ("threshold", "micro_f1", "macro_f1", "micro_precision", "micro_recall")
JSON_FORMAT = "meme_keras.thresholds/1"
# Scores closer than this are ties: float noise must not move a threshold.
_TIE_TOLERANCE = 1e-12


@dataclass
class TunedThresholds:
    """Per-technique thresholds and how they were chosen.

    Args:
        thresholds: `[K]` float thresholds, one per technique.
        techniques: the K technique names, in column order.
        mode: `"global"` (one shared value) or `"per_label"`.
        objective: `"micro"`, `"macro"` or `"mix"` (see `tune_thresholds`).
        score: the objective on the tuning data at these thresholds.
        global_threshold: the best shared threshold (per-label tuning starts from it).
        metrics: micro/macro F1 and micro precision/recall on the tuning data.
        macro_weight, min_support, min_labels_per_meme: the tuning settings.
        sweep: the global sweep table (not written to JSON).
    """

    thresholds: np.ndarray
    techniques: tuple[str, ...]
    mode: str
    objective: str
    score: float
    global_threshold: float
    metrics: dict[str, float] = field(default_factory=dict)
    macro_weight: float = 0.0
    min_support: int = 0
    min_labels_per_meme: int = 0
    sweep: pd.DataFrame | None = None

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """`[..., K]` probabilities -> int32 multi-hot predictions."""
        return apply_thresholds(probabilities, self.thresholds, self.min_labels_per_meme)

    def to_json(self, path: str | Path) -> Path:
        """Write technique -> threshold plus the tuning metadata; returns the path."""
        record = {
            "format": JSON_FORMAT,
            "mode": self.mode,
            "objective": self.objective,
            "macro_weight": self.macro_weight,
            "min_support": self.min_support,
            "min_labels_per_meme": self.min_labels_per_meme,
            "global_threshold": self.global_threshold,
            "score": self.score,
            "metrics": self.metrics,
            "thresholds": {
                name: float(value)
                for name, value in zip(self.techniques, self.thresholds, strict=True)
            },
        }
        return write_json_atomically(record, path)

    @classmethod
    def from_json(cls, path: str | Path) -> TunedThresholds:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
        if record.get("format") != JSON_FORMAT:
            raise ValueError(f"{path} is not a {JSON_FORMAT} file")
        return cls(
            thresholds=np.array(list(record["thresholds"].values()), dtype=np.float64),
            techniques=tuple(record["thresholds"]),
            mode=record["mode"],
            objective=record["objective"],
            score=record["score"],
            global_threshold=record["global_threshold"],
            metrics=record["metrics"],
            macro_weight=record["macro_weight"],
            min_support=record["min_support"],
            min_labels_per_meme=record["min_labels_per_meme"],
        )


def apply_thresholds(
    probabilities: np.ndarray, thresholds: np.ndarray | float, min_labels_per_meme: int = 0
) -> np.ndarray:
    """Multi-hot predictions `probabilities >= thresholds` (thresholds broadcast on the last axis).

    With `min_labels_per_meme = m > 0`, a meme with fewer than m labels at or above threshold
    gets its m most probable labels added. Most memes carry at least one technique, so m = 1
    ("never predict an empty set") is a common choice for this task; it costs a false positive
    on each meme whose gold set is empty.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = probabilities >= np.asarray(thresholds, dtype=np.float64)
    return _ensure_min_labels(predicted, probabilities, min_labels_per_meme).astype(np.int32)


def sweep_global_threshold(
    gold: np.ndarray,
    probabilities: np.ndarray,
    thresholds: np.ndarray = DEFAULT_THRESHOLDS,
    min_labels_per_meme: int = 0,
) -> pd.DataFrame:
    """Scores of one shared threshold at each value of `thresholds`.

    Returns:
        A DataFrame with columns threshold, micro_f1, macro_f1, micro_precision, micro_recall.
    """
    gold, probabilities = _check_inputs(gold, probabilities)
    grid = _check_grid(thresholds)
    candidates = np.broadcast_to(grid[:, None], (len(grid), gold.shape[1]))
    scores = _candidate_scores(gold, probabilities, candidates, min_labels_per_meme)
    return pd.DataFrame({"threshold": grid, **scores}, columns=list(SWEEP_COLUMNS))


def tune_thresholds(
    gold: np.ndarray,
    probabilities: np.ndarray,
    mode: str = "global",
    objective: str = "micro",
    macro_weight: float = 0.0,
    min_support: int = 10,
    min_labels_per_meme: int = 0,
    thresholds: np.ndarray = DEFAULT_THRESHOLDS,
    techniques: Sequence[str] | None = None,
    max_rounds: int = 10,
) -> TunedThresholds:
    """Choose thresholds that maximise an F1 objective on tuning data.

    `"global"` picks the best single threshold from `thresholds`. `"per_label"` then runs
    coordinate ascent from it: in turn, each label's threshold moves to the grid value that
    maximises the objective over the whole matrix, until a round changes nothing (or
    `max_rounds`). A move needs a strict improvement, so the result never scores below the
    global one on the tuning data. Labels with fewer than `min_support` positives keep the
    global threshold: a handful of examples would let a threshold fit noise. Ties go to the
    middle of the tied grid values, the point furthest from the edges of a flat optimum.

    Args:
        gold: `[N, K]` multi-hot gold labels.
        probabilities: `[N, K]` predicted probabilities (validation or out-of-fold).
        mode: `"global"` or `"per_label"`.
        objective: `"micro"` (micro F1), `"macro"` (macro F1) or `"mix"`:
            `(1 - macro_weight) * micro_f1 + macro_weight * macro_f1`.
        macro_weight: weight of macro F1 in `"mix"`, in [0, 1]; only used by `"mix"`.
        min_support: fewest gold positives a label needs to get its own threshold.
        min_labels_per_meme: see `apply_thresholds`; tuning scores the rule as applied.
        thresholds: the candidate grid, 0.05 to 0.95 by 0.01 by default.
        techniques: the K technique names (for JSON); defaults to `label_0 ... label_{K-1}`.
        max_rounds: most coordinate-ascent rounds.
    """
    gold, probabilities = _check_inputs(gold, probabilities)
    grid = _check_grid(thresholds)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if not 0.0 <= macro_weight <= 1.0:
        raise ValueError(f"macro_weight must be in [0, 1], got {macro_weight}")
    if objective != "mix" and macro_weight != 0.0:
        raise ValueError("macro_weight only applies to objective='mix'")
    num_labels = gold.shape[1]
    techniques = (
        tuple(f"label_{k}" for k in range(num_labels)) if techniques is None else tuple(techniques)
    )
    if len(techniques) != num_labels:
        raise ValueError(f"{len(techniques)} techniques for {num_labels} label columns")

    def objective_of(scores: dict[str, np.ndarray]) -> np.ndarray:
        weight = {"micro": 0.0, "macro": 1.0, "mix": macro_weight}[objective]
        return (1.0 - weight) * scores["micro_f1"] + weight * scores["macro_f1"]

    sweep = sweep_global_threshold(gold, probabilities, grid, min_labels_per_meme)
    sweep_objective = objective_of({name: sweep[name].to_numpy() for name in SWEEP_COLUMNS[1:]})
    global_threshold = float(grid[_best_index(sweep_objective)])
    current = np.full(num_labels, global_threshold)

    if mode == "per_label":
        best = float(objective_of(_scores_at(gold, probabilities, current, min_labels_per_meme)))
        tunable = np.flatnonzero(gold.sum(axis=0) >= min_support)
        for _ in range(max_rounds):
            changed = False
            for label in tunable:
                candidate_objective = objective_of(
                    _label_candidate_scores(
                        gold, probabilities, current, label, grid, min_labels_per_meme
                    )
                )
                index = _best_index(candidate_objective)
                if candidate_objective[index] > best + _TIE_TOLERANCE:
                    current[label] = grid[index]
                    best = float(candidate_objective[index])
                    changed = True
            if not changed:
                break

    metrics = _scores_at(gold, probabilities, current, min_labels_per_meme)
    return TunedThresholds(
        thresholds=current,
        techniques=techniques,
        mode=mode,
        objective=objective,
        score=float(objective_of(metrics)),
        global_threshold=global_threshold,
        metrics={name: float(value) for name, value in metrics.items()},
        macro_weight=macro_weight,
        min_support=min_support,
        min_labels_per_meme=min_labels_per_meme,
        sweep=sweep,
    )


# Candidate rules for `choose_rule`: keyword arguments of `tune_thresholds`.
CANDIDATE_RULES = {
    "global, micro": {"mode": "global", "objective": "micro", "macro_weight": 0.0},
    "global, mix 0.25": {"mode": "global", "objective": "mix", "macro_weight": 0.25},
    "global, mix 0.5": {"mode": "global", "objective": "mix", "macro_weight": 0.5},
    "per label, micro": {"mode": "per_label", "objective": "micro", "macro_weight": 0.0},
    "per label, mix 0.25": {"mode": "per_label", "objective": "mix", "macro_weight": 0.25},
    "per label, mix 0.5": {"mode": "per_label", "objective": "mix", "macro_weight": 0.5},
}


def choose_rule(table: pd.DataFrame, micro_tolerance: float) -> str:
    """The rule of `cross_validated_rules`' table with the best macro-F1 among those whose
    micro-F1 is within `micro_tolerance` of the best micro-F1 (micro-F1 ranks the task; macro
    breaks near-ties). Ties go to the earlier row."""
    if table.empty:
        raise ValueError("no threshold rules to choose from")
    eligible = table[table["micro_f1"] >= table["micro_f1"].max() - micro_tolerance]
    return str(eligible.loc[eligible["macro_f1"].idxmax(), "rule"])


def cross_validated_rules(
    gold: np.ndarray,
    probabilities: np.ndarray,
    rules: dict[str, dict],
    folds: int = 5,
    repeats: int = 5,
    seed: int = 0,
    min_labels_per_meme: int = 1,
    min_support: int = 10,
) -> pd.DataFrame:
    """How well each threshold rule generalises, by cross-validation over the tuning rows.

    A rule (keyword arguments of `tune_thresholds`: mode, objective, macro_weight,
    min_support) is tuned on all folds but one and applied to the held-out fold; the held-out
    decisions of all folds are scored together, over `repeats` random splits. Scoring a rule
    on the rows it was tuned on flatters it (most of all per-label thresholds); this does not.
    Give it out-of-fold or dev probabilities only, never test.

    Returns:
        One row per rule: micro_f1, macro_f1 (means over repeats) and their standard
        deviations, plus the in-sample scores of the rule tuned on every row.
    """
    gold, probabilities = _check_inputs(gold, probabilities)
    if folds < 2 or len(gold) < folds:
        raise ValueError(f"need at least 2 folds and one row per fold; got {folds}, {len(gold)}")
    rows = []
    for name, rule in rules.items():
        scores = []
        for repeat in range(repeats):
            order = np.random.default_rng([seed, repeat]).permutation(len(gold))
            decisions = np.zeros(gold.shape, np.int32)
            for held_out in np.array_split(order, folds):
                tuning = np.setdiff1d(order, held_out)
                tuned = tune_thresholds(
                    gold[tuning],
                    probabilities[tuning],
                    min_labels_per_meme=min_labels_per_meme,
                    min_support=min_support,
                    **rule,
                )
                decisions[held_out] = tuned.apply(probabilities[held_out])
            held_out_scores = multilabel_scores(gold, decisions)
            scores.append([held_out_scores["micro_f1"], held_out_scores["macro_f1"]])
        in_sample = tune_thresholds(
            gold,
            probabilities,
            min_labels_per_meme=min_labels_per_meme,
            min_support=min_support,
            **rule,
        )
        scores = np.array(scores)
        rows.append(
            {
                "rule": name,
                "micro_f1": scores[:, 0].mean(),
                "micro_f1_std": scores[:, 0].std(),
                "macro_f1": scores[:, 1].mean(),
                "macro_f1_std": scores[:, 1].std(),
                "in_sample_micro_f1": in_sample.metrics["micro_f1"],
                "in_sample_macro_f1": in_sample.metrics["macro_f1"],
                "global_threshold": in_sample.global_threshold,
            }
        )
    return pd.DataFrame(rows)


def write_sweep(table: pd.DataFrame, csv_path: str | Path) -> Path:
    """Write a sweep table to CSV (creating parent folders); returns the path."""
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    write_csv_atomically(table, csv_path)
    return csv_path


# (column, label, line style, colour) of each curve a sweep plot draws.
MEME_SWEEP_CURVES = (
    ("micro_f1", "micro F1", "-", "tab:blue"),
    ("macro_f1", "macro F1", "-", "tab:orange"),
    ("micro_precision", "micro precision", "--", "tab:green"),
    ("micro_recall", "micro recall", "--", "tab:red"),
)
SPAN_SWEEP_CURVES = (
    ("f1", "span F1", "-", "tab:blue"),
    ("precision", "precision", "--", "tab:green"),
    ("recall", "recall", "--", "tab:red"),
)


def plot_threshold_sweep(
    table: pd.DataFrame,
    path: str | Path,
    chosen: float | None = None,
    title: str = "F1 against decision threshold",
    curves=MEME_SWEEP_CURVES,
    xlabel: str = "threshold",
) -> Path:
    """PNG of a sweep table's `curves` against its `threshold` column (F1 solid, precision
    and recall dashed); a vertical line marks `chosen`, as in the report's Appendix 3. One plot
    for every sweep: meme-level thresholds, and the span task's token threshold
    (`curves=SPAN_SWEEP_CURVES`, whose span recall can pass 1)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # An explicit Agg canvas instead of pyplot: no global backend switch, no figure registry.
    figure = Figure(figsize=(7, 4.5), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    for column, label, style, colour in curves:
        axes.plot(table["threshold"], table[column], style, label=label, color=colour)
    if chosen is not None:
        axes.axvline(chosen, color="black", linewidth=1, label=f"chosen {chosen:g}")
    highest = float(table[[column for column, *_ in curves]].to_numpy().max())
    axes.set_xlabel(xlabel)
    axes.set_ylabel("score")
    axes.set_ylim(0.0, max(1.0, highest + 0.05))
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    figure.tight_layout()
    save_figure_atomically(figure, path)
    return path


def _candidate_scores(
    gold: np.ndarray, probabilities: np.ndarray, candidates: np.ndarray, min_labels_per_meme: int
) -> dict[str, np.ndarray]:
    """Scores for each row of `candidates` (`[C, K]` thresholds), evaluated in one batch."""
    predicted = probabilities[None, :, :] >= candidates[:, None, :]
    predicted = _ensure_min_labels(predicted, probabilities, min_labels_per_meme)
    return scores_from_counts(*label_counts(gold, predicted))


def _label_candidate_scores(
    gold: np.ndarray,
    probabilities: np.ndarray,
    current: np.ndarray,
    label: int,
    grid: np.ndarray,
    min_labels_per_meme: int,
) -> dict[str, np.ndarray]:
    """`_candidate_scores` of `current` with `label`'s threshold set to each `grid` value,
    from the counts that only that label's column (and, with at most one fallback label per
    meme, the fallbacks it triggers) can change: the same scores, without scoring every label
    of every candidate anew (per-label tuning spent most of its time there)."""
    if min_labels_per_meme > 1:  # several fallback labels per meme: score candidates whole
        candidates = np.repeat(current[None, :], len(grid), axis=0)
        candidates[:, label] = grid
        return _candidate_scores(gold, probabilities, candidates, min_labels_per_meme)
    gold = gold.astype(bool)
    others = probabilities >= current[None, :]
    others[:, label] = False
    tp, fp, fn = (
        np.repeat(count[None, :], len(grid), axis=0) for count in label_counts(gold, others)
    )
    column = probabilities[None, :, label] >= grid[:, None]  # [G, N]: the label's own decision
    if min_labels_per_meme == 1:
        # A meme no other label reaches gets `label` if it passes, else its most probable label.
        fallback = np.argmax(probabilities, axis=1)  # the first of tied maxima, as argsort's
        empty = ~others.any(axis=1)
        column = column | (empty & (fallback == label))[None, :]
        rows = np.flatnonzero(empty & (fallback != label))
        if rows.size:
            added = (~column[:, rows]).astype(np.int64)  # [G, R]: the fallback label instead
            chosen = np.zeros((rows.size, gold.shape[1]), bool)
            chosen[np.arange(rows.size), fallback[rows]] = True
            hits = added @ (chosen & gold[rows])
            tp += hits
            fn -= hits
            fp += added @ (chosen & ~gold[rows])
    tp[:, label] = np.sum(column & gold[None, :, label], axis=1)
    fp[:, label] = np.sum(column & ~gold[None, :, label], axis=1)
    fn[:, label] = np.sum(~column & gold[None, :, label], axis=1)
    return scores_from_counts(tp, fp, fn)


def _scores_at(
    gold: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray, min_labels_per_meme: int
) -> dict[str, np.ndarray]:
    scores = _candidate_scores(gold, probabilities, thresholds[None, :], min_labels_per_meme)
    return {name: value[0] for name, value in scores.items()}


def _ensure_min_labels(
    predicted: np.ndarray, probabilities: np.ndarray, min_labels: int
) -> np.ndarray:
    """Add the `min_labels` most probable labels to rows of `predicted` with fewer labels."""
    if min_labels <= 0:
        return predicted
    if min_labels > probabilities.shape[-1]:
        raise ValueError(f"min_labels_per_meme={min_labels} exceeds {probabilities.shape[-1]}")
    top = np.argsort(-probabilities, axis=-1, kind="stable")[..., :min_labels]
    top_mask = np.zeros(probabilities.shape, dtype=bool)
    np.put_along_axis(top_mask, top, True, axis=-1)
    too_few = predicted.sum(axis=-1, keepdims=True) < min_labels
    return predicted | (too_few & top_mask)


def _best_index(values: np.ndarray) -> int:
    """Index of the maximum; among ties, the middle one."""
    tied = np.flatnonzero(values >= np.max(values) - _TIE_TOLERANCE)
    return int(tied[len(tied) // 2])


def _check_inputs(gold: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gold = np.asarray(gold)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if gold.ndim != 2 or probabilities.shape != gold.shape:
        raise ValueError(
            f"gold and probabilities must both be [N, K]; got {gold.shape} and "
            f"{probabilities.shape}"
        )
    if not np.isfinite(probabilities).all():
        raise ValueError("probabilities must be finite")
    return gold, probabilities


def _check_grid(thresholds: np.ndarray) -> np.ndarray:
    grid = np.asarray(thresholds, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError("thresholds must be a non-empty 1-D grid")
    return grid
