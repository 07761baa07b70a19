"""Scores a predictions file in the task's JSON format against the gold of a split."""

from __future__ import annotations

from pathlib import Path

from meme_keras.data.corpus import default_data_dir, load_split, read_json_records
from meme_keras.data.errors import CorpusError
from meme_keras.data.meme import Span
from meme_keras.data.techniques import read_techniques
from meme_keras.evaluation.multilabel_f1 import labels_to_multi_hot, multilabel_scores
from meme_keras.evaluation.span_f1 import span_scores


def _by_id(records, path: Path, gold_ids: list[str]) -> dict:
    predicted = {}
    for record in records:
        if "id" not in record or "labels" not in record:
            raise CorpusError(path, record.get("id"), "a prediction needs 'id' and 'labels'")
        if record["id"] in predicted:
            raise CorpusError(path, record["id"], "duplicate id")
        predicted[record["id"]] = record["labels"]
    missing, extra = set(gold_ids) - set(predicted), set(predicted) - set(gold_ids)
    if missing or extra:
        raise CorpusError(
            path,
            None,
            f"ids differ from gold: missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}",
        )
    return predicted


def evaluate_prediction_file(
    path: str | Path, split: str = "test", task: str = "techniques", data_dir=None
) -> dict:
    """Task scores of a predictions file: micro/macro F1 ("techniques", "text_techniques") or
    span P/R/F1 ("spans")."""
    path, data_dir = Path(path), data_dir or default_data_dir()
    records = read_json_records(path)
    if task in ("techniques", "text_techniques"):
        subtask, kind = (3, "multimodal") if task == "techniques" else (1, "text")
        gold = load_split(split, subtask, data_dir, check_images=False)
        techniques = read_techniques(data_dir, kind)
        predicted = _by_id(records, path, [m.id for m in gold])
        for meme_id, labels in predicted.items():
            if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                raise CorpusError(
                    path,
                    meme_id,
                    f"'labels' must be technique names for task {task!r} (span records are "
                    "scored with --task spans, or --run with a spans run)",
                )
        try:
            predicted_matrix = labels_to_multi_hot([predicted[m.id] for m in gold], techniques)
        except ValueError as error:
            raise CorpusError(path, None, str(error)) from None
        gold_matrix = labels_to_multi_hot([m.labels for m in gold], techniques)
        return multilabel_scores(gold_matrix, predicted_matrix)
    if task != "spans":
        raise ValueError(f"unknown task {task!r}; choose techniques, text_techniques or spans")
    gold = load_split(split, 2, data_dir, check_images=False)
    predicted = _by_id(records, path, [m.id for m in gold])
    try:
        predicted_spans = {
            meme_id: [Span(int(s["start"]), int(s["end"]), s["technique"]) for s in spans]
            for meme_id, spans in predicted.items()
        }
    except (KeyError, TypeError, ValueError) as error:
        raise CorpusError(path, None, f"malformed span ({error})") from None
    scores = span_scores(predicted_spans, {m.id: list(m.spans) for m in gold})
    return {"precision": scores.precision, "recall": scores.recall, "f1": scores.f1}
