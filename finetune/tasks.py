"""The BLURB tasks: where their files live, how to read them, and the fine-tuning defaults.

Readers take the files exactly as BLURB's data-generation scripts (and the NER sources,
cambridgeltl/MTL-Bioinformatics-2016) write them; a malformed line is an error naming the file and
line, never a silently dropped example.
"""

from __future__ import annotations

import codecs
import dataclasses
import difflib
import json
import re
from typing import Sequence, Union

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
    entity_types: tuple[str, ...] = ()  # NER: the types a typed tag (B-Chemical) may name
    epochs: float = 3.0
    learning_rate: float = 1e-4
    batch_size: int = 32
    max_seq_length: int = 128

    def path(self, data_dir: str, split: str) -> str:
        return f"{data_dir.rstrip('/')}/{self.folder}/{self.splits[split]}"


def _ner(name: str, folder: str, *entity_types: str) -> Task:
    return Task(name, NER, "token", folder, "iob",
                {"train": "train.tsv", "dev": "devel.tsv", "test": "test.tsv"},
                entity_types=entity_types, epochs=20.0, learning_rate=1e-4)


_TSV = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}

TASKS: dict[str, Task] = {task.name: task for task in [
    # The entity types of the typed tags in cambridgeltl/MTL-Bioinformatics-2016's files.
    _ner("BC5CDR-chem", "ner/BC5CDR-chem-IOB", "Chemical"),
    _ner("BC5CDR-disease", "ner/BC5CDR-disease-IOB", "Disease"),
    _ner("NCBI-disease", "ner/NCBI-disease-IOB", "Disease"),
    _ner("BC2GM", "ner/BC2GM-IOB", "GENE"),
    _ner("JNLPBA", "ner/JNLPBA", "DNA", "RNA", "cell_line", "cell_type", "protein"),
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


def _read_text(path: str) -> str:
    """The file as text. BLURB's files are UTF-8: a byte sequence that is not is an error naming
    the first bad line; a UTF-8 byte-order mark at the start is dropped (editors on Windows write
    one, and it would otherwise glue itself to the first word or header)."""
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{path} does not exist")
    with tf.io.gfile.GFile(path, "rb") as f:
        data = f.read()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError(f"{path}:1: the file is UTF-16 (it starts with a UTF-16 byte-order mark); "
                        "BLURB's files are UTF-8: convert it (iconv -f UTF-16 -t UTF-8)")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise DataError(f"{path}:{line}: not UTF-8 (byte 0x{data[error.start]:02x} at column "
                        f"{column}); BLURB's files are UTF-8: convert the file "
                        "(e.g. iconv -f LATIN1 -t UTF-8)") from None


def _lines(path: str) -> list[str]:
    """The file's lines, numbered from 1 by their index + 1; a Windows line end (CRLF) counts as
    a line end."""
    return [line[:-1] if line.endswith("\r") else line
            for line in _read_text(path).split("\n")]


def _closest(tag: str, valid: Sequence[str]) -> str:
    match = difflib.get_close_matches(tag, list(valid), n=1, cutoff=0.0)
    return f" (did you mean {match[0]!r}?)" if match else ""


_IOB_TAG = re.compile(r"(?P<prefix>[BI])(?:-(?P<type>\S+))?")


class _TagCheck:
    """The tags of one NER file, checked as they are read (`check(tag)` returns what is wrong,
    or None).

    A tag is `O`, or `B`/`I` either typed (`B-Chemical`, as the MTL-Bioinformatics-2016 files
    that BLURB's NER data come from) or untyped (`B`, as BLURB's own generated files): a file is
    all one or the other. Typed tags must name one of the task's entity types. Outside the
    training file, a tag must also occur in the training file (`train_tags`): the model's tag set
    is the training data's, as in BLURB, so another tag could never be predicted.
    """

    def __init__(self, task: Task | None, train_tags: frozenset[str] | None = None,
                 train_path: str = ""):
        self.task = task
        self.types = task.entity_types if task is not None else ()
        self.train_tags = train_tags
        self.train_path = train_path
        self.first: tuple[int, str] | None = None  # (line, tag) of the first B/I tag
        self.typed: bool | None = None

    def valid(self) -> list[str]:
        typed = [f"{prefix}-{kind}" for kind in self.types for prefix in "BI"]
        if self.typed is None:
            return ["O", *typed, "B", "I"]
        return ["O", *typed] if self.typed else ["O", "B", "I"]

    def check(self, tag: str, number: int) -> str | None:
        if tag == "O":
            return self._in_train(tag)
        match = _IOB_TAG.fullmatch(tag)
        if match is None:
            return (f"malformed tag {tag!r}: IOB tags are O, B-<type>, I-<type>, or untyped B, "
                    f"I{_closest(tag, self.valid())}")
        typed = match.group("type") is not None
        if self.typed is None:
            self.typed, self.first = typed, (number, tag)
        elif typed != self.typed:
            line, first = self.first
            return (f"tag {tag!r} is {'typed' if typed else 'untyped'} but line {line} has "
                    f"{first!r}: a file's tags are all typed (B-Chemical) or all untyped (B)")
        if typed and self.types and match.group("type") not in self.types:
            return (f"tag {tag!r} is not a {self.task.name} tag (its entity "
                    f"type{'s are' if len(self.types) > 1 else ' is'} {', '.join(self.types)})"
                    f"{_closest(tag, self.valid())}")
        return self._in_train(tag)

    def _in_train(self, tag: str) -> str | None:
        if self.train_tags is None or tag in self.train_tags:
            return None
        return (f"tag {tag!r} never occurs in {self.train_path}, so the model cannot learn it"
                f"{_closest(tag, sorted(self.train_tags))}")


class _PicoCheck(_TagCheck):
    """EBM-NLP as BLURB ships it: IO tags only (`I-PAR`, `I-INT`, `I-OUT`, `O`)."""

    def check(self, tag: str, number: int) -> str | None:
        if tag not in PICO_TAGS:
            return (f"tag {tag!r} is not an EBM-PICO tag: BLURB's PICO files are IO-tagged "
                    f"({', '.join(PICO_TAGS)}; no B- tags, which its scorer would not count)"
                    f"{_closest(tag, PICO_TAGS)}")
        return self._in_train(tag)


def _read_tagged(path: str, check: _TagCheck, expected: str) -> list[Example]:
    """`word<TAB>tag` lines, a blank line between sentences; `-DOCSTART-` lines (EBM-NLP's
    `-DOCSTART- (PMID)`, JNLPBA's `-DOCSTART-<TAB>O`) end a sentence and carry no word. Guids
    are `path:first line`; word i of a sentence is on its first line + i."""
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
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0] or not fields[1]:
            raise DataError(f"{path}:{number}: expected 'word<TAB>{expected}', got {line!r}")
        problem = check.check(fields[1], number)
        if problem:
            raise DataError(f"{path}:{number}: {problem}")
        words.append(fields[0])
        tags.append(fields[1])
    if words:
        examples.append(Example(f"{path}:{start}", words, tags))
    return examples


def read_iob(path: str, task: Task | None = None, train_tags: frozenset[str] | None = None,
             train_path: str = "") -> list[Example]:
    """NER files: IOB tags, typed (`B-x`, `I-x`, `O`) or untyped (`B`, `I`, `O`), one scheme per
    file; with `task`, typed tags must be of its entity types; with `train_tags`, every tag must
    occur in the training file `train_path` (see `_TagCheck`)."""
    return _read_tagged(path, _TagCheck(task, train_tags, train_path), "B-x|I-x|B|I|O")


def read_pico(path: str, train_tags: frozenset[str] | None = None,
              train_path: str = "") -> list[Example]:
    """EBM-NLP as BLURB ships it: IO tags only (`I-PAR`, `I-INT`, `I-OUT`, `O`). A `B-` tag or
    another type is an error: BLURB's scorer counts only the three I- classes, so such a word
    would silently drop out of the score."""
    return _read_tagged(path, _PicoCheck(TASKS["EBM-PICO"], train_tags, train_path),
                        "|".join(PICO_TAGS))


def _tsv_rows(path: str, columns: int, header: tuple[str, ...] | None,
              optional_header: tuple[str, ...] | None = None) -> list[tuple[int, list[str]]]:
    """(line number, fields) of the non-blank lines after the `header` (required) or the
    `optional_header` (skipped when line 1 is exactly it)."""
    rows = []
    lines = _lines(path)
    first = 1
    if header is not None:
        if tuple(lines[0].split("\t")) != header:
            raise DataError(f"{path}:1: expected the header {header}, got {lines[0]!r}")
        lines, first = lines[1:], 2
    elif optional_header is not None and tuple(lines[0].split("\t")) == optional_header:
        lines, first = lines[1:], 2
    for number, line in enumerate(lines, start=first):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != columns:
            names = f" ({', '.join(header)})" if header else ""
            raise DataError(f"{path}:{number}: expected {columns} tab-separated fields{names}, "
                            f"got {len(fields)}")
        rows.append((number, fields))
    return rows


def _unique(path: str, number: int, guid: str, seen: dict[str, int], what: str = "id") -> None:
    if guid in seen:
        raise DataError(f"{path}:{number}: {what} {guid!r} already appears on line {seen[guid]}")
    seen[guid] = number


# The header BLUE's converters (which BLURB's ChemProt data comes from) write on line 1.
RELATION_HEADER = ("index", "sentence", "label")


def read_relation(path: str, labels: tuple[str, ...] = ()) -> list[Example]:
    """`id<TAB>sentence with @ENTITY$ masks<TAB>label` (ChemProt, DDI, GAD), with or without the
    header `index sentence label` that BLUE's converters write. An id may repeat: those converters
    write a chemical-gene pair once per relation it has."""
    examples = []
    for number, (guid, sentence, label) in _tsv_rows(path, 3, None, RELATION_HEADER):
        if labels and label not in labels:
            raise DataError(f"{path}:{number}: unknown label {label!r} (expected one of "
                            f"{', '.join(labels)}){_closest(label, labels)}")
        examples.append(Example(guid, sentence.strip(), label))
    return examples


_HOC_INDEX = re.compile(r"[^_\s]+_s\d+")  # PMID_sN: sentence N of document PMID


def read_hoc(path: str) -> list[Example]:
    """Header `labels sentence index`; labels `0_0,1_1,...`: each of the 10 hallmarks once, 0 or
    1; index `PMID_sN` (sentence N of document PMID: the scorer merges a document's sentences),
    each once."""
    examples = []
    seen: dict[str, int] = {}
    for number, (labels, sentence, index) in _tsv_rows(path, 3, ("labels", "sentence", "index")):
        pairs = [item.split("_") for item in labels.split(",")]
        keys = [pair[0] for pair in pairs]
        if (any(len(pair) != 2 or pair[1] not in ("0", "1") for pair in pairs)
                or sorted(keys) != sorted(str(k) for k in range(HOC_LABELS))):
            raise DataError(f"{path}:{number}: bad labels {labels!r}: expected each hallmark "
                            f"0-{HOC_LABELS - 1} once as <hallmark>_<0 or 1>, e.g. "
                            f"{','.join(f'{k}_0' for k in range(3))},...")
        if not _HOC_INDEX.fullmatch(index):
            raise DataError(f"{path}:{number}: index {index!r} is not PMID_sN (sentence N of "
                            "document PMID), which the document-level scorer reads")
        _unique(path, number, index, seen, "index")
        vector = tuple(int(dict(pairs)[str(k)]) for k in range(HOC_LABELS))
        examples.append(Example(index, sentence.strip(), vector))
    return examples


BIOSSES_SCALE = (0.0, 4.0)


def read_biosses(path: str) -> list[Example]:
    """Header `pair_id sent1 sent2 score`, scores 0-4 (the mean of five annotators' 0-4), each
    pair_id once."""
    examples = []
    seen: dict[str, int] = {}
    low, high = BIOSSES_SCALE
    for number, (pair, first, second, score) in _tsv_rows(
            path, 4, ("pair_id", "sent1", "sent2", "score")):
        try:
            value = float(score)
        except ValueError:
            raise DataError(f"{path}:{number}: score {score!r} is not a number") from None
        if not low <= value <= high:  # also NaN
            raise DataError(f"{path}:{number}: score {score!r} is outside BIOSSES' scale "
                            f"{low:g}-{high:g}")
        _unique(path, number, pair, seen, "pair_id")
        examples.append(Example(pair, first.strip(), value, second.strip()))
    return examples


class _RepeatedKey(ValueError):
    pass


def _json_object(pairs: list[tuple[str, object]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise _RepeatedKey(key)
        result[key] = value
    return result


def read_pubmedqa(path: str) -> list[Example]:
    """PubMedQA's JSON (`{pmid: {QUESTION, CONTEXTS, final_decision, ...}}`): the question
    against its contexts joined, as BLURB feeds it; the label is yes/no/maybe. A PMID (or any key
    of one object) given twice is an error: JSON readers keep the last silently."""
    try:
        records = json.loads(_read_text(path), object_pairs_hook=_json_object)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{error.lineno}: not valid JSON: {error.msg} (column "
                        f"{error.colno})") from None
    except _RepeatedKey as error:
        raise DataError(f"{path}: key {error.args[0]!r} appears twice in one object (a JSON "
                        "reader would keep the last silently)") from None
    if not isinstance(records, dict):
        raise DataError(f"{path}: expected PubMedQA's JSON object {{PMID: record}}, got a JSON "
                        f"{_json_type(records)}")
    examples = []
    for pmid, record in records.items():
        if not isinstance(record, dict):
            raise DataError(f"{path}: record {pmid} is a JSON {_json_type(record)}, not an object")
        missing = [key for key in ("QUESTION", "CONTEXTS", "final_decision") if key not in record]
        if missing:
            raise DataError(f"{path}: record {pmid} lacks {', '.join(missing)}")
        question, contexts, label = (record[k] for k in ("QUESTION", "CONTEXTS", "final_decision"))
        if not isinstance(question, str) or not isinstance(label, str):
            raise DataError(f"{path}: record {pmid}: QUESTION and final_decision must be strings")
        if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
            raise DataError(f"{path}: record {pmid}: CONTEXTS must be a list of strings, got "
                            f"{json.dumps(contexts)[:60]}")
        examples.append(Example(pmid, question, label, " ".join(contexts)))
    return examples


def _json_type(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean",
            type(None): "null"}.get(type(value), "number")


def read_bioasq(path: str) -> list[Example]:
    """BLURB's BioASQ yes/no files: `id<TAB>question<TAB>snippets<TAB>yes|no`, no header, each
    id once (the question against the concatenated snippets, as for PubMedQA)."""
    examples = []
    seen: dict[str, int] = {}
    for number, (guid, question, context, label) in _tsv_rows(path, 4, None):
        if label not in ("yes", "no"):
            raise DataError(f"{path}:{number}: label {label!r} is not yes/no")
        _unique(path, number, guid, seen)
        examples.append(Example(guid, question.strip(), label, context.strip()))
    return examples


READERS = {"iob": read_iob, "pico": read_pico, "relation": read_relation, "hoc": read_hoc,
           "biosses": read_biosses, "pubmedqa": read_pubmedqa, "bioasq": read_bioasq}

# Tags of training files already read: {(path, size, mtime): tags}; reading dev needs them.
_TRAIN_TAGS: dict[tuple[str, int, int], frozenset[str]] = {}


def _file_key(path: str) -> tuple[str, int, int]:
    stat = tf.io.gfile.stat(path)
    return path, stat.length, stat.mtime_nsec


def _read_tokens(task: Task, path: str, train_tags: frozenset[str] | None = None,
                 train_path: str = "") -> list[Example]:
    if task.reader == "pico":
        return read_pico(path, train_tags, train_path)
    return read_iob(path, task, train_tags, train_path)


def train_tags(task: Task, data_dir: str) -> frozenset[str]:
    """The tag set of a token task: the tags of its training file, as in BLURB."""
    path = task.path(data_dir, "train")
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{path} does not exist: {task.name}'s tags are those of its "
                                "training file")
    key = _file_key(path)
    if key not in _TRAIN_TAGS:
        _TRAIN_TAGS[key] = frozenset(t for e in _read_tokens(task, path) for t in e.label)
    return _TRAIN_TAGS[key]


def read_split(task: Task, data_dir: str, split: str) -> list[Example]:
    """The examples of one split of `task` under a BLURB data directory. For token tasks, a tag
    of dev or test that the training file never has is an error (the training file is read too,
    once per process)."""
    path = task.path(data_dir, split)
    if task.head == "token":
        if split == "train":
            examples = _read_tokens(task, path)
            _TRAIN_TAGS[_file_key(path)] = frozenset(t for e in examples for t in e.label)
        else:
            examples = _read_tokens(task, path, train_tags(task, data_dir),
                                    task.path(data_dir, "train"))
    elif task.reader == "relation":
        examples = read_relation(path, task.labels)
    else:
        examples = READERS[task.reader](path)
    if not examples:
        raise DataError(f"{path}: holds no example")
    if task.labels and task.head == "sequence":
        for example in examples:
            if example.label not in task.labels:
                raise DataError(f"{path}: {example.guid} has unknown label {example.label!r} "
                                f"(expected one of {', '.join(task.labels)})"
                                f"{_closest(str(example.label), task.labels)}")
    return examples


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]
