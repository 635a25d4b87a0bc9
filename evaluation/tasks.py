"""The BLURB tasks: what each one is (its type, head, labels, entity types), the fine-tuning defaults, and
the errors the readers raise. Where a task's files are is `evaluation.layouts`; how they are read,
`evaluation.readers`."""

from __future__ import annotations

import dataclasses
import difflib
from typing import Sequence, Union

Label = Union[str, float, tuple[int, ...], list[str]]

# BLURB's task types: the BLURB score is the mean over these of the mean over their tasks.
NER, PICO, RE, SIMILARITY, CLASSIFICATION, QA = (
    "named entity recognition", "PICO extraction", "relation extraction",
    "sentence similarity", "document classification", "question answering")

HOC_LABELS = 10
# EBM-NLP as BLURB ships it: IO tags (no B-), one per word; "O" is outside any PICO span.
PICO_TAGS = ("O", "I-PAR", "I-INT", "I-OUT")


class DataError(ValueError):
    """A task file that does not have the expected format (the message names file and line)."""


@dataclasses.dataclass(frozen=True)
class Example:
    """One input: `text_a` is a list of words for NER, a string otherwise; `text_b` the second
    segment (BIOSSES' second sentence, PubMedQA's contexts); `label` the gold answer."""

    guid: str
    text_a: str | list[str]
    label: Label
    text_b: str | None = None


@dataclasses.dataclass(frozen=True)
class Task:
    """A BLURB dataset. `head` picks the model output: `token` (one tag per word), `sequence`
    (softmax over `labels`), `regression`, `multilabel`; `reader` names its file format
    (`evaluation.readers.READERS`). The defaults are the recipe's (see docs/finetune.md for where
    each comes from)."""

    name: str
    blurb_type: str
    head: str
    reader: str
    labels: tuple[str, ...] = ()
    negative_labels: tuple[str, ...] = ()
    entity_markers: tuple[str, ...] = ()
    entity_types: tuple[str, ...] = ()  # NER: the types a typed tag (B-Chemical) may name
    epochs: float = 3.0
    learning_rate: float = 1e-4
    batch_size: int = 32
    max_seq_length: int = 128


def _ner(name: str, *entity_types: str) -> Task:
    return Task(name, NER, "token", "iob", entity_types=entity_types, epochs=20.0,
                learning_rate=1e-4)


TASKS: dict[str, Task] = {task.name: task for task in [
    # The entity types of the typed tags in cambridgeltl/MTL-Bioinformatics-2016's files.
    _ner("BC5CDR-chem", "Chemical"),
    _ner("BC5CDR-disease", "Disease"),
    _ner("NCBI-disease", "Disease"),
    _ner("BC2GM", "GENE"),
    _ner("JNLPBA", "DNA", "RNA", "cell_line", "cell_type", "protein"),
    Task("ChemProt", RE, "sequence", "relation",
         labels=("false", "CPR:3", "CPR:4", "CPR:5", "CPR:6", "CPR:9"), negative_labels=("false",),
         entity_markers=("@CHEMICAL$", "@GENE$", "@CHEM-GENE$"), epochs=10.0),
    Task("DDI", RE, "sequence", "relation",
         labels=("DDI-false", "DDI-advise", "DDI-effect", "DDI-int", "DDI-mechanism"),
         negative_labels=("DDI-false",), entity_markers=("@DRUG$", "@DRUG-DRUG$"), epochs=10.0),
    Task("GAD", RE, "sequence", "relation", labels=("0", "1"), negative_labels=("0",),
         entity_markers=("@GENE$", "@DISEASE$"), epochs=10.0),
    Task("BIOSSES", SIMILARITY, "regression", "biosses", epochs=30.0, batch_size=16),
    Task("HoC", CLASSIFICATION, "multilabel", "hoc",
         labels=tuple(str(i) for i in range(HOC_LABELS)), epochs=10.0),
    Task("EBM-PICO", PICO, "token", "pico", labels=PICO_TAGS, negative_labels=("O",), epochs=20.0,
         learning_rate=1e-4),
    Task("PubMedQA", QA, "sequence", "pubmedqa", labels=("yes", "no", "maybe"), epochs=10.0,
         batch_size=16, max_seq_length=512),
    Task("BioASQ", QA, "sequence", "bioasq", labels=("yes", "no"), epochs=10.0, batch_size=16,
         max_seq_length=512),
]}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]


def did_you_mean(value: str, valid: Sequence[str]) -> str:
    """` (did you mean 'X'?)` with the closest of `valid`, or nothing when `valid` is empty."""
    match = difflib.get_close_matches(value, list(valid), n=1, cutoff=0.0)
    return f" (did you mean {match[0]!r}?)" if match else ""
