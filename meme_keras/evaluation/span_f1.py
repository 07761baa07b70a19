"""The subtask-2 scorer: precision, recall and F1 with partial credit for overlapping spans.

It follows the official `task-2-semeval21_scorer.py` (from the 2019 propaganda FLC scorer). For
every predicted span p and gold span g of the same technique in the same meme,
precision credit += |p & g| / |p| and recall credit += |p & g| / |g|, where spans are sets of
character positions [start, end). Then P = precision credit / number of predicted spans and
R = recall credit / number of gold spans, summed over all memes (micro average).

Zero divisions, made explicit (the official script's rules, except P and R when both are empty):
- no predicted and no gold spans: P = R = F1 = 1 (nothing to find, nothing wrong; the official
  script prints P = R = 0 there but also F1 = 1);
- no predicted spans, some gold: P = R = F1 = 0;
- some predicted spans, no gold: P = R = F1 = 0;
- otherwise F1 = 2PR / (P + R), and 0 when P or R is 0.

Like the official script, a predicted span is credited once per gold span it overlaps, so
repeating a span repeats its credit and recall can exceed 1: deduplicate predictions first
(`deduplicate_spans`). The official per-technique printout divides the *precision* credit by the
gold count for its recall; `per_technique_span_scores` uses the recall credit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from meme_keras.data.meme import Span


@dataclass(frozen=True)
class SpanScores:
    """Span precision, recall and F1, with the span counts they were computed from."""

    precision: float
    recall: float
    f1: float
    n_predicted: int
    n_gold: int


def deduplicate_spans(spans: Iterable[Span]) -> list[Span]:
    """Sorted unique spans (the scorer credits each copy of a repeated span)."""
    return sorted(set(spans))


def span_scores(
    predicted: Mapping[str, Sequence[Span]], gold: Mapping[str, Sequence[Span]]
) -> SpanScores:
    """Score predicted spans against gold spans, both keyed by meme id.

    Raises:
        ValueError: if the meme ids differ (naming the missing and extra ids), or a span is
            empty or negative (its length would divide the credit).
    """
    _check_same_ids(predicted, gold)
    precision_credit = recall_credit = 0.0
    for meme_id, gold_spans in gold.items():
        _check_lengths(meme_id, gold_spans)
        _check_lengths(meme_id, predicted[meme_id])
        for p in predicted[meme_id]:
            for g in gold_spans:
                if p.technique == g.technique:
                    overlap = max(0, min(p.end, g.end) - max(p.start, g.start))
                    precision_credit += overlap / (p.end - p.start)
                    recall_credit += overlap / (g.end - g.start)
    n_predicted = sum(len(spans) for spans in predicted.values())
    n_gold = sum(len(spans) for spans in gold.values())
    return scores_from_credits(precision_credit, recall_credit, n_predicted, n_gold)


def per_technique_span_scores(
    predicted: Mapping[str, Sequence[Span]],
    gold: Mapping[str, Sequence[Span]],
    techniques: Sequence[str],
) -> dict[str, SpanScores]:
    """`span_scores` restricted to each technique in turn, in the order of `techniques`."""

    def only(spans_by_id: Mapping[str, Sequence[Span]], technique: str) -> dict[str, list[Span]]:
        return {
            meme_id: [span for span in spans if span.technique == technique]
            for meme_id, spans in spans_by_id.items()
        }

    _check_same_ids(predicted, gold)
    return {
        technique: span_scores(only(predicted, technique), only(gold, technique))
        for technique in techniques
    }


def scores_from_credits(
    precision_credit: float, recall_credit: float, n_predicted: int, n_gold: int
) -> SpanScores:
    """P, R and F1 from summed credits and span counts, with the zero-division rules above."""
    if n_predicted == 0 and n_gold == 0:
        return SpanScores(1.0, 1.0, 1.0, 0, 0)
    precision = precision_credit / n_predicted if n_predicted else 0.0
    recall = recall_credit / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision > 0 and recall > 0 else 0.0
    return SpanScores(precision, recall, f1, n_predicted, n_gold)


def _check_same_ids(predicted: Mapping[str, object], gold: Mapping[str, object]) -> None:
    missing = sorted(set(gold) - set(predicted))
    extra = sorted(set(predicted) - set(gold))
    if missing or extra:
        raise ValueError(
            f"predicted meme ids must equal gold ids: missing {missing[:10]}"
            f"{' ...' if len(missing) > 10 else ''} ({len(missing)}), "
            f"extra {extra[:10]}{' ...' if len(extra) > 10 else ''} ({len(extra)})"
        )


def _check_lengths(meme_id: str, spans: Sequence[Span]) -> None:
    for span in spans:
        if span.end <= span.start or span.start < 0:
            raise ValueError(f"meme {meme_id}: span {span} is empty or negative")
