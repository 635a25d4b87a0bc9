"""The BLURB tasks: where their files live, how to read them, and the fine-tuning defaults.

Readers take the files exactly as BLURB's data-generation scripts (and the NER sources,
cambridgeltl/MTL-Bioinformatics-2016) write them; a malformed line is an error naming the file and
line, never a silently dropped example.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Callable, Union

import tensorflow as tf

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
    (softmax over `labels`), `regression`, `multilabel`. The defaults are the recipe's
    (see docs/finetune.md for where each comes from)."""

    name: str
    blurb_type: str
    head: str
    folder: str
    reader: str
    splits: dict[str, str]
    labels: tuple[str, ...] = ()
    negative_labels: tuple[str, ...] = ()
    entity_markers: tuple[str, ...] = ()
    epochs: float = 3.0
    learning_rate: float = 1e-4
    batch_size: int = 32
    max_seq_length: int = 128

    def path(self, data_dir: str, split: str) -> str:
        return f"{data_dir.rstrip('/')}/{self.folder}/{self.splits[split]}"


def _ner(name: str, folder: str) -> Task:
    return Task(name, NER, "token", folder, "iob",
                {"train": "train.tsv", "dev": "devel.tsv", "test": "test.tsv"},
                epochs=20.0, learning_rate=1e-4)


_TSV = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}

TASKS: dict[str, Task] = {task.name: task for task in [
    _ner("BC5CDR-chem", "ner/BC5CDR-chem-IOB"),
    _ner("BC5CDR-disease", "ner/BC5CDR-disease-IOB"),
    _ner("NCBI-disease", "ner/NCBI-disease-IOB"),
    _ner("BC2GM", "ner/BC2GM-IOB"),
    _ner("JNLPBA", "ner/JNLPBA"),
    Task("ChemProt", RE, "sequence", "re/chemprot", "relation", _TSV,
         labels=("false", "CPR:3", "CPR:4", "CPR:5", "CPR:6", "CPR:9"), negative_labels=("false",),
         entity_markers=("@CHEMICAL$", "@GENE$", "@CHEM-GENE$"), epochs=10.0),
    Task("DDI", RE, "sequence", "re/DDI", "relation", _TSV,
         labels=("DDI-false", "DDI-advise", "DDI-effect", "DDI-int", "DDI-mechanism"),
         negative_labels=("DDI-false",), entity_markers=("@DRUG$", "@DRUG-DRUG$"), epochs=10.0),
    Task("GAD", RE, "sequence", "re/GAD", "relation", _TSV, labels=("0", "1"),
         negative_labels=("0",), entity_markers=("@GENE$", "@DISEASE$"), epochs=10.0),
    Task("BIOSSES", SIMILARITY, "regression", "similarity/BIOSSES", "biosses", _TSV,
         epochs=30.0, batch_size=16),
    Task("HoC", CLASSIFICATION, "multilabel", "classification/HoC", "hoc", _TSV,
         labels=tuple(str(i) for i in range(HOC_LABELS)), epochs=10.0),
    Task("EBM-PICO", PICO, "token", "ner/ebmnlp", "pico", _TSV, labels=PICO_TAGS,
         negative_labels=("O",), epochs=20.0, learning_rate=1e-4),
    Task("PubMedQA", QA, "sequence", "qa/PubMedQA", "pubmedqa",
         {"train": "train.json", "dev": "dev.json", "test": "test.json"},
         labels=("yes", "no", "maybe"), epochs=10.0, batch_size=16, max_seq_length=512),
    Task("BioASQ", QA, "sequence", "qa/BioASQ", "bioasq", _TSV, labels=("yes", "no"),
         epochs=10.0, batch_size=16, max_seq_length=512),
]}


def _read(path: str) -> str:
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{path} does not exist")
    with tf.io.gfile.GFile(path) as f:
        return f.read()


def _lines(path: str) -> list[str]:
    return _read(path).split("\n")


def _read_tagged(path: str, tag_ok: Callable[[str], bool], expected: str) -> list[Example]:
    """`word<TAB>tag` lines, a blank line between sentences; `-DOCSTART- ...` lines (EBM-NLP's
    `-DOCSTART- (PMID)`) end a sentence and carry no word. Guids are `path:first line`."""
    examples: list[Example] = []
    words: list[str] = []
    tags: list[str] = []
    start = 1
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip() or line.startswith("-DOCSTART-"):
            if words:
                examples.append(Example(f"{path}:{start}", words, tags))
            words, tags, start = [], [], number + 1
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 2 or not fields[0] or not tag_ok(fields[1]):
            raise DataError(f"{path}:{number}: expected 'word<TAB>{expected}', got {line!r}")
        words.append(fields[0])
        tags.append(fields[1])
    if words:
        examples.append(Example(f"{path}:{start}", words, tags))
    return examples


def read_iob(path: str) -> list[Example]:
    """NER files: BIO tags (`B-x`, `I-x`, `O`)."""
    return _read_tagged(path, lambda tag: tag == "O" or tag[:2] in ("B-", "I-"), "B-x|I-x|O")


def read_pico(path: str) -> list[Example]:
    """EBM-NLP as BLURB ships it: IO tags only (`I-PAR`, `I-INT`, `I-OUT`, `O`). A `B-` tag or
    another type is an error: BLURB's scorer counts only the three I- classes, so such a word
    would silently drop out of the score."""
    return _read_tagged(path, PICO_TAGS.__contains__, "|".join(PICO_TAGS))


def _tsv_rows(path: str, columns: int,
              header: tuple[str, ...] | None) -> list[tuple[int, list[str]]]:
    rows = []
    lines = _lines(path)
    if header is not None:
        if tuple(lines[0].rstrip("\r").split("\t")) != header:
            raise DataError(f"{path}:1: expected the header {header}, got {lines[0]!r}")
        lines = lines[1:]
    first = 2 if header is not None else 1
    for number, line in enumerate(lines, start=first):
        if not line.strip():
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) != columns:
            raise DataError(f"{path}:{number}: expected {columns} tab-separated fields, "
                            f"got {len(fields)}")
        rows.append((number, fields))
    return rows


def read_relation(path: str, labels: tuple[str, ...] = ()) -> list[Example]:
    """`id<TAB>sentence with @ENTITY$ masks<TAB>label`, no header (ChemProt, DDI, GAD)."""
    examples = []
    for number, (guid, sentence, label) in _tsv_rows(path, 3, None):
        if labels and label not in labels:
            raise DataError(f"{path}:{number}: unknown label {label!r} (expected one of {labels})")
        examples.append(Example(guid, sentence.strip(), label))
    return examples


def read_hoc(path: str) -> list[Example]:
    """Header `labels sentence index`; labels `0_0,1_1,...` for the 10 hallmarks; index
    `PMID_sN` (a sentence of document PMID)."""
    examples = []
    for number, (labels, sentence, index) in _tsv_rows(path, 3, ("labels", "sentence", "index")):
        try:
            pairs = dict(item.split("_") for item in labels.split(","))
            vector = tuple(int(pairs[str(k)]) for k in range(HOC_LABELS))
        except (KeyError, ValueError) as error:
            raise DataError(f"{path}:{number}: bad labels {labels!r}") from error
        examples.append(Example(index, sentence.strip(), vector))
    return examples


def read_biosses(path: str) -> list[Example]:
    """Header `pair_id sent1 sent2 score`, scores 0-4."""
    examples = []
    for number, (pair, first, second, score) in _tsv_rows(
            path, 4, ("pair_id", "sent1", "sent2", "score")):
        try:
            value = float(score)
        except ValueError as error:
            raise DataError(f"{path}:{number}: score {score!r} is not a number") from error
        examples.append(Example(pair, first.strip(), value, second.strip()))
    return examples


def read_pubmedqa(path: str) -> list[Example]:
    """PubMedQA's JSON (`{pmid: {QUESTION, CONTEXTS, final_decision, ...}}`): the question
    against its contexts joined, as BLURB feeds it; the label is yes/no/maybe."""
    records = json.loads(_read(path))
    examples = []
    for pmid, record in records.items():
        try:
            examples.append(Example(pmid, record["QUESTION"], record["final_decision"],
                                    " ".join(record["CONTEXTS"])))
        except (KeyError, TypeError) as error:
            raise DataError(f"{path}: record {pmid} lacks {error}") from error
    return examples


def read_bioasq(path: str) -> list[Example]:
    """BLURB's BioASQ yes/no files: `id<TAB>question<TAB>snippets<TAB>yes|no`, no header (the
    question against the concatenated snippets, as for PubMedQA)."""
    examples = []
    for number, (guid, question, context, label) in _tsv_rows(path, 4, None):
        if label not in ("yes", "no"):
            raise DataError(f"{path}:{number}: label {label!r} is not yes/no")
        examples.append(Example(guid, question.strip(), label, context.strip()))
    return examples


READERS = {"iob": read_iob, "pico": read_pico, "relation": read_relation, "hoc": read_hoc,
           "biosses": read_biosses, "pubmedqa": read_pubmedqa, "bioasq": read_bioasq}


def read_split(task: Task, data_dir: str, split: str) -> list[Example]:
    """The examples of one split of `task` under a BLURB data directory."""
    path = task.path(data_dir, split)
    if task.reader == "relation":
        return read_relation(path, task.labels)
    examples = READERS[task.reader](path)
    if task.labels and task.head == "sequence":
        for example in examples:
            if example.label not in task.labels:
                raise DataError(f"{path}: {example.guid} has unknown label {example.label!r}")
    return examples


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]
