"""The file formats of the tasks, read exactly as they are distributed: BLURB's as its data-generation scripts
(and the NER sources, cambridgeltl/MTL-Bioinformatics-2016) write them, MedNLI's JSON lines as PhysioNet
ships them (and the BioNLP 2019 MEDIQA test with its ground-truth CSV), BLUE's clinical tasks as BLUE's
preprocessing writes them. A malformed line is an error naming the file and line, never a silently dropped
example. Every reader takes the file's path and, optionally, the `Files` to read it through
(`evaluation.files`; local paths by default)."""

from __future__ import annotations

import codecs
import csv
import json
import math
import re

from evaluation.files import LOCAL, Files
from evaluation.tags import PicoCheck, TagCheck
from evaluation.tasks import (HOC_LABELS, MEDNLI_LABELS, PICO_TAGS, DataError, Example, Task,
                              did_you_mean)


class UnreadableError(DataError):
    """A file that is there but does not hold the data: it cannot be read (permission denied), it is an
    HTML page (a sign-in or error page saved under the data file's name, as a download without access
    gets), or its labels are in a file that is not beside it (the MEDIQA 2019 test's ground truth).
    `evaluation.layouts.read_split` adds where the task's data comes from."""


def read_bytes(path: str, files: Files = LOCAL) -> bytes:
    try:
        return files.read(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist") from None
    except PermissionError:
        raise UnreadableError(f"{path}: cannot be read (permission denied)") from None


_HTML = ("<!doctype html", "<html")


def decode(data: bytes, path: str, whose: str = "BLURB's") -> str:
    """The file as text. The files (`whose`: BLURB's, MedNLI's, BLUE's) are UTF-8: a byte sequence that
    is not is an error naming the first bad line; a UTF-8 byte-order mark at the start is dropped
    (editors on Windows write one, and it would otherwise glue itself to the first word or header). An
    HTML page is an error too (`UnreadableError`)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError(f"{path}:1: the file is UTF-16 (it starts with a UTF-16 byte-order mark); "
                        f"{whose} files are UTF-8: convert it (iconv -f UTF-16 -t UTF-8)")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    if data.lstrip()[:16].lower().startswith(tuple(m.encode() for m in _HTML)):
        raise UnreadableError(f"{path}:1: an HTML page, not the data (a sign-in or error page saved under "
                              "the file's name: a download without access gets one)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise DataError(f"{path}:{line}: not UTF-8 (byte 0x{data[error.start]:02x} at column "
                        f"{column}); {whose} files are UTF-8: convert the file "
                        "(e.g. iconv -f LATIN1 -t UTF-8)") from None


def read_text(path: str, files: Files = LOCAL, whose: str = "BLURB's") -> str:
    return decode(read_bytes(path, files), path, whose)


def lines(text: str) -> list[str]:
    """The text's lines, numbered from 1 by their index + 1; a Windows line end (CRLF) counts as
    a line end."""
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


# -- NER and PICO: word<TAB>tag ----------------------------------------------------------------------


# BLUE's NER files (BC5CDR, ShARe/CLEFE): the word, the source document, the word's character offset in
# it, the tag.
BLUE_NER_COLUMNS = ("word", "file", "offset")
_OFFSET = re.compile(r"\d+")


def parse_tagged(text: str, path: str, check: TagCheck, expected: str,
                 columns: tuple[str, ...] = ("word",)) -> list[Example]:
    """`word<TAB>tag` lines (or, with `columns`, those fields then the tag: BLUE's
    `word<TAB>file<TAB>offset<TAB>tag`), a blank line between sentences; `-DOCSTART-` lines (EBM-NLP's
    `-DOCSTART- (PMID)`, BLURB's JNLPBA `-DOCSTART- MEDLINE-ID`, MTL's `-DOCSTART-<TAB>O`) end a
    sentence and carry no word. Guids are `path:first line`; word i of a sentence is on its first
    line + i."""
    examples: list[Example] = []
    words: list[str] = []
    tags: list[str] = []
    start = 1
    layout = "<TAB>".join(columns)
    for number, line in enumerate(lines(text), start=1):
        if not line.strip() or line.startswith("-DOCSTART-"):
            if words:
                examples.append(Example(f"{path}:{start}", words, tags))
            words, tags, start = [], [], number + 1
            continue
        fields = line.split("\t")
        if len(fields) != len(columns) + 1 or not all(fields):
            raise DataError(f"{path}:{number}: expected '{layout}<TAB>{expected}', got {line!r}")
        if "offset" in columns and not _OFFSET.fullmatch(fields[columns.index("offset")]):
            raise DataError(f"{path}:{number}: offset {fields[columns.index('offset')]!r} is not a "
                            f"number (expected '{layout}<TAB>{expected}')")
        problem = check.check(fields[-1], number)
        if problem:
            raise DataError(f"{path}:{number}: {problem}")
        words.append(fields[0])
        tags.append(fields[-1])
    if words:
        examples.append(Example(f"{path}:{start}", words, tags))
    return examples


def example_line(guid: str) -> int:
    """The first line of a token example in its file, from its guid (`path:first line`, as `parse_tagged` makes it)."""
    return int(guid.rsplit(":", 1)[1])


def document_starts(text: str) -> list[tuple[int, str]]:
    """(line number, what follows the marker) of every `-DOCSTART-` line of a token file: EBM-NLP's
    `-DOCSTART- (PMID)` gives `(PMID)`, MTL's `-DOCSTART-<TAB>O` gives `O`. The examples of a document are
    those whose first line (`example_line`) lies after its `-DOCSTART-` line and before the next one."""
    return [(number, line[len("-DOCSTART-"):].strip()) for number, line in enumerate(lines(text), start=1)
            if line.startswith("-DOCSTART-")]


IOB_EXPECTED = "B-x|I-x|B|I|O"
PICO_EXPECTED = "|".join(PICO_TAGS)


def parse_tokens(text: str, path: str, task: Task, train_tags: frozenset[str] | None = None,
                 train_path: str = "") -> list[Example]:
    """A token task's file (NER or PICO) from its text."""
    if task.reader == "pico":
        return parse_tagged(text, path, PicoCheck(train_tags, train_path), PICO_EXPECTED)
    columns = BLUE_NER_COLUMNS if task.reader == "blue_ner" else ("word",)
    return parse_tagged(text, path, TagCheck(task, train_tags, train_path), IOB_EXPECTED, columns)


def read_iob(path: str, task: Task | None = None, train_tags: frozenset[str] | None = None,
             train_path: str = "", files: Files = LOCAL) -> list[Example]:
    """NER files: IOB tags, typed (`B-x`, `I-x`, `O`) or untyped (`B`, `I`, `O`), one scheme per
    file; with `task`, typed tags must be of its entity types; with `train_tags`, every tag must
    occur in the training file `train_path` (see `evaluation.tags.TagCheck`)."""
    return parse_tagged(read_text(path, files), path, TagCheck(task, train_tags, train_path),
                        IOB_EXPECTED)


def read_blue_ner(path: str, task: Task | None = None, train_tags: frozenset[str] | None = None,
                  train_path: str = "", files: Files = LOCAL) -> list[Example]:
    """BLUE's NER files (ShARe/CLEFE; BLUE writes BC5CDR so too): `word<TAB>file<TAB>offset<TAB>tag`, the
    source document and the word's character offset in it (not read further), IOB tags as for `read_iob`."""
    return parse_tagged(read_text(path, files, "BLUE's"), path, TagCheck(task, train_tags, train_path),
                        IOB_EXPECTED, BLUE_NER_COLUMNS)


def read_pico(path: str, train_tags: frozenset[str] | None = None, train_path: str = "",
              files: Files = LOCAL) -> list[Example]:
    """EBM-NLP as BLURB ships it: IO tags only (`I-PAR`, `I-INT`, `I-OUT`, `O`). A `B-` tag or
    another type is an error: BLURB's scorer counts only the three I- classes, so such a word
    would silently drop out of the score."""
    return parse_tagged(read_text(path, files), path, PicoCheck(train_tags, train_path),
                        PICO_EXPECTED)


# -- tab-separated rows --------------------------------------------------------------------------------


def _tsv_rows(path: str, files: Files, columns: int, header: tuple[str, ...] | None,
              optional_header: tuple[str, ...] | None = None,
              whose: str = "BLURB's") -> list[tuple[int, list[str]]]:
    """(line number, fields) of the non-blank lines after the `header` (required) or the
    `optional_header` (skipped when line 1 is exactly it)."""
    rows = []
    text = lines(read_text(path, files, whose))
    first = 1
    if header is not None:
        if tuple(text[0].split("\t")) != header:
            raise DataError(f"{path}:1: expected the header {header}, got {text[0]!r}")
        text, first = text[1:], 2
    elif optional_header is not None and tuple(text[0].split("\t")) == optional_header:
        text, first = text[1:], 2
    for number, line in enumerate(text, start=first):
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


# The header BLUE's converters (which BLURB's ChemProt data comes from) and BLURB's GAD split write
# on line 1.
RELATION_HEADER = ("index", "sentence", "label")


def read_relation(path: str, labels: tuple[str, ...] = (), files: Files = LOCAL,
                  whose: str = "BLURB's") -> list[Example]:
    """`id<TAB>sentence with @ENTITY$ masks<TAB>label` (ChemProt, DDI, GAD; BLUE's i2b2 2010 with
    `@problem$`, `@treatment$`, `@test$`), with or without the header `index sentence label` (BLURB
    writes it on GAD's files, not on ChemProt's or DDI's; BLUE's converters on theirs). An id may
    repeat: BLUE's ChemProt converter writes a chemical-gene pair once per relation it has."""
    examples = []
    for number, (guid, sentence, label) in _tsv_rows(path, files, 3, None, RELATION_HEADER, whose):
        if labels and label not in labels:
            raise DataError(f"{path}:{number}: unknown label {label!r} (expected one of "
                            f"{', '.join(labels)}){did_you_mean(label, labels)}")
        examples.append(Example(guid, sentence.strip(), label))
    return examples


_HOC_INDEX = re.compile(r"[^_\s]+_s\d+")  # PMID_sN: sentence N of document PMID


def read_hoc(path: str, files: Files = LOCAL) -> list[Example]:
    """Header `labels sentence index`; labels `0_0,1_1,...`: each of the 10 hallmarks once, 0 or
    1; index `PMID_sN` (sentence N of document PMID: the scorer merges a document's sentences),
    each once."""
    examples = []
    seen: dict[str, int] = {}
    for number, (labels, sentence, index) in _tsv_rows(path, files, 3,
                                                       ("labels", "sentence", "index")):
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


def read_biosses(path: str, files: Files = LOCAL) -> list[Example]:
    """Header `pair_id sent1 sent2 score`, scores 0-4 (the mean of five annotators' 0-4), each
    pair_id once."""
    examples = []
    seen: dict[str, int] = {}
    low, high = BIOSSES_SCALE
    for number, (pair, first, second, score) in _tsv_rows(
            path, files, 4, ("pair_id", "sent1", "sent2", "score")):
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


def read_bioasq(path: str, files: Files = LOCAL) -> list[Example]:
    """BLURB's BioASQ yes/no files: `id<TAB>question<TAB>snippets<TAB>yes|no`, no header, each
    id once (the question against the concatenated snippets, as for PubMedQA)."""
    examples = []
    seen: dict[str, int] = {}
    for number, (guid, question, context, label) in _tsv_rows(path, files, 4, None):
        if label not in ("yes", "no"):
            raise DataError(f"{path}:{number}: label {label!r} is not yes/no")
        _unique(path, number, guid, seen)
        examples.append(Example(guid, question.strip(), label, context.strip()))
    return examples


# -- PubMedQA: JSON ---------------------------------------------------------------------------------


class _RepeatedKey(ValueError):
    pass


def _json_object(pairs: list[tuple[str, object]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise _RepeatedKey(key)
        result[key] = value
    return result


def _json_type(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean",
            type(None): "null"}.get(type(value), "number")


def read_pubmedqa(path: str, files: Files = LOCAL) -> list[Example]:
    """PubMedQA's JSON (`{pmid: {QUESTION, CONTEXTS, final_decision, ...}}`: `ori_pqal.json` and
    the splits its `split_dataset.py` writes): the question against its contexts joined, as BLURB
    feeds it; the label is yes/no/maybe. A PMID (or any key of one object) given twice is an error:
    JSON readers keep the last silently."""
    try:
        records = json.loads(read_text(path, files), object_pairs_hook=_json_object)
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


# -- MedNLI: SNLI-style JSON lines (PhysioNet), and the MEDIQA 2019 test's ground-truth CSV ------------------

MEDNLI_FIELDS = ("sentence1", "sentence2", "pairID")
GROUND_TRUTH_HEADER = ("pair_id", "label")
GROUND_TRUTH_SUFFIX = "_ground_truth.csv"


def ground_truth_path(path: str) -> str:
    """The ground-truth CSV beside a JSON-lines file without labels, as the BioNLP 2019 MEDIQA task
    released its NLI test: `mednli_bionlp_shared_task.jsonl` -> `mednli_bionlp_shared_task_ground_truth.csv`."""
    stem = path[:-len(".jsonl")] if path.endswith(".jsonl") else path
    return stem + GROUND_TRUTH_SUFFIX


def _label_problem(label: object, labels: tuple[str, ...]) -> str | None:
    if not isinstance(label, str):
        return f"gold_label is a JSON {_json_type(label)}, not a string"
    if label in labels:
        return None
    if label == "-":
        return ("gold_label '-' (SNLI's mark for pairs without a majority label; MedNLI has none): "
                f"expected one of {', '.join(labels)}")
    return f"unknown gold_label {label!r} (expected one of {', '.join(labels)}){did_you_mean(label, labels)}"


def read_ground_truth(path: str, files: Files = LOCAL,
                      labels: tuple[str, ...] = MEDNLI_LABELS) -> dict[str, tuple[str, int]]:
    """The MEDIQA 2019 NLI ground truth: a CSV with the header `pair_id,label`, one row per pair
    (`{pair_id: (label, line)}`); each pair_id once, each label one of `labels`."""
    text = lines(read_text(path, files, "MedNLI's"))
    rows = list(csv.reader(text))
    if not rows or tuple(rows[0]) != GROUND_TRUTH_HEADER:
        found = text[0] if text else ""
        raise DataError(f"{path}:1: expected the header {','.join(GROUND_TRUTH_HEADER)}, got {found!r}")
    truth: dict[str, tuple[str, int]] = {}
    seen: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2 or not row[0]:
            raise DataError(f"{path}:{number}: expected 2 comma-separated fields (pair_id,label), got "
                            f"{len(row)}")
        pair, label = row
        if label not in labels:
            raise DataError(f"{path}:{number}: unknown label {label!r} (expected one of "
                            f"{', '.join(labels)}){did_you_mean(label, labels)}")
        _unique(path, number, pair, seen, "pair_id")
        truth[pair] = (label, number)
    return truth


def read_mednli(path: str, files: Files = LOCAL, labels: tuple[str, ...] = MEDNLI_LABELS) -> list[Example]:
    """MedNLI as PhysioNet ships it (`mli_{train,dev,test}_v1.jsonl`): one JSON object per line, SNLI's
    fields; `sentence1` (the premise), `sentence2` (the hypothesis) and `gold_label` (entailment,
    contradiction, neutral) are read, `pairID` is the example's id (each once), the parse fields are
    ignored. A file without labels (the MEDIQA 2019 test, `mednli_bionlp_shared_task.jsonl`) takes them
    from the ground-truth CSV beside it (`..._ground_truth.csv`, `pair_id,label`): every pair must have
    exactly one label there, every label a pair, and a `gold_label` the file does give must agree."""
    truth_path = ground_truth_path(path)
    truth = read_ground_truth(truth_path, files, labels) if files.exists(truth_path) else None
    examples = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines(read_text(path, files, "MedNLI's")), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, object_pairs_hook=_json_object)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{number}: not a JSON object: {error.msg} (column {error.colno}); "
                            "MedNLI's files hold one JSON object per line") from None
        except _RepeatedKey as error:
            raise DataError(f"{path}:{number}: key {error.args[0]!r} appears twice (a JSON reader would "
                            "keep the last silently)") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: a JSON {_json_type(record)}, not an object with "
                            f"{', '.join(MEDNLI_FIELDS)} and gold_label")
        missing = [key for key in MEDNLI_FIELDS if key not in record]
        if truth is None and "gold_label" not in record:
            missing.append("gold_label")
        if missing == ["gold_label"]:
            raise UnreadableError(f"{path}:{number}: lacks gold_label (no {truth_path.rsplit('/', 1)[-1]} "
                                  "beside it to take the labels from)")
        if missing:
            raise DataError(f"{path}:{number}: lacks {', '.join(missing)}")
        wrong = [key for key in MEDNLI_FIELDS if not isinstance(record[key], str) or not record[key].strip()]
        if wrong:
            raise DataError(f"{path}:{number}: {', '.join(wrong)} must be non-empty strings")
        pair = record["pairID"]
        _unique(path, number, pair, seen, "pairID")
        given = record.get("gold_label")
        if truth is None:
            problem = _label_problem(given, labels)
            if problem:
                raise DataError(f"{path}:{number}: {problem}")
            label = given
        else:
            if pair not in truth:
                raise DataError(f"{path}:{number}: pairID {pair!r} has no label in {truth_path}")
            label, truth_line = truth[pair]
            if given not in (None, "") and given != label:
                raise DataError(f"{path}:{number}: gold_label {given!r} disagrees with {truth_path}:"
                                f"{truth_line} ({label!r})")
        examples.append(Example(pair, record["sentence1"].strip(), label, record["sentence2"].strip()))
    if truth is not None:
        extra = [(line, pair) for pair, (_, line) in truth.items() if pair not in seen]
        if extra:
            line, pair = min(extra)
            raise DataError(f"{truth_path}:{line}: pair_id {pair!r} is in no line of {path} "
                            f"({len(extra)} such pair_id{'s' if len(extra) > 1 else ''})")
    return examples


# -- BLUE's MedSTS: a TSV with named columns -----------------------------------------------------------------

MEDSTS_COLUMNS = ("index", "sentence1", "sentence2", "score")
MEDSTS_SCALE = (0.0, 5.0)


def read_medsts(path: str, files: Files = LOCAL) -> list[Example]:
    """BLUE's sentence-similarity TSV (MedSTS): a header naming the columns, of which `index`,
    `sentence1`, `sentence2` and `score` are read by name (BLUE's own evaluation reads its TSVs with
    pandas, by column name; other columns, as GLUE's STS-B layout has, are allowed); each index once,
    scores on MedSTS' 0-5 scale."""
    text = lines(read_text(path, files, "BLUE's"))
    header = text[0].split("\t")
    missing = [name for name in MEDSTS_COLUMNS if name not in header]
    if missing:
        raise DataError(f"{path}:1: expected a header with the columns {', '.join(MEDSTS_COLUMNS)} "
                        f"(tab-separated), got {text[0]!r}")
    where = {name: header.index(name) for name in MEDSTS_COLUMNS}
    low, high = MEDSTS_SCALE
    examples = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataError(f"{path}:{number}: expected {len(header)} tab-separated fields "
                            f"({', '.join(header)}), got {len(fields)}")
        index, first, second, score = (fields[where[name]] for name in MEDSTS_COLUMNS)
        try:
            value = float(score)
        except ValueError:
            raise DataError(f"{path}:{number}: score {score!r} is not a number") from None
        if not low <= value <= high or math.isnan(value):
            raise DataError(f"{path}:{number}: score {score!r} is outside MedSTS' scale {low:g}-{high:g}")
        _unique(path, number, index, seen, "index")
        examples.append(Example(index, first.strip(), value, second.strip()))
    return examples


READERS = {"iob": read_iob, "pico": read_pico, "relation": read_relation, "hoc": read_hoc,
           "biosses": read_biosses, "pubmedqa": read_pubmedqa, "bioasq": read_bioasq,
           "mednli": read_mednli, "medsts": read_medsts, "blue_ner": read_blue_ner}
