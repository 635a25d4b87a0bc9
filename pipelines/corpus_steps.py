"""The corpus job's steps over documents, each a composable `PTransform` around the Beam-free decisions of
`corpus/`: read, cross-source deduplication, text assembly, filters, language, exact duplicates, boilerplate.

Counters (namespace `corpus`) follow one scheme, which `corpus.stats` turns into the report's table:
`<step>.in`, `<step>.out`, `<step>.removed.<reason>` count documents (per-document steps are `CountedStep`s, so
they balance by construction); `sentences.in`, `sentences.removed.<reason>` and `sentences.dropped_with_document`
count sentences. Near duplicates are `pipelines.near_duplicates`; writing the shards is `pipelines.corpus_write`.
Each step transform keeps the dead letters of its steps in `dead_letters` (a list of PCollections), which the
job writes with the others.
"""
from __future__ import annotations

import json
from typing import Iterator, Optional

import apache_beam as beam

from corpus import boilerplate, dedup, filters, langid
from corpus.assemble import CorpusDocument, assemble, schema_problem
from corpus.documents import SOURCE_PMC, SOURCE_PUBMED, Document, unencodable_text
from pipelines.common import (DEAD_LETTERS, CountedStep, Line, ReadLines, Removed, apply_step, counter_inc_fn,
                              dead_letter, snippet, too_long)

NAMESPACE = "corpus"
JOB = "corpus"
SOURCES = (SOURCE_PUBMED, SOURCE_PMC)
inc = counter_inc_fn(NAMESPACE)


class CorpusStep(CountedStep):
    """A per-document step of the corpus job: a removed document takes its sentences with it (counted)."""

    def __init__(self, step: str):
        super().__init__(NAMESPACE, step)

    def removed(self, element, reason: str) -> None:
        if isinstance(element, CorpusDocument):
            self.inc("sentences.dropped_with_document", element.num_sentences())


# --- Read ---------------------------------------------------------------------------------------------------------

def parse_document(line: bytes | str) -> Document:
    """One documents-job JSON line -> Document; ValueError or TypeError saying why it is not one (not UTF-8,
    not JSON, not an object, a field of the wrong type, text that is not valid Unicode)."""
    data = json.loads(line)  # bytes: UTF-8 is checked here (UnicodeDecodeError is a ValueError)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    where = unencodable_text(data)
    if where:
        raise ValueError(f"{where} holds a lone UTF-16 surrogate: not valid Unicode text")
    document = Document.from_dict(data)
    if not isinstance(document.id, str) or not document.id or document.source not in SOURCES:
        raise ValueError(f"needs an id and a source in {SOURCES}")
    problem = schema_problem(document)
    if problem:
        raise ValueError(problem)
    return document


class ParseDocumentLine(CorpusStep):
    """(file, `Line`) -> Document; a line that is not a valid document, or longer than the cap, is a dead
    letter (`read.removed.invalid`, `read.removed.too_long`)."""

    def __init__(self, max_document_bytes: int):
        super().__init__("read")
        self._max = max_document_bytes

    def apply(self, item: tuple[str, Line]):
        origin, line = item
        if line.data is None:
            return Removed("too_long", too_long(JOB, origin, line, self._max, "--max-document-mb"))
        try:
            document = parse_document(line.data)
        except (ValueError, TypeError, RecursionError) as error:
            return Removed("invalid", dead_letter(JOB, "line", origin, str(error)[:300], line=line.number,
                                                  snippet=snippet(line.data)))
        self.inc(f"read.documents.{document.source}")
        return document


class ReadCorpusInput(beam.PTransform):
    """Documents-job JSON lines -> Document objects, plus the dead letters of what is not one: a line over
    `max_document_bytes` (skipped while it is read, never held), a damaged file (its lines before the damage
    are kept), a line that is not a valid document."""

    def __init__(self, files: list[str], max_document_bytes: int):
        super().__init__()
        self._files = files
        self._max = max_document_bytes

    def expand(self, pipeline):
        lines = (
            pipeline
            | "ListFiles" >> beam.Create(self._files)
            # Without this, a runner may fuse the file list with reading and one worker would read every file.
            | "Spread" >> beam.Reshuffle()
            | "ReadLines" >> beam.ParDo(ReadLines(JOB, NAMESPACE, self._max)).with_outputs(
                DEAD_LETTERS, main="lines")
        )
        parsed = (
            lines.lines
            | "SkipBlankLines" >> beam.Filter(lambda item: item[1].data is None or bool(item[1].data.strip()))
            | "Parse" >> beam.ParDo(ParseDocumentLine(self._max)).with_outputs(DEAD_LETTERS, main="documents")
        )
        dead = (lines[DEAD_LETTERS], parsed[DEAD_LETTERS]) | "AllDeadLetters" >> beam.Flatten()
        return parsed.documents, dead


# --- Cross-source deduplication -----------------------------------------------------------------------------------

def _cross_source_verdicts(item) -> Iterator[tuple[str, str]]:
    _, members = item
    yield from dedup.cross_source_losers(members)


def _with_verdict(item) -> Iterator[tuple[Document, bool]]:
    _, grouped = item
    superseded = bool(grouped["winner"])
    for document in grouped["document"]:
        yield document, superseded


class KeepUnlessSuperseded(CorpusStep):
    def __init__(self):
        super().__init__("cross_source")

    def apply(self, item: tuple[Document, bool]):
        document, superseded = item
        return Removed("pubmed_in_pmc") if superseded else document


class StepTransform(beam.PTransform):
    """A transform of the corpus job whose steps' dead letters are collected in `dead_letters`."""

    def __init__(self):
        super().__init__()
        self.dead_letters: list = []


class DropCrossSourceDuplicates(StepTransform):
    """Drop PubMed records whose PMC article (linked by PMID or PMCID) is in the input: full text wins."""

    def expand(self, documents):
        links = (
            documents
            | "LinkKeys" >> beam.FlatMap(lambda d: [(key, (d.source, d.id)) for key in dedup.link_keys(d)])
            | "GroupLinks" >> beam.GroupByKey()
            | "Verdicts" >> beam.FlatMap(_cross_source_verdicts)
        )
        keyed = documents | "KeyById" >> beam.Map(lambda d: (d.id, d))
        joined = (
            {"document": keyed, "winner": links}
            | "JoinVerdicts" >> beam.CoGroupByKey()
            | "WithVerdict" >> beam.FlatMap(_with_verdict)
        )
        return apply_step(joined, "KeepUnlessSuperseded", KeepUnlessSuperseded(), dead_letters=self.dead_letters)


# --- Assembly, filters, language ----------------------------------------------------------------------------------

class AssembleDoFn(CorpusStep):
    """Document -> CorpusDocument (title, abstract sections, summaries, body paragraphs split into sentences)."""

    def __init__(self, splitter_model: Optional[str]):
        super().__init__("assemble")
        self._model = splitter_model
        self._splitter = None

    def setup(self) -> None:
        from corpus.sentences import SentenceSplitter  # loads spaCy: once per worker, not at import

        self._splitter = SentenceSplitter(model=self._model)

    def apply(self, document: Document):
        corpus_document, counts = assemble(document, self._splitter)
        for name, value in counts.items():
            self.inc(f"assemble.{name}", value)
        if not corpus_document.paragraphs:
            return Removed("no_text")
        self.inc("sentences.in", corpus_document.num_sentences())
        return corpus_document


class AssembleText(StepTransform):
    def __init__(self, splitter_model: Optional[str] = None):
        super().__init__()
        self._model = splitter_model

    def expand(self, documents):
        return apply_step(documents, "Assemble", AssembleDoFn(self._model), dead_letters=self.dead_letters)


class FilterDoFn(CorpusStep):
    def __init__(self, config: filters.FilterConfig):
        super().__init__("filter")
        self._config = config

    def judge(self, document: CorpusDocument) -> Optional[str]:
        for reason, value in filters.filter_sentences(document, self._config).items():
            self.inc(f"sentences.removed.{reason}", value)
        return filters.document_problem(document, self._config)


class FilterDocuments(StepTransform):
    """Drop non-prose sentences, then documents left empty or too short."""

    def __init__(self, config: filters.FilterConfig):
        super().__init__()
        self._config = config

    def expand(self, documents):
        return apply_step(documents, "Filter", FilterDoFn(self._config), dead_letters=self.dead_letters)


class LanguageDoFn(CorpusStep):
    def __init__(self, config: langid.LanguageConfig):
        super().__init__("language")
        self._config = config
        self._identifier = None

    def setup(self) -> None:
        self._identifier = langid.LanguageIdentifier()

    def judge(self, document: CorpusDocument) -> Optional[str]:
        before = document.num_sentences()
        keep, counts = langid.judge_document(document, self._identifier, self._config)
        self.inc(f"language.detected.{document.language}")
        self.inc("language.paragraphs_other_language", counts.get("paragraphs_other_language", 0))
        self.inc("sentences.removed.other_language", before - document.num_sentences())
        return None if keep else document.language


class IdentifyLanguage(StepTransform):
    """Keep documents in the configured languages (CLD2 on the text); drop other-language paragraphs."""

    def __init__(self, config: langid.LanguageConfig):
        super().__init__()
        self._config = config

    def expand(self, documents):
        return apply_step(documents, "Language", LanguageDoFn(self._config), dead_letters=self.dead_letters)


# --- Exact duplicates ---------------------------------------------------------------------------------------------

class BestCopy(beam.CombineFn):
    """Per normalised-text key: the best-ranked document, how many copies there were, the sentences of the
    copies that lost, and the first ids that lost (for the report)."""

    def __init__(self, keep_ids: int):
        self._keep_ids = keep_ids

    def create_accumulator(self):
        return None, None, 0, 0, []

    def add_input(self, accumulator, element):
        rank, document = element
        return self.merge_accumulators([accumulator, (rank, document, 1, 0, [])])

    def merge_accumulators(self, accumulators):
        best_rank, best, count, lost_sentences, losers = None, None, 0, 0, []
        for rank, document, n, lost, lost_ids in accumulators:
            count += n
            lost_sentences += lost
            losers.extend(lost_ids)
            if document is None:
                continue
            if best is None:
                best_rank, best = rank, document
                continue
            if rank < best_rank:
                (loser_rank, loser), (best_rank, best) = (best_rank, best), (rank, document)
            else:
                loser_rank, loser = rank, document
            lost_sentences += loser.num_sentences()
            losers.append((loser_rank, loser.id))
        return best_rank, best, count, lost_sentences, sorted(losers)[: self._keep_ids]

    def extract_output(self, accumulator):
        return accumulator


def _resolve_exact(item) -> Iterator:
    """One group of identical documents: the best copy stays; the others were combined away, so the step's
    balance is counted here per group (in = copies, out = 1, removed.duplicate = copies - 1)."""
    _, (_, best, count, lost_sentences, losers) = item
    inc("exact.in", count)
    inc("exact.out")
    if count > 1:
        inc("exact.removed.duplicate", count - 1)
        inc("sentences.dropped_with_document", lost_sentences)
        yield beam.pvalue.TaggedOutput("groups", {
            "kept": best.id, "title": best.title(), "removed_count": count - 1,
            "removed": [doc_id for _, doc_id in losers]})
    yield best


class DropExactDuplicates(beam.PTransform):
    """Identical documents after normalisation kept once (the best-ranked copy); returns (documents, groups)."""

    def __init__(self, report_ids: int = 10):
        super().__init__()
        self._report_ids = report_ids

    def expand(self, documents):
        resolved = (
            documents
            | "KeyByText" >> beam.Map(lambda d: (dedup.exact_key(d), (dedup.survivor_rank(d), d)))
            | "BestCopy" >> beam.CombinePerKey(BestCopy(self._report_ids))
            | "Resolve" >> beam.FlatMap(_resolve_exact).with_outputs("groups", main="documents")
        )
        return resolved.documents, resolved.groups


# --- Boilerplate lines --------------------------------------------------------------------------------------------

def _line_occurrences(document: CorpusDocument, seed: int) -> Iterator:
    order = boilerplate.winner_order(seed, document.id)
    for key in boilerplate.document_line_keys(document):
        yield key, (order, document.id)


def _line_losers(item, min_documents: int) -> Iterator[tuple[str, str]]:
    key, occurrences = item
    _, losers = boilerplate.losing_documents(occurrences, min_documents)
    if losers:
        inc("boilerplate.lines", 1)
    for document_id in losers:
        yield document_id, key


def _with_lines(item) -> Iterator[tuple[CorpusDocument, frozenset]]:
    _, grouped = item
    keys = frozenset(grouped["key"])
    for document in grouped["document"]:
        yield document, keys


class RemoveLinesDoFn(CorpusStep):
    """(document, its boilerplate line keys) -> the document without those lines, unless it is left too short;
    each removed line (once per document) goes to the `lines` output for the report."""

    def __init__(self, config: filters.FilterConfig):
        super().__init__("boilerplate")
        self._config = config

    def apply(self, item: tuple[CorpusDocument, frozenset]):
        document, keys = item
        removed = boilerplate.remove_lines(document, keys) if keys else []
        self.inc("sentences.removed.boilerplate", len(removed))
        examples = {}
        for key, sentence in removed:
            examples.setdefault(key, sentence)
        for key, sentence in sorted(examples.items()):  # once per document, for the document count
            self.side("lines", (key, sentence))
        problem = filters.document_problem(document, self._config)
        return Removed(problem) if problem else document

    def removed(self, element, reason: str) -> None:
        super().removed(element[0], reason)


class LineExample(beam.CombineFn):
    """Per line key: how many sentences were removed, and the smallest one as the example to show."""

    def create_accumulator(self):
        return 0, None

    def add_input(self, accumulator, sentence):
        count, example = accumulator
        return count + 1, sentence if example is None else min(example, sentence)

    def merge_accumulators(self, accumulators):
        count, example = 0, None
        for n, text in accumulators:
            count += n
            if text is not None:
                example = text if example is None else min(example, text)
        return count, example

    def extract_output(self, accumulator):
        return accumulator


class RemoveBoilerplate(StepTransform):
    """Sentences found in >= min_documents documents are kept in one (seeded winner) and removed from the rest.

    Then documents left too short are dropped. Returns (documents, top removed lines as one list).
    """

    def __init__(self, seed: int, min_documents: int, filter_config: filters.FilterConfig, top: int = 20):
        super().__init__()
        self._seed = seed
        self._min_documents = min_documents
        self._filters = filter_config
        self._top = top

    def expand(self, documents):
        removals = (
            documents
            | "LineKeys" >> beam.FlatMap(_line_occurrences, seed=self._seed)
            | "GroupLines" >> beam.GroupByKey()
            | "Losers" >> beam.FlatMap(_line_losers, min_documents=self._min_documents)
        )
        keyed = documents | "KeyById" >> beam.Map(lambda d: (d.id, d))
        joined = (
            {"document": keyed, "key": removals}
            | "JoinRemovals" >> beam.CoGroupByKey()
            | "WithLines" >> beam.FlatMap(_with_lines)
        )
        resolved = apply_step(joined, "RemoveLines", RemoveLinesDoFn(self._filters), "lines",
                              dead_letters=self.dead_letters)
        lines = (
            resolved.lines
            | "PerLine" >> beam.CombinePerKey(LineExample())
            | "LineRows" >> beam.MapTuple(lambda key, value: (value[0] + 1, key, value[1]))
            | "TopLines" >> beam.combiners.Top.Of(self._top)
            | "Unwrap" >> beam.Map(lambda top: [{"documents": n, "key": key, "text": text} for n, key, text in top])
        )
        return resolved.main, lines
