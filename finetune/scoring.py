"""BLURB's official metrics, on well-kept scorers (seqeval, scikit-learn, scipy)."""

from __future__ import annotations

import statistics
from typing import Sequence

import numpy as np
from scipy.stats import pearsonr
from seqeval.metrics import f1_score as seqeval_f1
from sklearn.metrics import accuracy_score, f1_score

from evaluation.tags import untyped_entity_type, with_type
from evaluation.tasks import PICO, Task


def ner_f1(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]],
           entity_type: str = "entity") -> float:
    """Entity-level F1 (an entity counts only with exact type and span), conlleval style. Untyped
    tags (`B`, `I`: BLURB's own NER files) are scored as `entity_type` entities, so a file gives the
    same F1 typed or untyped."""
    return float(seqeval_f1([with_type(s, entity_type) for s in gold],
                            [with_type(s, entity_type) for s in predicted]))


def pico_f1(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]],
            classes: Sequence[str]) -> float:
    """BLURB's EBM PICO metric: word-level F1 of each PICO class (a word counts for its own tag;
    "O" is not a class), macro-averaged over `classes`. Entity-level F1 (seqeval) would be wrong
    here: IO tags do not delimit adjacent spans, and BLURB scores words."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences, {len(predicted)} predicted")
    for number, (g, p) in enumerate(zip(gold, predicted)):
        if len(g) != len(p):
            raise ValueError(f"sentence {number}: {len(g)} gold tags, {len(p)} predicted")
    return float(f1_score([t for s in gold for t in s], [t for s in predicted for t in s],
                          labels=list(classes), average="macro", zero_division=0))


def relation_f1(gold: Sequence[str], predicted: Sequence[str], negative: Sequence[str]) -> float:
    """Micro F1 over the positive classes only: predicting the negative class ("false",
    "DDI-false") is neither a hit nor a false alarm, as in BLURB's evaluation."""
    positive = sorted((set(gold) | set(predicted)) - set(negative))
    if not positive:
        return 0.0
    return float(f1_score(list(gold), list(predicted), labels=positive, average="micro",
                          zero_division=0))


def hoc_f1(gold: Sequence[Sequence[int]], predicted: Sequence[Sequence[int]],
           ids: Sequence[str]) -> float:
    """HoC: sentence labels are merged (union) per document (`PMID_sN` -> PMID), then micro F1
    over the document x hallmark matrix (BLURB's eval_hoc)."""
    if not (len(gold) == len(predicted) == len(ids)):
        raise ValueError(f"{len(gold)} gold, {len(predicted)} predicted, {len(ids)} ids")
    documents: dict[str, list[np.ndarray]] = {}
    for g, p, sentence_id in zip(gold, predicted, ids):
        key = sentence_id.split("_")[0]
        merged = documents.setdefault(key, [np.zeros(len(g), int), np.zeros(len(g), int)])
        merged[0] |= np.asarray(g, int)
        merged[1] |= np.asarray(p, int)
    gold_docs = np.stack([m[0] for m in documents.values()])
    predicted_docs = np.stack([m[1] for m in documents.values()])
    return float(f1_score(gold_docs, predicted_docs, average="micro", zero_division=0))


def pearson(gold: Sequence[float], predicted: Sequence[float]) -> float:
    """Pearson correlation (BIOSSES); 0 when the predictions are constant."""
    if np.std(predicted) == 0 or np.std(gold) == 0:
        return 0.0
    return float(pearsonr(gold, predicted)[0])


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    return float(accuracy_score(list(gold), list(predicted)))


def score(task: Task, gold: list, predicted: list, ids: Sequence[str]) -> float:
    """The task's BLURB metric."""
    if task.blurb_type == PICO:
        return pico_f1(gold, predicted,
                       [tag for tag in task.labels if tag not in task.negative_labels])
    if task.head == "token":
        return ner_f1(gold, predicted, untyped_entity_type(task))
    if task.head == "regression":
        return pearson(gold, predicted)
    if task.head == "multilabel":
        return hoc_f1(gold, predicted, ids)
    if task.negative_labels:
        return relation_f1(gold, predicted, task.negative_labels)
    return accuracy(gold, predicted)


def metric_name(task: Task) -> str:
    """How `score` scores `task`, in words (for the JSON results and the table)."""
    if task.blurb_type == PICO:
        return "macro word-level F1 (PICO classes)"
    if task.head == "token":
        return "entity-level F1 (seqeval)"
    if task.head == "regression":
        return "Pearson"
    if task.head == "multilabel":
        return "micro F1 per document"
    if task.negative_labels:
        return "micro F1, positive classes"
    return "accuracy"


def blurb_score(task_scores: dict[str, float], task_types: dict[str, str]) -> float:
    """The macro average over task types of the mean score of each type's tasks."""
    by_type: dict[str, list[float]] = {}
    for name, value in task_scores.items():
        by_type.setdefault(task_types[name], []).append(value)
    return statistics.fmean(statistics.fmean(values) for values in by_type.values())
