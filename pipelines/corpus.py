"""The corpus job: parsed documents in, the pretraining corpus out (one sentence per line, blank line between
documents), with a report of everything removed and why.

    python -m pipelines.corpus --input 'out/docs-*.jsonl.gz' --output out/corpus

Writes DIR/text/part-SSSSS-of-NNNNN.txt, DIR/documents/part-SSSSS-of-NNNNN.jsonl.gz (the same documents, in
the same order, with their sentences, ids, shard and line), DIR/stats.json, DIR/report.html and
DIR/errors/ (input lines that could not be read). Steps, in order: cross-source dedup (PubMed records whose
PMC article is in the input), text assembly and sentence splitting, filters, language, exact duplicates,
near duplicates (MinHash LSH), boilerplate lines, then a seeded shuffle into shards. The same seed and input
give the same bytes, on any runner and any number of workers.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict, dataclass
from typing import Iterator, Optional

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from corpus import boilerplate, dedup, filters, langid, shards
from corpus.assemble import CorpusDocument, assemble, schema_problem
from corpus.documents import SOURCE_PMC, SOURCE_PUBMED, Document
from corpus.minhash import MinHasher, jaccard_estimate, lsh_parameters
from corpus.stats import add_document, build_stats, empty_histograms, merge_histograms
from pipelines.common import (add_argument_once, counters, expand_globs, read_json, run_pipeline,
                              use_local_runner_by_default, write_atomically, write_json)

LOG = logging.getLogger(__name__)
NAMESPACE = "corpus"
ERRORS = "errors"
SOURCES = (SOURCE_PUBMED, SOURCE_PMC)


def _count(name: str, n: int = 1) -> None:
    if n:
        Metrics.counter(NAMESPACE, name).inc(n)


def _drop(step: str, reason: str, document: Optional[CorpusDocument] = None) -> None:
    """Count a document removed by `step`, and the sentences that leave with it."""
    _count(f"{step}.removed.{reason}")
    if document is not None:
        _count("sentences.dropped_with_document", document.num_sentences())


class CorpusOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        add_argument_once(parser, "--input", action="append", default=[], metavar="GLOB",
                          help="documents job output (JSON lines, .jsonl.gz or .jsonl), local or gs://; repeatable")
        add_argument_once(parser, "--output", metavar="DIR", help="output directory, local or gs://")
        add_argument_once(parser, "--seed", type=int, default=0,
                          help="seed of the shuffle and the boilerplate winner (default: %(default)s)")
        parser.add_argument("--shard-size-mb", type=float, default=100.0,
                            help="target size of a text shard in MB (default: %(default)s)")
        parser.add_argument("--splitter-model", default=None, metavar="PATH_OR_NAME",
                            help="a trained spaCy pipeline for sentence boundaries (default: built-in rules)")
        parser.add_argument("--languages", action="append", default=[], metavar="CODES",
                            help="ISO 639-1 codes of the languages to keep, e.g. en or en,de (default: en)")
        parser.add_argument("--drop-undetermined-language", action="store_true",
                            help="also drop documents whose language CLD2 cannot determine")
        defaults = filters.FilterConfig()
        # The defaults and the measurements behind them: corpus/filters.py.
        parser.add_argument("--min-document-words", type=int, default=defaults.min_document_words,
                            help="documents with fewer words are dropped (default: %(default)s)")
        parser.add_argument("--min-letter-token-fraction", type=float, default=defaults.min_letter_token_fraction,
                            help="sentences whose fraction of tokens with a letter is lower are dropped "
                                 "(default: %(default)s)")
        parser.add_argument("--max-symbol-run", type=int, default=defaults.max_symbol_run,
                            help="sentences with a longer run of letterless tokens are dropped (default: %(default)s)")
        parser.add_argument("--max-sentence-tokens", type=int, default=defaults.max_sentence_tokens,
                            help="longer sentences are flattened tables or lists, dropped (default: %(default)s)")
        parser.add_argument("--keep-references", action="store_true",
                            help="keep sentences that look like bibliography entries")
        parser.add_argument("--boilerplate-min-documents", type=int, default=3,
                            help="a sentence in at least this many documents is kept in one only "
                                 "(default: %(default)s)")
        parser.add_argument("--near-duplicate-threshold", type=float, default=0.8,
                            help="Jaccard similarity of word shingles from which documents are near duplicates "
                                 "(default: %(default)s)")
        parser.add_argument("--shingle-size", type=int, default=5, help="words per shingle (default: %(default)s)")
        parser.add_argument("--num-perm", type=int, default=128, help="MinHash permutations (default: %(default)s)")
        parser.add_argument("--max-bucket-links", type=int, default=8,
                            help="candidate pairs per document per LSH bucket, which bounds huge buckets "
                                 "(default: %(default)s)")
        parser.add_argument("--report-top", type=int, default=20,
                            help="entries in each top list of the report (default: %(default)s)")


@dataclass(frozen=True)
class NearDuplicateConfig:
    threshold: float = 0.8
    shingle_size: int = 5
    num_perm: int = 128
    max_bucket_links: int = 8
    seed: int = 1  # of the MinHash permutations: fixed, so signatures do not depend on the shuffle seed


@dataclass(frozen=True)
class CorpusConfig:
    seed: int = 0
    shard_size_bytes: int = 100_000_000
    splitter_model: Optional[str] = None
    filters: filters.FilterConfig = filters.FilterConfig()
    language: langid.LanguageConfig = langid.LanguageConfig()
    boilerplate_min_documents: int = 3
    near: NearDuplicateConfig = NearDuplicateConfig()
    report_top: int = 20

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "CorpusConfig":
        return cls(
            seed=args.seed,
            shard_size_bytes=int(args.shard_size_mb * 1_000_000),
            splitter_model=args.splitter_model,
            filters=filters.FilterConfig(
                min_letter_token_fraction=args.min_letter_token_fraction, max_symbol_run=args.max_symbol_run,
                max_sentence_tokens=args.max_sentence_tokens, drop_references=not args.keep_references,
                min_document_words=args.min_document_words),
            language=langid.LanguageConfig(keep=langid.parse_languages(args.languages or ["en"]),
                                           keep_undetermined=not args.drop_undetermined_language),
            boilerplate_min_documents=args.boilerplate_min_documents,
            near=NearDuplicateConfig(threshold=args.near_duplicate_threshold, shingle_size=args.shingle_size,
                                     num_perm=args.num_perm, max_bucket_links=args.max_bucket_links),
            report_top=args.report_top,
        )

    def to_dict(self) -> dict:
        data = asdict(self)
        data["language"]["keep"] = sorted(self.language.keep)
        return data


# --- Read ---------------------------------------------------------------------------------------------------------

class ParseDocumentLine(beam.DoFn):
    """(file, JSON line) -> Document; lines that are not a valid document go to the errors output."""

    def process(self, item: tuple[str, str]) -> Iterator:
        origin, line = item
        if not line.strip():
            return
        _count("read.in")
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            document = Document.from_dict(data)
            if not isinstance(document.id, str) or not document.id or document.source not in SOURCES:
                raise ValueError(f"needs an id and a source in {SOURCES}")
            problem = schema_problem(document)
            if problem:
                raise ValueError(problem)
        except (ValueError, TypeError) as error:
            _count("read.removed.invalid")
            yield beam.pvalue.TaggedOutput(ERRORS, {"origin": origin, "reason": str(error)[:300],
                                                    "snippet": line[:200]})
            return
        _count("read.out")
        _count(f"read.documents.{document.source}")
        yield document


class ReadCorpusInput(beam.PTransform):
    """Documents-job JSON lines -> Document objects, plus an errors output (dicts) for unreadable lines."""

    def __init__(self, files: list[str]):
        super().__init__()
        self._files = files

    def expand(self, pipeline):
        parsed = (
            pipeline
            | "ListFiles" >> beam.Create(self._files)
            | "ReadLines" >> beam.io.ReadAllFromText(with_filename=True)
            | "Parse" >> beam.ParDo(ParseDocumentLine()).with_outputs(ERRORS, main="documents")
        )
        return parsed.documents, parsed[ERRORS]


# --- Cross-source deduplication -----------------------------------------------------------------------------------

def _cross_source_verdicts(item) -> Iterator[tuple[str, str]]:
    _, members = item
    yield from dedup.cross_source_losers(members)


def _keep_unless_superseded(item) -> Iterator[Document]:
    _, grouped = item
    for document in grouped["document"]:
        _count("cross_source.in")
        if grouped["winner"]:
            _drop("cross_source", "pubmed_in_pmc")
        else:
            _count("cross_source.out")
            yield document


class DropCrossSourceDuplicates(beam.PTransform):
    """Drop PubMed records whose PMC article (linked by PMID or PMCID) is in the input: full text wins."""

    def expand(self, documents):
        links = (
            documents
            | "LinkKeys" >> beam.FlatMap(lambda d: [(key, (d.source, d.id)) for key in dedup.link_keys(d)])
            | "GroupLinks" >> beam.GroupByKey()
            | "Verdicts" >> beam.FlatMap(_cross_source_verdicts)
        )
        keyed = documents | "KeyById" >> beam.Map(lambda d: (d.id, d))
        return (
            {"document": keyed, "winner": links}
            | "JoinVerdicts" >> beam.CoGroupByKey()
            | "KeepUnlessSuperseded" >> beam.FlatMap(_keep_unless_superseded)
        )


# --- Assembly, filters, language ----------------------------------------------------------------------------------

class AssembleDoFn(beam.DoFn):
    """Document -> CorpusDocument (title, abstract sections, summaries, body paragraphs split into sentences)."""

    def __init__(self, splitter_model: Optional[str]):
        self._model = splitter_model
        self._splitter = None

    def setup(self) -> None:
        from corpus.sentences import SentenceSplitter  # loads spaCy: once per worker, not at import

        self._splitter = SentenceSplitter(model=self._model)

    def process(self, document: Document) -> Iterator[CorpusDocument]:
        _count("assemble.in")
        corpus_document, counts = assemble(document, self._splitter)
        for name, value in counts.items():
            _count(f"assemble.{name}", value)
        if not corpus_document.paragraphs:
            _drop("assemble", "no_text")
            return
        _count("assemble.out")
        _count("sentences.in", corpus_document.num_sentences())
        yield corpus_document


class AssembleText(beam.PTransform):
    def __init__(self, splitter_model: Optional[str] = None):
        super().__init__()
        self._model = splitter_model

    def expand(self, documents):
        return documents | "Assemble" >> beam.ParDo(AssembleDoFn(self._model))


class FilterDoFn(beam.DoFn):
    def __init__(self, config: filters.FilterConfig):
        self._config = config

    def process(self, document: CorpusDocument) -> Iterator[CorpusDocument]:
        _count("filter.in")
        for reason, value in filters.filter_sentences(document, self._config).items():
            _count(f"sentences.removed.{reason}", value)
        problem = filters.document_problem(document, self._config)
        if problem:
            _drop("filter", problem, document)
            return
        _count("filter.out")
        yield document


class FilterDocuments(beam.PTransform):
    """Drop non-prose sentences, then documents left empty or too short."""

    def __init__(self, config: filters.FilterConfig):
        super().__init__()
        self._config = config

    def expand(self, documents):
        return documents | "Filter" >> beam.ParDo(FilterDoFn(self._config))


class LanguageDoFn(beam.DoFn):
    def __init__(self, config: langid.LanguageConfig):
        self._config = config
        self._identifier = None

    def setup(self) -> None:
        self._identifier = langid.LanguageIdentifier()

    def process(self, document: CorpusDocument) -> Iterator[CorpusDocument]:
        _count("language.in")
        before = document.num_sentences()
        keep, counts = langid.judge_document(document, self._identifier, self._config)
        _count(f"language.detected.{document.language}")
        _count("language.paragraphs_other_language", counts.get("paragraphs_other_language", 0))
        _count("sentences.removed.other_language", before - document.num_sentences())
        if not keep:
            _drop("language", document.language, document)
            return
        _count("language.out")
        yield document


class IdentifyLanguage(beam.PTransform):
    """Keep documents in the configured languages (CLD2 on the text); drop other-language paragraphs."""

    def __init__(self, config: langid.LanguageConfig):
        super().__init__()
        self._config = config

    def expand(self, documents):
        return documents | "Language" >> beam.ParDo(LanguageDoFn(self._config))


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
    _, (_, best, count, lost_sentences, losers) = item
    _count("exact.in", count)
    _count("exact.out")
    if count > 1:
        _count("exact.removed.duplicate", count - 1)
        _count("sentences.dropped_with_document", lost_sentences)
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


# --- Near duplicates ----------------------------------------------------------------------------------------------

class SignatureDoFn(beam.DoFn):
    """CorpusDocument -> (id, (rank, signature bytes, title)); the hasher is built once per worker."""

    def __init__(self, config: NearDuplicateConfig):
        self._config = config
        self._hasher = None

    def setup(self) -> None:
        self._hasher = MinHasher(self._config.num_perm, self._config.seed)

    def process(self, document: CorpusDocument) -> Iterator:
        signature = dedup.minhash_signature(document, self._hasher, self._config.shingle_size)
        if signature is not None:
            yield document.id, (dedup.survivor_rank(document), signature.tobytes(), document.title())


def _band_entries(item, bands: int, rows: int) -> Iterator:
    doc_id, (rank, signature, _) = item
    for key in dedup.lsh_band_keys(np.frombuffer(signature, dtype=np.uint32), bands, rows):
        yield key, (rank, doc_id)


def _bucket_pairs(item, max_links: int) -> Iterator[tuple[str, str]]:
    _, members = item
    yield from dedup.bucket_edges(members, max_links)


def _attach_worse_signature(item) -> Iterator:
    worse_id, grouped = item
    for _, signature, title in grouped["signature"]:
        for better_id in grouped["better"]:
            yield better_id, (worse_id, signature, title)


def _verify(item, threshold: float) -> Iterator:
    better_id, grouped = item
    for _, better_signature, better_title in grouped["signature"]:
        better = np.frombuffer(better_signature, dtype=np.uint32)
        for worse_id, worse_signature, worse_title in grouped["pending"]:
            _count("near.candidate_pairs")
            similarity = jaccard_estimate(better, np.frombuffer(worse_signature, dtype=np.uint32))
            if similarity >= threshold:
                _count("near.verified_pairs")
                yield worse_id, (better_id, similarity, better_title, worse_title)


def _keep_unless_near_duplicate(item) -> Iterator:
    _, grouped = item
    matches = sorted(grouped["match"], key=lambda match: (-match[1], match[0]))
    for document in grouped["document"]:
        _count("near.in")
        if not matches:
            _count("near.out")
            yield beam.pvalue.TaggedOutput("kept", (document.id, True))
            yield document
            continue
        _drop("near", "duplicate", document)
        better_id, similarity, better_title, worse_title = matches[0]
        yield beam.pvalue.TaggedOutput("removed", (better_id, {
            "id": document.id, "similarity": round(similarity, 3), "title": worse_title,
            "kept_title": better_title}))


def _cluster(item) -> Iterator[tuple]:
    kept, grouped = item
    removed = sorted(grouped["removed"], key=lambda member: member["id"])
    if not removed:
        return
    yield len(removed), kept, {
        "kept": kept, "title": removed[0]["kept_title"],
        # False when the copy the others matched was itself a near duplicate of a better one.
        "kept_in_corpus": bool(grouped["kept"]),
        "removed": [{k: v for k, v in member.items() if k != "kept_title"} for member in removed]}


class DropNearDuplicates(beam.PTransform):
    """MinHash LSH over word shingles: band keys -> buckets -> candidate pairs -> verified pairs -> removal.

    Only ids, ranks and signatures are shuffled; no step sees more than one bucket or one document's pairs.
    A document is removed when a better-ranked document is verified similar (estimated Jaccard >= threshold),
    so every cluster keeps its best copy. Returns (documents, top clusters as one list).
    """

    def __init__(self, config: NearDuplicateConfig, top: int = 20):
        super().__init__()
        self._config = config
        self._top = top

    def expand(self, documents):
        config = self._config
        bands, rows = lsh_parameters(config.threshold, config.num_perm)
        signatures = documents | "Signatures" >> beam.ParDo(SignatureDoFn(config))
        pairs = (
            signatures
            | "BandKeys" >> beam.FlatMap(_band_entries, bands=bands, rows=rows)
            | "Buckets" >> beam.GroupByKey()
            | "CandidatePairs" >> beam.FlatMap(_bucket_pairs, max_links=config.max_bucket_links)
            | "DistinctPairs" >> beam.Distinct()
        )
        pending = (
            {"signature": signatures, "better": pairs}
            | "JoinWorse" >> beam.CoGroupByKey()
            | "AttachWorse" >> beam.FlatMap(_attach_worse_signature)
        )
        matches = (
            {"signature": signatures, "pending": pending}
            | "JoinBetter" >> beam.CoGroupByKey()
            | "Verify" >> beam.FlatMap(_verify, threshold=config.threshold)
        )
        keyed = documents | "KeyById" >> beam.Map(lambda d: (d.id, d))
        resolved = (
            {"document": keyed, "match": matches}
            | "JoinMatches" >> beam.CoGroupByKey()
            | "KeepUnlessDuplicate" >> beam.FlatMap(_keep_unless_near_duplicate).with_outputs(
                "removed", "kept", main="documents")
        )
        clusters = (
            {"removed": resolved.removed, "kept": resolved.kept}
            | "GroupClusters" >> beam.CoGroupByKey()
            | "Cluster" >> beam.FlatMap(_cluster)
            | "TopClusters" >> beam.combiners.Top.Of(self._top, key=lambda c: (c[0], c[1]))
            | "Unwrap" >> beam.Map(lambda top: [cluster for _, _, cluster in top])
        )
        return resolved.documents, clusters


# --- Boilerplate lines --------------------------------------------------------------------------------------------

def _line_occurrences(document: CorpusDocument, seed: int) -> Iterator:
    order = boilerplate.winner_order(seed, document.id)
    for key in boilerplate.document_line_keys(document):
        yield key, (order, document.id)


def _line_losers(item, min_documents: int) -> Iterator[tuple[str, str]]:
    key, occurrences = item
    count, losers = boilerplate.losing_documents(occurrences, min_documents)
    if losers:
        _count("boilerplate.lines", 1)
    for document_id in losers:
        yield document_id, key


class RemoveLinesDoFn(beam.DoFn):
    def __init__(self, config: filters.FilterConfig):
        self._config = config

    def process(self, item) -> Iterator:
        _, grouped = item
        keys = set(grouped["key"])
        for document in grouped["document"]:
            _count("boilerplate.in")
            removed = boilerplate.remove_lines(document, keys) if keys else []
            _count("sentences.removed.boilerplate", len(removed))
            examples = {}
            for key, sentence in removed:
                examples.setdefault(key, sentence)
            for key, sentence in sorted(examples.items()):  # once per document, for the document count
                yield beam.pvalue.TaggedOutput("lines", (key, sentence))
            problem = filters.document_problem(document, self._config)
            if problem:
                _drop("boilerplate", problem, document)
                continue
            _count("boilerplate.out")
            yield document


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


class RemoveBoilerplate(beam.PTransform):
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
        resolved = (
            {"document": keyed, "key": removals}
            | "JoinRemovals" >> beam.CoGroupByKey()
            | "RemoveLines" >> beam.ParDo(RemoveLinesDoFn(self._filters)).with_outputs("lines", main="documents")
        )
        lines = (
            resolved.lines
            | "PerLine" >> beam.CombinePerKey(LineExample())
            | "LineRows" >> beam.MapTuple(lambda key, value: (value[0] + 1, key, value[1]))
            | "TopLines" >> beam.combiners.Top.Of(self._top)
            | "Unwrap" >> beam.Map(lambda top: [{"documents": n, "key": key, "text": text} for n, key, text in top])
        )
        return resolved.documents, lines


# --- Shuffle and write --------------------------------------------------------------------------------------------

class WriteShardDoFn(beam.DoFn):
    """(shard index, documents) -> the text shard and its documents shard, each written atomically."""

    def __init__(self, output: str):
        self._output = output

    def process(self, item, num_shards: int) -> Iterator[dict]:
        index, entries = item
        documents = [entry for entry in entries if entry is not None]
        text_name = shards.shard_name(index, num_shards, ".txt")
        text, jsonl, count = shards.render_shard(documents, text_name)
        write_atomically(f"{self._output}/{shards.TEXT_DIR}/{text_name}", text)
        write_atomically(f"{self._output}/{shards.DOCUMENTS_DIR}/{shards.shard_name(index, num_shards, '.jsonl.gz')}",
                         jsonl)
        sentences = sum(document.num_sentences() for _, document in documents)
        _count("written.documents", count)
        _count("written.sentences", sentences)
        _count("written.text_bytes", len(text))
        for source in SOURCES:
            _count(f"written.documents.{source}", sum(1 for _, d in documents if d.source == source))
        yield {"shard": text_name, "documents": count, "sentences": sentences, "bytes": len(text)}


class WriteCorpus(beam.PTransform):
    """Seeded shuffle into shards of about `shard_size_bytes`; returns the shard summaries as one sorted list."""

    def __init__(self, output: str, seed: int, shard_size_bytes: int):
        super().__init__()
        self._output = output
        self._seed = seed
        self._shard_size = shard_size_bytes

    def expand(self, documents):
        seed, shard_size = self._seed, self._shard_size
        keyed = documents | "ShuffleKey" >> beam.Map(lambda d: (shards.shuffle_key(seed, d.id), d))
        num_shards = beam.pvalue.AsSingleton(
            keyed
            | "Bytes" >> beam.Map(lambda entry: shards.text_bytes(entry[1]))
            | "TotalBytes" >> beam.CombineGlobally(sum)
            | "ShardCount" >> beam.Map(shards.shard_count, shard_size))
        assigned = keyed | "Assign" >> beam.Map(
            lambda entry, n: (shards.shard_index(entry[0], n), entry), n=num_shards)
        # Every shard index gets an entry, so a shard that draws no document is still written (empty).
        every_shard = (
            documents.pipeline
            | "Once" >> beam.Create([None])
            | "EveryShard" >> beam.FlatMap(lambda _, n: [(i, None) for i in range(n)], n=num_shards))
        return (
            (assigned, every_shard)
            | "AllEntries" >> beam.Flatten()
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(WriteShardDoFn(self._output), num_shards=num_shards)
            | "Summaries" >> beam.combiners.ToList()
            | "Sort" >> beam.Map(lambda rows: sorted(rows, key=lambda row: row["shard"]))
        )


class LengthHistograms(beam.CombineFn):
    def create_accumulator(self):
        return empty_histograms()

    def add_input(self, accumulator, document):
        add_document(accumulator, document)
        return accumulator

    def merge_accumulators(self, accumulators):
        return merge_histograms(accumulators)

    def extract_output(self, accumulator):
        return accumulator


def _merge_aggregates(parts) -> dict:
    merged = {}
    for part in parts:
        merged.update(part)
    return merged


class BuildCorpus(beam.PTransform):
    """The whole job after reading: every step in order, the shards written; returns the aggregates for the report."""

    def __init__(self, output: str, config: CorpusConfig):
        super().__init__()
        self._output = output
        self._config = config

    def expand(self, documents):
        config = self._config
        kept = (
            documents
            | "CrossSource" >> DropCrossSourceDuplicates()
            | "AssembleText" >> AssembleText(config.splitter_model)
            | "Filters" >> FilterDocuments(config.filters)
            | "Language" >> IdentifyLanguage(config.language)
        )
        kept, exact_groups = kept | "ExactDuplicates" >> DropExactDuplicates()
        kept, clusters = kept | "NearDuplicates" >> DropNearDuplicates(config.near, config.report_top)
        kept, lines = kept | "Boilerplate" >> RemoveBoilerplate(
            config.seed, config.boilerplate_min_documents, config.filters, config.report_top)
        shard_rows = kept | "Write" >> WriteCorpus(self._output, config.seed, config.shard_size_bytes)
        histograms = kept | "Histograms" >> beam.CombineGlobally(LengthHistograms())
        top_exact = (
            exact_groups
            | "TopExact" >> beam.combiners.Top.Of(config.report_top,
                                                  key=lambda g: (g["removed_count"], g["kept"]))
        )
        parts = [
            histograms | "NameHistograms" >> beam.Map(lambda h: {"histograms": h}),
            shard_rows | "NameShards" >> beam.Map(lambda rows: {"shards": rows}),
            top_exact | "NameExact" >> beam.Map(lambda groups: {"exact_duplicate_groups": groups}),
            clusters | "NameClusters" >> beam.Map(lambda rows: {"near_duplicate_clusters": rows}),
            lines | "NameLines" >> beam.Map(lambda rows: {"boilerplate_lines": rows}),
        ]
        return (
            parts
            | "AllAggregates" >> beam.Flatten()
            | "MergeAggregates" >> beam.CombineGlobally(_merge_aggregates)
        )


def _remove_stale_shards(output: str, num_shards: int) -> None:
    """Shards of an earlier run with another shard count would otherwise mix with this run's."""
    for folder, suffix in ((shards.TEXT_DIR, ".txt"), (shards.DOCUMENTS_DIR, ".jsonl.gz")):
        pattern = f"{output}/{folder}/part-*-of-*{suffix}"
        current = f"-of-{num_shards:05d}{suffix}"
        stale = [m.path for result in FileSystems.match([pattern]) for m in result.metadata_list
                 if not m.path.endswith(current)]
        if stale:
            LOG.info("corpus: removing %d shard(s) of an earlier run under %s", len(stale), folder)
            FileSystems.delete(stale)


def run(argv: Optional[list[str]] = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.corpus", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    CorpusOptions._add_argparse_args(parser)
    args, _ = parser.parse_known_args(argv)
    if not args.output or not args.input:
        parser.error("--input and --output are required")
    if not 0.0 < args.near_duplicate_threshold < 1.0:
        parser.error("--near-duplicate-threshold must be between 0 and 1")
    if not 1 <= args.shingle_size <= 8 or args.num_perm < 2:
        parser.error("--shingle-size must be in 1..8 and --num-perm at least 2")
    if args.shard_size_mb <= 0 or args.boilerplate_min_documents < 2:
        parser.error("--shard-size-mb must be positive and --boilerplate-min-documents at least 2")
    config = CorpusConfig.from_args(args)
    output = args.output.rstrip("/")
    files = expand_globs(args.input, "input")
    LOG.info("corpus: %d input files -> %s", len(files), output)
    aggregates_path = f"{output}/_aggregates.json"

    options = PipelineOptions(argv)
    use_local_runner_by_default(options)
    pipeline = beam.Pipeline(options=options)
    documents, errors = pipeline | "Read" >> ReadCorpusInput(files)
    aggregates = documents | "BuildCorpus" >> BuildCorpus(output, config)
    _ = aggregates | "WriteAggregates" >> beam.Map(lambda data: write_json(aggregates_path, data))
    _ = (errors
         | "ErrorsToJson" >> beam.Map(lambda e: json.dumps(e, ensure_ascii=False, sort_keys=True))
         | "WriteErrors" >> beam.io.WriteToText(f"{output}/errors/part", file_name_suffix=".jsonl",
                                                 num_shards=1, shard_name_template="-SSSSS-of-NNNNN"))
    result = run_pipeline(pipeline)
    if result is None:  # a Dataflow dry run: the job was written, nothing ran
        return {}
    aggregates = read_json(aggregates_path)
    FileSystems.delete([aggregates_path])
    _remove_stale_shards(output, len(aggregates.get("shards", [])))
    # Imported here: matplotlib is needed where the report is drawn (the launcher), not on the workers.
    from corpus.report import render_report

    stats = build_stats(counters(result, NAMESPACE), aggregates, config.to_dict(), {"files": files})
    write_json(f"{output}/stats.json", stats)
    write_atomically(f"{output}/report.html", render_report(stats).encode("utf-8"))
    written = stats["written"]
    LOG.info("corpus: %d documents, %d sentences, %.1f MB in %d shard(s); %d input lines -> %s/report.html",
             written["documents"], written["sentences"], written["text_bytes"] / 1e6, len(written["shards"]),
             stats["steps"][0]["in"], output)
    return stats


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # One INFO line per type hint written as a string (PEP 563) says nothing to a user of the job.
    logging.getLogger("apache_beam.typehints.native_type_compatibility").setLevel(logging.WARNING)
    run(sys.argv[1:])


if __name__ == "__main__":
    main()
