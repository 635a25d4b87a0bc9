"""Benchmark decontamination: which documents of a corpus hold an evaluation benchmark's examples, matched by
identifier and by text; plain Python (no Beam). The corpus job's step is `pipelines.corpus_decontaminate`, the
audit of an existing corpus `pipelines.contamination`; docs/contamination.md has the method and its limits.

- Identifiers: every PMID the task files carry (`guid_pmid`, `docstart_pmid`): PubMedQA's keys, HoC's `PMID_sN` indexes,
  ChemProt's `PMID.Tx.Ty` ids, EBM-NLP's `-DOCSTART- (PMID)` lines. The other BLURB files carry none (DDI's
  `DDI-MedLine.dN` and JNLPBA's `-DOCSTART-` name no PMID; GAD, BIOSSES, BioASQ and the NER files number rows).
- Text: word n-grams (`ngram_hashes`, 13 words by default) of every example's text, normalised as
  `corpus.minhash.normalised_words` does (NFKC, case folding, `\\w+` runs: BLURB's `dose - dependent` and `( IL -
  2 )` give the words of the raw `dose-dependent` and `(IL-2)`). Entity masks (`@GENE$`) split a text, so no n-gram
  spans one and no mask becomes a word; labels are never read as text. A token file's examples (sentences) are
  joined per document (between `-DOCSTART-` lines, else the whole file), as they follow each other in the abstract,
  so that a title or sentence shorter than n is still covered; each n-gram belongs to the example it starts in.
- The index (`Index`): sorted 64-bit n-gram hashes with, for each, the example it came from (12 bytes an entry;
  BLURB's dev and test sets make ~2-3 million: tens of MB), the PMIDs, and per task and split what was indexed.
  It is built once (the launcher), written as one file, and loaded once per worker process (`load_index`).
- Judging a document (`judge`): its PMID (for PMC articles, the PMID they are linked to) against the index's, its
  sentences' n-grams against the index; `min_matches` distinct n-grams make a text match.
"""
from __future__ import annotations

import bisect
import dataclasses
import functools
import hashlib
import io
import itertools
import json
import logging
import re
from typing import Callable, Iterable, NamedTuple, Optional, Sequence

import numpy as np

from corpus import identifiers
from corpus.assemble import ABSTRACT, TITLE, CorpusDocument
from corpus.minhash import WordHashes, normalised_words
from evaluation import layouts, readers
from evaluation.files import LOCAL, Files
from evaluation.tasks import ALL_TASKS, DataError, Task

LOG = logging.getLogger(__name__)

REMOVE, REPORT = "remove", "report"
DOCUMENT, SENTENCE = "document", "sentence"
BY_PMID, BY_TEXT = "pmid", "text"
SPLITS = ("train", "dev", "test")
MAX_NGRAM = 64


@dataclasses.dataclass(frozen=True)
class DecontaminationConfig:
    """The corpus job's decontamination settings (`--exclude-benchmark`, `--exclude-splits`, `--decontamination`,
    `--decontamination-scope`, `--decontamination-ngram`, `--decontamination-min-matches`)."""

    benchmarks: tuple[str, ...] = ()
    splits: tuple[str, ...] = ("dev", "test")
    mode: str = REMOVE  # REMOVE, or REPORT: nothing changes, matches are only counted and listed
    scope: str = DOCUMENT  # DOCUMENT: a contaminated document goes whole; SENTENCE: only what carries the match
    ngram: int = 13  # words per n-gram (GPT-3's decontamination used 13)
    min_matches: int = 1  # distinct benchmark n-grams a document must hold to be contaminated by text


# --- Text: normalised words and their n-gram hashes ---------------------------------------------------------------

# Entity masks of the relation files: @GENE$, @CHEMICAL$, @CHEM-GENE$, @DRUG$, @DISEASE$, i2b2's @problem$, ...
MASK = re.compile(r"@[A-Za-z][\w-]*\$")
# The n-gram hash is polynomial in an odd base B (mod 2^64): h(p) = sum_k word(p + k) * B^k, computed for every p
# at once from prefix sums (S(p + n) - S(p)) * B^-p, then finalised (SplitMix64's mixer). B is odd, so B^-1 exists.
_BASE = 0x9E3779B97F4A7C15
_INVERSE = pow(_BASE, -1, 1 << 64)
_POWERS = np.ones(1, dtype=np.uint64)  # B^0, B^1, ... (grown on demand)
_INVERSES = np.ones(1, dtype=np.uint64)  # B^0, B^-1, ...


def _powers(length: int) -> tuple[np.ndarray, np.ndarray]:
    global _POWERS, _INVERSES
    if _POWERS.size < length:
        size = max(length, 2 * _POWERS.size, 1 << 12)
        with np.errstate(over="ignore"):
            _POWERS = np.cumprod(np.r_[np.uint64(1), np.full(size - 1, _BASE, dtype=np.uint64)], dtype=np.uint64)
            _INVERSES = np.cumprod(np.r_[np.uint64(1), np.full(size - 1, _INVERSE, dtype=np.uint64)],
                                   dtype=np.uint64)
    return _POWERS[:length], _INVERSES[:length]


_WORD_HASHES = WordHashes(lambda word: int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(),
                                                      "little"))  # 64-bit BLAKE2b of the word's UTF-8 bytes


def ngram_hashes(words: Sequence[str], n: int) -> np.ndarray:
    """64-bit hashes of every run of `n` consecutive words (none for fewer than `n` words). 64 bits, because the
    index is matched against billions of corpus n-grams: 32 would give thousands of false matches."""
    count = len(words) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    hashed = _WORD_HASHES.array(words)
    powers, inverses = _powers(len(words) + 1)
    with np.errstate(over="ignore"):
        prefix = np.zeros(len(words) + 1, dtype=np.uint64)
        np.cumsum(hashed * powers[:len(words)], dtype=np.uint64, out=prefix[1:])
        mixed = (prefix[n:] - prefix[:count]) * inverses[:count]
        mixed ^= mixed >> np.uint64(31)  # a finaliser (SplitMix64's), so that every bit depends on every word
        mixed *= np.uint64(0xBF58476D1CE4E5B9)
        mixed ^= mixed >> np.uint64(29)
    return mixed


def text_segments(text: str) -> list[list[str]]:
    """The normalised words of a benchmark text, cut at its entity masks (a mask is no word, and no n-gram
    spans one: the raw text has the entity's name there)."""
    return [words for part in MASK.split(text) if (words := normalised_words(part))]


# --- Identifiers --------------------------------------------------------------------------------------------------

# Per reader, the id formats that hold a PMID (anything else, e.g. GAD's and BIOSSES' row numbers, holds none).
_GUID_PMID = {
    "pubmedqa": re.compile(r"(\d+)"),  # PubMedQA's keys are PMIDs
    "hoc": re.compile(r"(\d+)_s\d+"),  # HoC: PMID_sN, sentence N of document PMID
    "relation": re.compile(r"(\d+)\.T\d+\.T\d+"),  # ChemProt: PMID.Tx.Ty (DDI's DDI-MedLine.dN.sN.pN is no PMID)
}
_DOCSTART_PMID = re.compile(r"\((\d+)\)")  # EBM-NLP's -DOCSTART- (PMID)


def guid_pmid(task: Task, guid: str) -> Optional[str]:
    pattern = _GUID_PMID.get(task.reader)
    match = pattern.fullmatch(guid) if pattern else None
    return identifiers.pmid(match.group(1)) if match else None


def docstart_pmid(marker: str) -> Optional[str]:
    match = _DOCSTART_PMID.fullmatch(marker)
    return identifiers.pmid(match.group(1)) if match else None


# --- Reading a benchmark directory ----------------------------------------------------------------------------------

class Unit(NamedTuple):
    """What one example gives the index: its id, its PMID (or None), and word runs (no n-gram spans two)."""

    guid: str
    pmid: Optional[str]
    runs: list[list[str]]


def _token_units(task: Task, path: str, files: Files) -> list[list[Unit]]:
    """A token file's examples grouped by document (its `-DOCSTART-` lines; else the whole file is one)."""
    text = readers.read_text(path, files, layouts.whose(task))
    examples = readers.parse_tokens(text, path, task)  # no training tags: only the words are read here
    starts = readers.document_starts(text)
    documents: list[list[Unit]] = [[] for _ in range(len(starts) + 1)]
    lines = [number for number, _ in starts]
    for example in examples:
        where = bisect.bisect_left(lines, readers.example_line(example.guid))
        pmid = docstart_pmid(starts[where - 1][1]) if where else None
        documents[where].append(Unit(example.guid, pmid, [normalised_words(" ".join(example.text_a))]))
    return [document for document in documents if document]


def _sequence_units(task: Task, located: layouts.Located, split: str, files: Files) -> list[list[Unit]]:
    """Every example on its own: its text fields (never its label), each cut at the masks."""
    units = []
    for example in layouts.read_split(task, located, split, files):
        runs = [run for text in (example.text_a, example.text_b) if isinstance(text, str)
                for run in text_segments(text)]
        units.append([Unit(example.guid, guid_pmid(task, example.guid), runs)])
    return units


@dataclasses.dataclass
class Source:
    """One split of one task: the files it was read from and what they gave the index."""

    task: str
    split: str
    paths: list[str]
    examples: int = 0
    pmids: int = 0
    ngrams: int = 0
    short_examples: int = 0  # examples that gave no n-gram of their own (fewer words than n, or all masks)

    @property
    def name(self) -> str:
        return f"{self.task}/{self.split}"


class Index:
    """The n-gram hashes and PMIDs of the excluded examples; see the module's docstring."""

    def __init__(self, ngram: int, sources: list[Source], guids: list[str], example_source: np.ndarray,
                 example_pmid: np.ndarray, hashes: np.ndarray, owners: np.ndarray, missing: list[str]):
        self.ngram = ngram
        self.sources = sources
        self.guids = guids
        self.example_source = example_source  # uint16 per example
        self.example_pmid = example_pmid  # uint64 per example, 0 for none
        self.hashes = hashes  # uint64, sorted
        self.owners = owners  # uint32 example number per hash
        self.missing = missing  # what was not found: "HoC/test: DIR/HoC/test.tsv does not exist"
        # A bitmap of the hashes' top bits (about 16 bits per entry: ~6% of other hashes pass) answers most
        # lookups in one memory access; only what passes is looked up in the sorted array.
        self._bits = int(min(30, max(16, np.ceil(np.log2(max(hashes.size, 1) * 16)))))
        self._bitmap = np.zeros(1 << (self._bits - 3), dtype=np.uint8)
        slots = hashes >> np.uint64(64 - self._bits)
        np.bitwise_or.at(self._bitmap, (slots >> np.uint64(3)).astype(np.int64),
                         np.left_shift(1, (slots & np.uint64(7)).astype(np.uint8)).astype(np.uint8))
        with_pmid = example_pmid != 0
        order = np.argsort(example_pmid[with_pmid], kind="stable")
        self._pmids = example_pmid[with_pmid][order]
        self._pmid_sources = example_source[with_pmid][order]

    # -- lookups
    def pmid_sources(self, pmid: Optional[str]) -> frozenset[int]:
        value = identifiers.pmid(pmid)
        if value is None or not self._pmids.size:
            return frozenset()
        key = np.uint64(int(value))
        left, right = np.searchsorted(self._pmids, key, "left"), np.searchsorted(self._pmids, key, "right")
        return frozenset(self._pmid_sources[left:right].tolist())

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        """A boolean per hash: whether it is a benchmark n-gram."""
        found = np.zeros(hashes.shape, dtype=bool)
        if not self.hashes.size or not hashes.size:
            return found
        slots = hashes >> np.uint64(64 - self._bits)
        maybe = np.flatnonzero((self._bitmap[(slots >> np.uint64(3)).astype(np.int64)]
                                >> (slots & np.uint64(7)).astype(np.uint8)) & 1)
        if maybe.size:
            candidates = hashes[maybe]
            positions = np.minimum(np.searchsorted(self.hashes, candidates), self.hashes.size - 1)
            found[maybe] = self.hashes[positions] == candidates
        return found

    def owners_of(self, hashes: Iterable[int]) -> np.ndarray:
        """The example numbers of the given (benchmark) n-gram hashes."""
        keys = np.asarray(sorted(set(hashes)), dtype=np.uint64)
        left, right = np.searchsorted(self.hashes, keys, "left"), np.searchsorted(self.hashes, keys, "right")
        return np.concatenate([self.owners[a:b] for a, b in zip(left, right)] or [np.zeros(0, np.uint32)])

    def sources_of(self, hashes: Iterable[int]) -> frozenset[int]:
        return frozenset(self.example_source[self.owners_of(hashes)].tolist())

    # -- storage
    def to_bytes(self) -> bytes:
        meta = {"ngram": self.ngram, "sources": self.rows(),
                "guids": self.guids, "missing": self.missing}
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
                 example_source=self.example_source, example_pmid=self.example_pmid, hashes=self.hashes,
                 owners=self.owners)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Index":
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            meta = json.loads(arrays["meta"].tobytes().decode("utf-8"))
            return cls(meta["ngram"], [Source(**s) for s in meta["sources"]], meta["guids"],
                       arrays["example_source"], arrays["example_pmid"], arrays["hashes"], arrays["owners"],
                       meta["missing"])

    def rows(self) -> list[dict]:
        return [dataclasses.asdict(s) for s in self.sources]


def build_index(directories: Sequence[str], splits: Sequence[str], ngram: int, files: Files = LOCAL) -> Index:
    """The index of the `splits` of every task found under each benchmark directory (any layout
    `evaluation.layouts` reads). A bad file raises `DataError` (or `FileNotFoundError`) naming the file and
    line; a directory without any task file is a `DataError`; a task without one of the splits is listed in
    `Index.missing` (and logged)."""
    if not 1 <= ngram <= MAX_NGRAM:
        raise ValueError(f"n-gram size must be in 1..{MAX_NGRAM}, got {ngram}")
    sources: dict[tuple[str, str], Source] = {}
    guids: list[str] = []
    example_source: list[int] = []
    example_pmid: list[int] = []
    hash_parts, owner_parts = [], []
    missing: list[str] = []
    read_paths: set[str] = set()
    for directory in directories:
        # Where each task's splits are, looked up once (on gs:// each look is a request).
        located_splits = {task: {split: layouts.find(task, directory, files, split) for split in SPLITS}
                          for task in ALL_TASKS.values()}
        found = [task for task, located in located_splits.items() if any(located.values())]
        if not found:
            raise DataError(f"{directory}: holds no benchmark task file (expected a BLURB data directory, e.g. "
                            "DIR/BC5CDR-chem/dev.tsv or DIR/ner/BC5CDR-chem-IOB/devel.tsv)")
        for task in found:
            for split in splits:
                located = located_splits[task][split]
                if located is None:
                    where = next(place for place in located_splits[task].values() if place)
                    note = f"{task.name}/{split}: {where.path(split)} does not exist ({where.place.layout})"
                    missing.append(note)
                    continue
                path = located.path(split)
                if path in read_paths:  # the same file for two tasks (MedNLI's dev for MEDIQA-NLI)
                    continue
                read_paths.add(path)
                key = (task.name, split)
                source = sources.setdefault(key, Source(task.name, split, []))
                source_number = list(sources).index(key)
                source.paths.append(path)
                documents = (_token_units(task, path, files) if task.head == "token"
                             else _sequence_units(task, located, split, files))
                pmids = set()
                for units in documents:
                    first_example = len(guids)
                    words: list[str] = []
                    owners: list[int] = []
                    for number, unit in enumerate(units, start=first_example):
                        guids.append(unit.guid)
                        example_source.append(source_number)
                        example_pmid.append(int(unit.pmid) if unit.pmid else 0)
                        if unit.pmid:
                            pmids.add(unit.pmid)
                        if task.head != "token":  # each run on its own
                            for run in unit.runs:
                                hashed = ngram_hashes(run, ngram)
                                hash_parts.append(hashed)
                                owner_parts.append(np.full(hashed.size, number, dtype=np.uint32))
                        else:  # the document's sentences as one run
                            for run in unit.runs:
                                words += run
                                owners += [number] * len(run)
                    if words:
                        hashed = ngram_hashes(words, ngram)
                        hash_parts.append(hashed)
                        owner_parts.append(np.asarray(owners[:hashed.size], dtype=np.uint32))
                    source.examples += len(units)
                source.pmids += len(pmids)
    if missing:
        LOG.warning("decontamination: %d task split(s) not found: %s", len(missing), "; ".join(missing))
    hashes = np.concatenate(hash_parts) if hash_parts else np.zeros(0, np.uint64)
    owners = np.concatenate(owner_parts) if owner_parts else np.zeros(0, np.uint32)
    order = np.lexsort((owners, hashes))
    hashes, owners = hashes[order], owners[order]
    keep = np.ones(hashes.size, dtype=bool)
    keep[1:] = (hashes[1:] != hashes[:-1]) | (owners[1:] != owners[:-1])
    hashes, owners = hashes[keep], owners[keep]
    example_source_array = np.asarray(example_source, dtype=np.uint16)
    per_example = np.bincount(owners, minlength=len(guids)) if guids else np.zeros(0, np.int64)
    for number, source in enumerate(sources.values()):
        mine = example_source_array == number
        source.short_examples = int(np.count_nonzero(per_example[mine] == 0))
        owned = mine[owners] if owners.size else np.zeros(0, bool)
        source.ngrams = int(np.unique(hashes[owned]).size)
    return Index(ngram, list(sources.values()), guids, example_source_array,
                 np.asarray(example_pmid, dtype=np.uint64), hashes, owners, missing)


@functools.lru_cache(maxsize=2)
def _cached(path: str, digest: str, read: Callable[[str], bytes]) -> Index:
    data = read(path)
    if index_digest(data) != digest:
        raise ValueError(f"{path}: not the index this job was built with (it was rewritten since)")
    return Index.from_bytes(data)


def load_index(path: str, digest: str, read: Callable[[str], bytes]) -> Index:
    """The index written at `path` (its `digest` checked), read once per process however many steps ask."""
    return _cached(path, digest, read)


def index_digest(data: bytes) -> str:
    """What `load_index` checks: the index file is the one the launcher wrote."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


# --- Judging a document -------------------------------------------------------------------------------------------

class Match(NamedTuple):
    """What a document shares with the benchmark."""

    kind: str  # BY_PMID when its PMID is a benchmark's, else BY_TEXT
    pmid_sources: frozenset[int]
    text_sources: frozenset[int]  # empty unless the text matched (at least min_matches n-grams)
    hashes: frozenset[int]  # the distinct benchmark n-grams the document holds (empty below min_matches)
    ngram: Optional[str]  # one of them, as the document's normalised words
    sentences: dict[int, frozenset[int]]  # sentence number (document order) -> sources of its matched n-grams

    @property
    def ngrams(self) -> int:
        return len(self.hashes)


def judge(pmid: Optional[str], sentences: Sequence[str], index: Index, min_matches: int = 1) -> Optional[Match]:
    """Whether a document (its PMID: for a PMC article the PMID it is linked to; its sentences in order) holds
    excluded examples: None when it does not."""
    pmid_sources = index.pmid_sources(pmid)
    # One pass over the whole text (no word runs across the space between two sentences); the sentences' own
    # words are counted only for a document that matches.
    words = normalised_words(" ".join(sentences))
    hashes = ngram_hashes(words, index.ngram)
    positions = np.flatnonzero(index.contains(hashes))
    matched = set(hashes[positions].tolist())
    if len(matched) < max(min_matches, 1):
        positions, matched = positions[:0], set()
    if not pmid_sources and not matched:
        return None
    ends = list(itertools.accumulate(len(normalised_words(sentence)) for sentence in sentences))
    per_sentence: dict[int, set[int]] = {}
    for position in positions.tolist():
        sources = index.sources_of([int(hashes[position])])
        first, last = bisect.bisect_right(ends, position), bisect.bisect_right(ends, position + index.ngram - 1)
        for number in range(first, last + 1):
            per_sentence.setdefault(number, set()).update(sources)
    example = None
    if positions.size:
        start = int(positions[0])
        example = " ".join(words[start:start + index.ngram])
    return Match(BY_PMID if pmid_sources else BY_TEXT, pmid_sources,
                 index.sources_of(matched) if matched else frozenset(), frozenset(matched), example,
                 {number: frozenset(sources) for number, sources in per_sentence.items()})


def remove_matched(document: CorpusDocument, match: Match) -> int:
    """The sentence scope: drop from `document` (in place) the sentences carrying a matched n-gram and, when its
    PMID is a benchmark's, its title and abstract (the PubMed record the example was made from; a PMC article's
    body stays unless its text matches); paragraphs left empty go. Returns the number of sentences removed."""
    removed, number = 0, 0
    for paragraph in document.paragraphs:
        whole = match.pmid_sources and paragraph.kind in (TITLE, ABSTRACT)
        kept = []
        for sentence in paragraph.sentences:
            if whole or number in match.sentences:
                removed += 1
            else:
                kept.append(sentence)
            number += 1
        paragraph.sentences = kept
    document.paragraphs = [paragraph for paragraph in document.paragraphs if paragraph.sentences]
    return removed


def record(document_id: str, pmid: Optional[str], match: Match, index: Index, action: str,
           sentences_removed: int) -> dict:
    """The line of DIR/contamination/part-*.jsonl for a matched document."""
    deciding = match.pmid_sources if match.kind == BY_PMID else match.text_sources
    first = index.sources[min(deciding)]
    return {"id": document_id, "pmid": pmid, "kind": match.kind, "task": first.task, "split": first.split,
            "by_pmid": sorted(index.sources[s].name for s in match.pmid_sources),
            "by_text": sorted(index.sources[s].name for s in match.text_sources),
            "ngram": match.ngram, "ngrams": match.ngrams, "action": action, "sentences_removed": sentences_removed}


# --- The corpus job's statistics ----------------------------------------------------------------------------------

COUNTER_PREFIX = "decontaminate.match."  # decontaminate.match.<task>.<split>.<pmid|text|sentences>


def counter_name(source: Source, what: str) -> str:
    return f"{COUNTER_PREFIX}{source.task}.{source.split}.{what}"


def stats_section(index_rows: list[dict], missing: list[str], counters: dict[str, int], config: dict) -> dict:
    """stats.json's `decontamination`: the settings, and per task and split what was indexed and what matched
    (documents by PMID, documents by text, sentences carrying a matched n-gram), with the step's totals."""
    rows = []
    for row in index_rows:
        name = f"{COUNTER_PREFIX}{row['task']}.{row['split']}."
        rows.append({**row, "documents_pmid": counters.get(name + BY_PMID, 0),
                     "documents_text": counters.get(name + BY_TEXT, 0),
                     "sentences_text": counters.get(name + "sentences", 0)})
    return {
        "settings": config,
        "tasks": rows,
        "missing": missing,
        "documents_matched": {kind: counters.get(f"decontaminate.matched.{kind}", 0) for kind in (BY_PMID, BY_TEXT)},
        "documents_removed": {kind: counters.get(f"decontaminate.removed.{kind}", 0) for kind in (BY_PMID, BY_TEXT)},
        "sentences_removed": counters.get("decontaminate.sentences_removed", 0),
        "sentences_matched": counters.get("decontaminate.sentences_matched", 0),
    }


def summary_line(section: dict) -> str:
    """One line of counts for a log or the demo: what was indexed, matched and removed."""
    rows, settings = section["tasks"], section["settings"]
    matched, removed = section["documents_matched"], section["documents_removed"]
    line = (f"decontamination ({settings['mode']}, {settings['scope']} scope, {settings['ngram']}-grams): "
            f"{sum(r['examples'] for r in rows):,} examples of {len(rows)} task splits indexed "
            f"({sum(r['pmids'] for r in rows):,} PMIDs, {sum(r['ngrams'] for r in rows):,} n-grams); documents "
            f"matched {matched[BY_PMID]:,} by PMID, {matched[BY_TEXT]:,} by text")
    if settings["mode"] == REPORT:
        return line + f"; {section['sentences_matched']:,} sentences matched, nothing removed"
    return (line + f"; removed {removed[BY_PMID]:,} by PMID, {removed[BY_TEXT]:,} by text, "
            f"{section['sentences_removed']:,} sentences in all")
