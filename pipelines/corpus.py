"""The corpus job: parsed documents in, the pretraining corpus out (one sentence per line, blank line between
documents), with a report of everything removed and why.

    python -m pipelines.corpus --input 'out/docs-*.jsonl.gz' --output out/corpus

Writes DIR/text/part-SSSSS-of-NNNNN.txt, DIR/documents/part-SSSSS-of-NNNNN.jsonl.gz (the same documents, in
the same order, with their sentences, ids, shard and line), DIR/stats.json, DIR/report.html and
DIR/errors/corpus-*.jsonl (dead letters: input lines that are not a document) and DIR/removed/part-*.jsonl.gz
(every removed document: id, step, reason). Steps, in order: text assembly and sentence splitting, filters,
language, benchmark decontamination (with --exclude-benchmark: DIR/contamination/); then, over each document's
fingerprint, cross-source dedup (PubMed records whose PMC article is in the input), exact duplicates, near
duplicates (MinHash LSH) and boilerplate lines, decided over the fingerprints; then one seeded shuffle of the
documents into shards, where each meets its verdicts. The same seed and input give the same bytes, on any runner
and any number of workers.

This module is the job (its flags, `CorpusConfig`, the order of the steps); the steps are
`pipelines.corpus_steps`, `pipelines.corpus_dedup`, `pipelines.near_duplicates` and `pipelines.corpus_write`,
around the Beam-free decisions of `corpus/`.
"""
from __future__ import annotations

if __name__ == "__main__":
    # `python -m pipelines.corpus` runs this file as __main__; the job runs from the importable module instead, so
    # that workers unpickle what it pickles by module name (its element types) and its options register once.
    import sys

    from pipelines.corpus import main as job_main
    sys.exit(job_main())

import argparse
import logging
import sys
from dataclasses import asdict, dataclass
from typing import Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from corpus import contamination, filters, langid
from corpus.dedup import NearDuplicateConfig
from corpus.stats import build_stats
from pipelines.common import (WriteDeadLetters, add_argument_once, counters, errors_prefix, expand_globs, job_parser,
                              parse_job_args, read_json, run_pipeline, use_local_runner_by_default, write_atomically,
                              write_json)
from pipelines.corpus_decontaminate import (CONTAMINATION_DIR, INDEX_FILE, Decontaminate, IndexFile,
                                            WriteContamination, read_benchmarks, remove_contamination_files,
                                            write_index)
from pipelines.corpus_dedup import DeduplicateCorpus, RemoveLinesDoFn, TopLines
from pipelines.corpus_steps import (JOB, NAMESPACE, AssembleText, CrossSourceVerdicts, FilterDocuments,
                                    IdentifyLanguage, ReadCorpusInput)
from pipelines.corpus_write import WriteCorpus, WriteExclusions, remove_exclusions, remove_stale_shards

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class CorpusConfig:
    """Every setting of the corpus job; the flags take their defaults from here (and from the step configs)."""

    seed: int = 0  # of the shuffle and the boilerplate winner
    shard_size_bytes: int = 100_000_000
    # A document (one JSON line) longer than this is a dead letter, skipped while it is read: the largest PMC
    # articles are a few MB of JSON; 16 MB leaves room and bounds what one worker ever holds for one document.
    max_document_bytes: int = 16_000_000
    splitter_model: Optional[str] = None
    filters: filters.FilterConfig = filters.FilterConfig()
    language: langid.LanguageConfig = langid.LanguageConfig()
    boilerplate_min_documents: int = 3
    near: NearDuplicateConfig = NearDuplicateConfig()
    report_top: int = 20
    decontamination: Optional[contamination.DecontaminationConfig] = None  # None: no --exclude-benchmark

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "CorpusConfig":
        return cls(
            seed=args.seed,
            shard_size_bytes=int(args.shard_size_mb * 1_000_000),
            max_document_bytes=int(args.max_document_mb * 1_000_000),
            splitter_model=args.splitter_model,
            filters=filters.FilterConfig(
                min_letter_token_fraction=args.min_letter_token_fraction, max_symbol_run=args.max_symbol_run,
                max_sentence_tokens=args.max_sentence_tokens, drop_references=not args.keep_references,
                min_document_words=args.min_document_words),
            language=langid.LanguageConfig(
                keep=langid.parse_languages(args.languages or sorted(cls.language.keep)),
                keep_undetermined=not args.drop_undetermined_language),
            boilerplate_min_documents=args.boilerplate_min_documents,
            near=NearDuplicateConfig(threshold=args.near_duplicate_threshold, shingle_size=args.shingle_size,
                                     num_perm=args.num_perm, max_bucket_links=args.max_bucket_links),
            report_top=args.report_top,
            decontamination=_decontamination_config(args),
        )

    def to_dict(self) -> dict:
        data = asdict(self)
        data["language"]["keep"] = sorted(self.language.keep)
        if self.decontamination is None:  # a run without --exclude-benchmark records what it always did
            del data["decontamination"]
        return data


def _decontamination_config(args: argparse.Namespace) -> Optional[contamination.DecontaminationConfig]:
    if not args.exclude_benchmark:
        return None
    default = contamination.DecontaminationConfig()
    return contamination.DecontaminationConfig(
        benchmarks=tuple(args.exclude_benchmark), splits=_splits(args.exclude_splits or ",".join(default.splits)),
        mode=args.decontamination or default.mode, scope=args.decontamination_scope or default.scope,
        ngram=args.decontamination_ngram or default.ngram,
        min_matches=args.decontamination_min_matches or default.min_matches)


def _splits(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))


class CorpusOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        config = CorpusConfig()
        add_argument_once(parser, "--input", action="append", default=[], metavar="GLOB",
                          help="documents job output (JSON lines, .jsonl.gz or .jsonl), local or gs://; repeatable")
        add_argument_once(parser, "--output", metavar="DIR", help="output directory, local or gs://")
        add_argument_once(parser, "--seed", type=int, default=config.seed,
                          help="seed of the shuffle and the boilerplate winner (default: %(default)s)")
        parser.add_argument("--shard-size-mb", type=float, default=config.shard_size_bytes / 1e6,
                            help="target size of a text shard in MB (default: %(default)s)")
        parser.add_argument("--max-document-mb", type=float, default=config.max_document_bytes / 1e6,
                            help="a document (JSON line) longer than this is a dead letter, skipped while it is "
                                 "read, so no worker ever holds it (default: %(default)s)")
        parser.add_argument("--splitter-model", default=config.splitter_model, metavar="PATH_OR_NAME",
                            help="a trained spaCy pipeline for sentence boundaries (default: built-in rules)")
        parser.add_argument("--languages", action="append", default=[], metavar="CODES",
                            help="ISO 639-1 codes of the languages to keep, e.g. en or en,de (default: "
                                 f"{','.join(sorted(config.language.keep))})")
        parser.add_argument("--drop-undetermined-language", action="store_true",
                            help="also drop documents whose language CLD2 cannot determine")
        # The defaults and the measurements behind them: corpus/filters.py.
        parser.add_argument("--min-document-words", type=int, default=config.filters.min_document_words,
                            help="documents with fewer words are dropped (default: %(default)s)")
        parser.add_argument("--min-letter-token-fraction", type=float,
                            default=config.filters.min_letter_token_fraction,
                            help="sentences whose fraction of tokens with a letter is lower are dropped "
                                 "(default: %(default)s)")
        parser.add_argument("--max-symbol-run", type=int, default=config.filters.max_symbol_run,
                            help="sentences with a longer run of letterless tokens are dropped (default: %(default)s)")
        parser.add_argument("--max-sentence-tokens", type=int, default=config.filters.max_sentence_tokens,
                            help="longer sentences are flattened tables or lists, dropped (default: %(default)s)")
        parser.add_argument("--keep-references", action="store_true",
                            help="keep sentences that look like bibliography entries")
        parser.add_argument("--boilerplate-min-documents", type=int, default=config.boilerplate_min_documents,
                            help="a sentence in at least this many documents is kept in one only "
                                 "(default: %(default)s)")
        parser.add_argument("--near-duplicate-threshold", type=float, default=config.near.threshold,
                            help="Jaccard similarity of word shingles from which documents are near duplicates "
                                 "(default: %(default)s)")
        parser.add_argument("--shingle-size", type=int, default=config.near.shingle_size,
                            help="words per shingle (default: %(default)s)")
        parser.add_argument("--num-perm", type=int, default=config.near.num_perm,
                            help="MinHash permutations (default: %(default)s)")
        parser.add_argument("--max-bucket-links", type=int, default=config.near.max_bucket_links,
                            help="better-ranked candidates a document is verified against (the best of its "
                                 "LSH buckets), which bounds huge buckets (default: %(default)s)")
        parser.add_argument("--report-top", type=int, default=config.report_top,
                            help="entries in each top list of the report (default: %(default)s)")
        # Benchmark decontamination (corpus/contamination.py, docs/contamination.md); the defaults are
        # DecontaminationConfig's, filled in when --exclude-benchmark is given (the others need it).
        decontamination = contamination.DecontaminationConfig()
        parser.add_argument("--exclude-benchmark", action="append", default=[], metavar="DIR",
                            help="a benchmark data directory (BLURB's data/ or the task-type folders, as "
                                 "`python -m finetune --data` reads it; local or gs://) whose examples must not "
                                 "be in the corpus: documents with their PMIDs or their text are removed and "
                                 "listed in DIR/contamination/; repeatable")
        parser.add_argument("--exclude-splits", metavar="SPLITS",
                            help="the benchmark splits to exclude, comma-separated, of train, dev, test "
                                 f"(default: {','.join(decontamination.splits)})")
        parser.add_argument("--decontamination", choices=(contamination.REMOVE, contamination.REPORT),
                            help="remove: matched documents (or sentences) leave the corpus; report: nothing "
                                 "changes, the matches are only counted and listed "
                                 f"(default: {decontamination.mode})")
        parser.add_argument("--decontamination-scope", choices=(contamination.DOCUMENT, contamination.SENTENCE),
                            help="document: a matched document is removed whole; sentence: only the sentences "
                                 "carrying a matched n-gram (and, for a PMID match, the title and abstract) "
                                 f"(default: {decontamination.scope})")
        parser.add_argument("--decontamination-ngram", type=int, metavar="N",
                            help=f"words per n-gram matched against the benchmark's text (default: "
                                 f"{decontamination.ngram}, as GPT-3's decontamination)")
        parser.add_argument("--decontamination-min-matches", type=int, metavar="K",
                            help="distinct benchmark n-grams a document must hold to be contaminated by text "
                                 f"(default: {decontamination.min_matches})")


def _merge_aggregates(parts) -> dict:
    merged = {}
    for part in parts:
        merged.update(part)
    return merged


class BuildCorpus(beam.PTransform):
    """The whole job after reading: every step in order, the shards written; returns the aggregates for the
    report. After it is applied, `dead_letters` lists its steps' dead-letter PCollections."""

    def __init__(self, output: str, config: CorpusConfig, index: Optional[IndexFile] = None):
        super().__init__()
        self._output = output
        self._config = config
        self._index = index  # the benchmark index the launcher wrote, when config.decontamination is set
        self.dead_letters: list = []

    def expand(self, documents):
        config = self._config
        steps = [AssembleText(config.splitter_model), FilterDocuments(config.filters),
                 IdentifyLanguage(config.language),
                 DeduplicateCorpus(config.near, config.seed, config.boilerplate_min_documents, config.report_top)]
        superseded = documents | "CrossSource" >> CrossSourceVerdicts()
        kept = (
            documents
            | "AssembleText" >> steps[0]
            | "Filters" >> steps[1]
            | "Language" >> steps[2]
        )
        deduplicate = steps[3]
        if config.decontamination is not None:
            # Before deduplication: a removed document must not be the copy a duplicate group keeps, nor the one
            # a boilerplate line stays in.
            decontaminate = Decontaminate(self._index, config.decontamination, config.filters)
            steps.append(decontaminate)
            kept = kept | "Decontaminate" >> decontaminate
            _ = decontaminate.matches | "WriteContamination" >> WriteContamination(self._output)
        deduplicated = (kept, superseded) | "Deduplicate" >> deduplicate
        write = WriteCorpus(self._output, config.shard_size_bytes, deduplicated.total_bytes, config.seed,
                            RemoveLinesDoFn(config.filters))
        steps.append(write)
        shard_rows, histograms = ((deduplicated.entries, deduplicated.removed, deduplicated.line_losers)
                                  | "Write" >> write)
        lines = write.lines | "BoilerplateLines" >> TopLines(config.report_top)
        top_exact, clusters = deduplicated.exact_groups, deduplicated.near_clusters
        self.dead_letters = [letters for step in steps for letters in step.dead_letters]
        _ = ([letters for step in steps for letters in step.exclusions]
             | "AllExclusions" >> beam.Flatten()
             | "WriteExclusions" >> WriteExclusions(self._output))
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


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    """The job's flags, checked (an unknown flag or a bad value is exit status 2); nothing is read yet."""
    parser = job_parser("python -m pipelines.corpus", __doc__, CorpusOptions)
    args = parse_job_args(parser, argv)
    if not args.output or not args.input:
        parser.error("--input and --output are required")
    _check_decontamination(parser, args)
    if not 0.0 < args.near_duplicate_threshold < 1.0:
        parser.error("--near-duplicate-threshold must be between 0 and 1")
    if not 1 <= args.shingle_size <= 8 or args.num_perm < 2:
        parser.error("--shingle-size must be in 1..8 and --num-perm at least 2")
    if args.shard_size_mb <= 0 or args.boilerplate_min_documents < 2 or args.max_document_mb <= 0:
        parser.error("--shard-size-mb and --max-document-mb must be positive and --boilerplate-min-documents "
                     "at least 2")
    return args


def _check_decontamination(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    given = [flag for flag, value in (("--exclude-splits", args.exclude_splits), ("--decontamination",
             args.decontamination), ("--decontamination-scope", args.decontamination_scope),
             ("--decontamination-ngram", args.decontamination_ngram),
             ("--decontamination-min-matches", args.decontamination_min_matches)) if value is not None]
    if given and not args.exclude_benchmark:
        parser.error(f"{given[0]} needs --exclude-benchmark DIR")
    if args.exclude_splits is not None:
        splits = _splits(args.exclude_splits)
        unknown = [split for split in splits if split not in contamination.SPLITS]
        if not splits or unknown:
            parser.error(f"--exclude-splits {args.exclude_splits!r}: expected a comma-separated list of "
                         f"{', '.join(contamination.SPLITS)}")
    if args.decontamination_ngram is not None and not 1 <= args.decontamination_ngram <= contamination.MAX_NGRAM:
        parser.error(f"--decontamination-ngram must be in 1..{contamination.MAX_NGRAM}")
    if args.decontamination_min_matches is not None and args.decontamination_min_matches < 1:
        parser.error("--decontamination-min-matches must be at least 1")


def run(argv: Optional[list[str]] = None) -> dict:
    args = parse_args(argv)
    config = CorpusConfig.from_args(args)
    output = args.output.rstrip("/")
    files = expand_globs(args.input, "input")
    LOG.info("corpus: %d input files -> %s", len(files), output)
    aggregates_path = f"{output}/_aggregates.json"

    options = PipelineOptions(argv)
    use_local_runner_by_default(options)
    remove_exclusions(output)
    remove_contamination_files(output)
    index = index_file = None
    if config.decontamination is not None:
        decontamination_config = config.decontamination
        index = read_benchmarks(decontamination_config.benchmarks, decontamination_config.splits,
                                decontamination_config.ngram, "--exclude-benchmark")
        index_file = write_index(f"{output}/{CONTAMINATION_DIR}/{INDEX_FILE}", index)
        LOG.info("corpus: excluding %d example(s) of %d task split(s): %d PMIDs, %d %d-grams", len(index.guids),
                 len(index.sources), sum(s.pmids for s in index.sources), index.hashes.size, index.ngram)
    pipeline = beam.Pipeline(options=options)
    documents, errors = pipeline | "Read" >> ReadCorpusInput(files, config.max_document_bytes)
    build = BuildCorpus(output, config, index_file)
    aggregates = documents | "BuildCorpus" >> build
    _ = aggregates | "WriteAggregates" >> beam.Map(lambda data: write_json(aggregates_path, data))
    _ = ([errors, *build.dead_letters] | "AllDeadLetters" >> beam.Flatten()
         | "WriteDeadLetters" >> WriteDeadLetters(errors_prefix(output, JOB)))
    result = run_pipeline(pipeline)
    if result is None:  # a Dataflow dry run: the job was written, nothing ran
        return {}
    aggregates = read_json(aggregates_path)
    FileSystems.delete([aggregates_path])
    remove_stale_shards(output, len(aggregates.get("shards", [])))
    # Imported here: matplotlib is needed where the report is drawn (the launcher), not on the workers.
    from corpus.report import render_report

    values = counters(result, NAMESPACE)
    decontamination = None if index is None else contamination.stats_section(
        index.rows(), index.missing, values, asdict(config.decontamination))
    stats = build_stats(values, aggregates, config.to_dict(), {"files": files}, decontamination)
    write_json(f"{output}/stats.json", stats)
    write_atomically(f"{output}/report.html", render_report(stats).encode("utf-8"))
    written = stats["written"]
    LOG.info("corpus: %d documents, %d sentences, %.1f MB in %d shard(s); %d input lines -> %s/report.html",
             written["documents"], written["sentences"], written["text_bytes"] / 1e6, len(written["shards"]),
             stats["steps"][0]["in"], output)
    if decontamination is not None:
        LOG.info("corpus: %s", contamination.summary_line(decontamination))
    return stats


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # One INFO line per type hint written as a string (PEP 563) says nothing to a user of the job.
    logging.getLogger("apache_beam.typehints.native_type_compatibility").setLevel(logging.WARNING)
    run(sys.argv[1:])


if __name__ == "__main__":
    main()
