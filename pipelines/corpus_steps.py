"""The corpus job's steps over documents, each a composable `PTransform` around the Beam-free decisions of
`corpus/`: read, cross-source deduplication, text assembly, filters, language, exact duplicates, boilerplate.

Counters (namespace `corpus`) follow one scheme, which `corpus.stats` turns into the report's table:
`<step>.in`, `<step>.out`, `<step>.removed.<reason>` count documents (per-document steps are `CountedStep`s, so
they balance by construction); `sentences.in`, `sentences.removed.<reason>` and `sentences.dropped_with_document`
count sentences. The dedup steps (exact duplicates, near duplicates, boilerplate lines) are
`pipelines.corpus_dedup` and `pipelines.near_duplicates`; writing the shards is `pipelines.corpus_write`. Each step
transform keeps the dead letters of its steps in `dead_letters` and the records of the documents it removed in
`exclusions` (lists of PCollections), which the job writes with the others.
"""
from __future__ import annotations

import json
from typing import Optional

import apache_beam as beam

from corpus import dedup, filters, langid
from corpus.assemble import CorpusDocument, assemble, schema_problem
from corpus.documents import (SOURCE_PMC, SOURCE_PUBMED, Document, may_hold_unencodable_text,
                              unencodable_text)
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
    # The walk over every string only where the raw line could hold a lone surrogate (nearly never).
    where = unencodable_text(data) if may_hold_unencodable_text(line) else None
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


class StepTransform(beam.PTransform):
    """A transform of the corpus job whose steps' dead letters are collected in `dead_letters` and the records
    of the documents they removed in `exclusions` (lists of PCollections, filled when it is applied)."""

    def __init__(self):
        super().__init__()
        self.dead_letters: list = []
        self.exclusions: list = []


class CrossSourceVerdicts(beam.PTransform):
    """Documents -> (PubMed record id, PMC article id) for every PubMed record whose PMC article (linked by PMID
    or PMCID) is in the input: full text wins. Only the link keys are shuffled; the verdicts are applied to the
    fingerprints, with the other dedup steps (`pipelines.corpus_dedup`)."""

    def expand(self, documents):
        return (
            documents
            | "LinkKeys" >> beam.FlatMap(lambda d: [(key, (d.source, d.id)) for key in dedup.link_keys(d)])
            | "GroupLinks" >> beam.GroupByKey()
            | "Verdicts" >> beam.FlatMap(lambda item: dedup.cross_source_losers(item[1]))
        )


# --- Assembly, filters, language ----------------------------------------------------------------------------------

class AssembleDoFn(CorpusStep):
    """Document -> CorpusDocument (title, abstract sections, summaries, body paragraphs split into sentences)."""

    def __init__(self, splitter_model: Optional[str]):
        super().__init__("assemble")
        self._model = splitter_model
        self._splitter = None

    def setup(self) -> None:
        from corpus.sentences import SentenceSplitter

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
        return apply_step(documents, "Assemble", AssembleDoFn(self._model),
                          dead_letters=self.dead_letters, exclusions=self.exclusions)


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
        return apply_step(documents, "Filter", FilterDoFn(self._config),
                          dead_letters=self.dead_letters, exclusions=self.exclusions)


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
        return apply_step(documents, "Language", LanguageDoFn(self._config),
                          dead_letters=self.dead_letters, exclusions=self.exclusions)
