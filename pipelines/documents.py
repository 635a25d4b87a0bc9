"""The documents job: PubMed XML and PMC articles in, one clean JSON document per article out.

    python -m pipelines.documents --pubmed 'raw/pubmed/*.xml.gz' --pmc 'raw/pmc/**/*.xml' --output out/docs

Applies NLM's update rules across every input given (per PMID the latest (file, version) wins, a later
`DeleteCitation` removes it) and keeps one copy of each PMC article (its highest version). Files and
records that fail are dead letters in `PREFIX-errors-*.jsonl`; the counts go to `PREFIX-stats.json`.
"""
from __future__ import annotations

if __name__ == "__main__":
    # `python -m pipelines.documents` runs this file as __main__; the job runs from the importable module instead, so
    # that workers unpickle what it pickles by module name (its element types) and its options register once.
    import sys

    from pipelines.documents import main as job_main
    sys.exit(job_main())

import argparse
import json
import logging
import sys
from typing import Iterable, Iterator, NamedTuple, Optional

import apache_beam as beam
from apache_beam.io.filesystems import CompressionTypes, FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from corpus import compact, pmc, pmc_bulk, pubmed
from corpus.documents import Deletion, Document, RecordError, pubmed_file_order, unencodable_text
from pipelines.common import (DEAD_LETTERS, WriteDeadLetters, add_argument_once, counter_inc_fn, counters,
                              dead_letter, expand_globs, job_parser, parse_job_args, read_bytes, run_pipeline,
                              use_local_runner_by_default, write_json)

LOG = logging.getLogger(__name__)
NAMESPACE = "documents"
JOB = "documents"
ERRORS = DEAD_LETTERS
# Reported in PREFIX-stats.json even when zero.
REPORTED = ("pubmed_files_read", "pubmed_records_read", "pubmed_deletions_read", "pubmed_record_errors",
            "pubmed_file_errors", "pubmed_records_kept_from_damaged_files", "pubmed_trailing_zero_bytes",
            "pmc_articles_read", "pmc_article_errors", "pmc_file_errors", "pmc_articles_kept_from_damaged_archives",
            "pmc_filelist_unreadable", "pmc_metadata_unreadable",
            "pubmed_documents_written", "pmc_documents_written", "superseded", "deleted", "deletions_without_record")
_count = counter_inc_fn(NAMESPACE)


class DocumentsOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--pubmed", action="append", default=[], metavar="GLOB",
                            help="PubMed XML files (.xml or .xml.gz, baseline and update files); repeatable")
        parser.add_argument("--pmc", action="append", default=[], metavar="GLOB",
                            help="PMC articles: .xml/.nxml files (a Cloud Service .json beside each is read "
                                 "for licence and retraction) or bulk .tar.gz packages (their .filelist.csv "
                                 "beside them is read); repeatable")
        add_argument_once(parser, "--output", metavar="PREFIX",
                          help="output prefix, local or gs://: PREFIX-SSSSS-of-NNNNN.jsonl.gz, "
                               "PREFIX-errors-*.jsonl, PREFIX-stats.json")
        add_argument_once(parser, "--num-shards", type=int, default=0,
                          help="number of output shards (0: let the runner choose)")
        parser.add_argument("--max-article-mb", type=float, default=pmc_bulk.MAX_MEMBER_BYTES / 1e6,
                            help="a PMC article file or package member larger than this is a dead letter, "
                                 "never read into memory (default: %(default)s; articles are a few MB)")
        parser.add_argument("--max-record-mb", type=float, default=pubmed.MAX_RECORD_BYTES / 1e6,
                            help="a PubMed record larger than this (a file without record boundaries) is a dead "
                                 "letter, skipped while read (default: %(default)s; citations are a few kB)")
        parser.add_argument("--include-captions", action="store_true",
                            help="keep figure and table captions as body paragraphs")
        parser.add_argument("--include-subarticles", action="store_true",
                            help="keep sub-articles (e.g. eLife decision letters) as body sections")


class Candidate(NamedTuple):
    """One claim on an article id: a parsed record or a deletion, with its place in NLM's order. A record travels
    as the JSON line it becomes, compressed (`candidate`): what the combine holds for an id until the latest
    wins, and what the shuffle moves, is a few objects and a string about half its text, not the record's tree of
    dicts and lists."""

    order: tuple  # larger wins
    document: Optional[bytes]  # the record's JSON line, compressed (`corpus.compact`); None for a deletion
    source: str = ""
    retracted: bool = False


def candidate(order: tuple, record: dict) -> Candidate:
    line = json.dumps(record, ensure_ascii=False, sort_keys=True)
    return Candidate(order, compact.compress(line.encode("utf-8")), record["source"], bool(record.get("retracted")))


def record_line(candidate_: Candidate) -> str:
    """The JSON line of a record's candidate."""
    return compact.decompress(candidate_.document).decode("utf-8")


def _error(kind: str, origin: str, reason: str, **detail) -> dict:
    return dead_letter(JOB, kind, origin, reason, **detail)


# A Cloud Service article's JSON metadata is a few hundred bytes; anything far larger is not one.
MAX_METADATA_BYTES = 1 << 20


def file_size(path: str) -> Optional[int]:
    """The size of a file as its file system reports it (no read), or None when it is not known."""
    try:
        metadata = FileSystems.match([path])[0].metadata_list
    except OSError:
        return None
    return metadata[0].size_in_bytes if metadata else None


class ParsePubmedFile(beam.DoFn):
    """A PubMed file -> (id, Candidate) for every record and deletion; failures to the errors output.

    A damaged file costs nothing before the damage: its records up to there are kept (counted as
    `pubmed_records_kept_from_damaged_files`) and one file dead letter says where it broke and how many records
    came before. Zero padding after the gzip stream is no error: counted (`pubmed_zero_padded_files`,
    `pubmed_trailing_zero_bytes`).
    """

    def __init__(self, max_record_bytes: int = pubmed.MAX_RECORD_BYTES):
        self._max_record_bytes = max_record_bytes

    def process(self, path: str) -> Iterator:
        file_order = pubmed_file_order(path)
        notes: dict = {}
        kept = 0
        try:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
                for item in pubmed.iter_pubmed(handle, origin=path, notes=notes,
                                               max_record_bytes=self._max_record_bytes):
                    if isinstance(item, Document):
                        _count("pubmed_records_read")
                        kept += 1
                        # A deletion in the same file as a record wins over it (third element).
                        order = (file_order, 0, item.version or 1, path)
                        yield item.id, candidate(order, item.to_dict())
                    elif isinstance(item, Deletion):
                        _count("pubmed_deletions_read")
                        kept += 1
                        yield f"pubmed:{item.pmid}", Candidate((file_order, 1, 0, path), None)
                    elif isinstance(item, RecordError):
                        _count("pubmed_record_errors")
                        record = item.to_dict()
                        yield beam.pvalue.TaggedOutput(ERRORS, _error(
                            "record", record["origin"], record["reason"], record=record["index"],
                            offset=record["offset"], snippet=record["snippet"] or None))
        except pubmed.PubmedFileError as error:
            _count("pubmed_file_errors")
            _count("pubmed_records_kept_from_damaged_files", kept)
            yield beam.pvalue.TaggedOutput(ERRORS, _error(
                "file", path, error.reason, records_read=error.records, offset=error.offset))
        except OSError as error:
            _count("pubmed_file_errors")
            _count("pubmed_records_kept_from_damaged_files", kept)
            yield beam.pvalue.TaggedOutput(ERRORS, _error("file", path, f"cannot read: {error}"))
        except Exception as error:  # noqa: BLE001 - one unforeseen file must not fail a day-long job
            LOG.exception("unexpected failure parsing %s", path)
            _count("pubmed_file_errors")
            _count("pubmed_records_kept_from_damaged_files", kept)
            yield beam.pvalue.TaggedOutput(ERRORS, _error("file", path, f"{type(error).__name__}: {error}"))
        _count_gzip_notes("pubmed", path, notes)
        _count("pubmed_files_read")


def _count_gzip_notes(source: str, path: str, notes: dict) -> None:
    """Count what the gzip reader noted that is no error: zero padding after the stream, several members."""
    if notes.get("trailing_zero_bytes"):
        LOG.info("%s: %d zero bytes of padding after the gzip stream, skipped", path, notes["trailing_zero_bytes"])
        _count(f"{source}_zero_padded_files")
        _count(f"{source}_trailing_zero_bytes", notes["trailing_zero_bytes"])
    if notes.get("gzip_members", 0) > 1:
        _count(f"{source}_multi_member_gzip_files")


def _sidecar(path: str, old_suffix: str, new_suffix: str) -> Optional[str]:
    if not path.endswith(old_suffix):
        return None
    sidecar = path[: -len(old_suffix)] + new_suffix
    return sidecar if FileSystems.exists(sidecar) else None


class ParsePmcFile(beam.DoFn):
    """A PMC article file or bulk package -> (id, Candidate) per article; failures to the errors output."""

    def __init__(self, options: pmc.JatsOptions, max_article_bytes: int = pmc_bulk.MAX_MEMBER_BYTES):
        self._options = options
        self._max_article_bytes = max_article_bytes

    def process(self, path: str) -> Iterator:
        try:
            if path.endswith(".tar.gz") or path.endswith(".tgz"):
                yield from self._archive(path)
            else:
                yield from self._article(path)
        except pmc.JatsError as error:
            _count("pmc_file_errors")
            yield beam.pvalue.TaggedOutput(ERRORS, _error("file", path, error.reason))
        except (OSError, ValueError) as error:
            _count("pmc_file_errors")
            yield beam.pvalue.TaggedOutput(ERRORS, _error("file", path, f"cannot read: {error}"))

    def _article(self, path: str) -> Iterator:
        """One Cloud Service article (its .json beside it gives licence and retraction). An unreadable JSON does
        not cost the article: it is read without metadata, the JSON is a dead letter. An article that is not
        whole (cut mid-file) is a file dead letter."""
        size = file_size(path)
        if size is not None and size > self._max_article_bytes:
            _count("pmc_articles_over_max_size")
            yield beam.pvalue.TaggedOutput(ERRORS, _error(
                "file", path, f"article file of {size:,} bytes is larger than --max-article-mb "
                              f"({self._max_article_bytes:,} bytes); not read"))
            return
        stem = path.rsplit(".", 1)[0]
        metadata = None
        if FileSystems.exists(stem + ".json"):
            try:
                json_size = file_size(stem + ".json")
                if json_size is not None and json_size > MAX_METADATA_BYTES:
                    raise ValueError(f"{json_size:,} bytes: no article's metadata is that large")
                metadata = json.loads(read_bytes(stem + ".json"))
                if not isinstance(metadata, dict):
                    raise ValueError(f"a JSON {type(metadata).__name__}, not an object")
            except (OSError, ValueError) as error:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
                metadata = None
                _count("pmc_metadata_unreadable")
                yield beam.pvalue.TaggedOutput(ERRORS, _error(
                    "file", stem + ".json", f"unreadable metadata, the article is read without it: {error}",
                    article=path))
        yield from self._parse(read_bytes(path), path, metadata, kind="file")

    def _archive(self, path: str) -> Iterator:
        """A bulk package with the .filelist.csv beside it. An unreadable filelist does not cost the package: it
        is read without metadata and the filelist is a dead letter. A damaged package keeps every article before
        the damage (`pmc_articles_kept_from_damaged_archives`) and is a file dead letter."""
        filelist = _sidecar(path, ".tar.gz", ".filelist.csv")
        rows: Optional[dict[str, dict]] = None
        if filelist:
            try:
                with FileSystems.open(filelist, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
                    rows = {row["Article File"]: row for row in pmc_bulk.read_filelist(handle)}
            except (pmc.JatsError, OSError, ValueError) as error:
                _count("pmc_filelist_unreadable")
                reason = error.reason if isinstance(error, pmc.JatsError) else f"cannot read: {error}"
                yield beam.pvalue.TaggedOutput(ERRORS, _error(
                    "file", filelist, f"unreadable filelist, the package is read without it: {reason}",
                    archive=path))
        else:
            _count("pmc_archives_without_filelist")
        notes: dict = {}
        kept = 0
        try:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
                for member, data in pmc_bulk.iter_bulk_archive(handle, origin=path, notes=notes,
                                                               max_member_bytes=self._max_article_bytes):
                    if rows is not None and member not in rows and not isinstance(data, pmc.SkippedMember):
                        _count("pmc_members_without_filelist_row")
                    for output in self._parse(data, f"{path}#{member}", rows.get(member) if rows else None):
                        if not isinstance(output, beam.pvalue.TaggedOutput):
                            kept += 1
                        yield output
        except pmc.JatsError as error:
            _count("pmc_file_errors")
            _count("pmc_articles_kept_from_damaged_archives", kept)
            yield beam.pvalue.TaggedOutput(ERRORS, _error("file", path, error.reason, articles_kept=kept))
        _count_gzip_notes("pmc", path, notes)
        _count("pmc_archives_read")

    def _parse(self, data: bytes, origin: str, metadata: Optional[dict], kind: str = "record") -> Iterator:
        """One article; a failure is a dead letter of `kind` ("file" for an article that is a file of its own)."""
        counter = "pmc_file_errors" if kind == "file" else "pmc_article_errors"
        try:
            document = pmc.parse_jats(data, origin, self._options, metadata)
        except pmc.JatsError as error:
            _count(counter)
            yield beam.pvalue.TaggedOutput(ERRORS, _error(kind, origin, error.reason))
            return
        except Exception as error:  # noqa: BLE001 - one unforeseen article must not fail a day-long job
            LOG.exception("unexpected failure parsing %s", origin)
            _count(counter)
            yield beam.pvalue.TaggedOutput(ERRORS, _error(kind, origin, f"{type(error).__name__}: {error}"))
            return
        record = document.to_dict()
        where = unencodable_text(record)  # metadata JSON can hold a lone surrogate ("\ud800"): not text
        if where:
            _count(counter)
            yield beam.pvalue.TaggedOutput(ERRORS, _error(
                kind, origin, f"{where} holds a lone UTF-16 surrogate (from its metadata?): not valid Unicode text"))
            return
        _count("pmc_articles_read")
        yield document.id, candidate((document.version or 1, origin), record)


class LatestWins(beam.CombineFn):
    """Per article id: the candidate with the largest order, and how many records and deletions competed."""

    def create_accumulator(self):
        return (None, 0, 0)

    def add_input(self, accumulator, claim: Candidate):
        best, records, deletions = accumulator
        if claim.document is None:
            deletions += 1
        else:
            records += 1
        if best is None or claim.order > best.order:
            best = claim
        return best, records, deletions

    def merge_accumulators(self, accumulators):
        best, records, deletions = None, 0, 0
        for claim, n_records, n_deletions in accumulators:
            records += n_records
            deletions += n_deletions
            if claim is not None and (best is None or claim.order > best.order):
                best = claim
        return best, records, deletions

    def extract_output(self, accumulator):
        return accumulator


def resolve(item) -> Iterator[str]:
    """Emit the winning document of one id as a JSON line, counting what lost and why."""
    _, (best, records, deletions) = item
    if best.document is None:
        _count("deleted", records)
        if records == 0:
            _count("deletions_without_record")
        return
    _count("superseded", records - 1)
    _count(f"{best.source}_documents_written")
    if best.retracted:
        _count(f"{best.source}_retracted_flagged")
    yield record_line(best)


class ReadDocuments(beam.PTransform):
    """PubMed and PMC files -> the latest version of each article as JSON lines, plus the dead letters."""

    def __init__(self, pubmed_files: Iterable[str], pmc_files: Iterable[str], options: pmc.JatsOptions,
                 max_record_bytes: int = pubmed.MAX_RECORD_BYTES,
                 max_article_bytes: int = pmc_bulk.MAX_MEMBER_BYTES):
        super().__init__()
        self._pubmed = list(pubmed_files)
        self._pmc = list(pmc_files)
        self._options = options
        self._max_record_bytes = max_record_bytes
        self._max_article_bytes = max_article_bytes

    def expand(self, pipeline):
        candidates, errors = [], []
        for name, files, parser in (("PubMed", self._pubmed, ParsePubmedFile(self._max_record_bytes)),
                                    ("PMC", self._pmc, ParsePmcFile(self._options, self._max_article_bytes))):
            if not files:
                continue
            parsed = (
                pipeline
                | f"List{name}" >> beam.Create(files)
                # Without this, Dataflow fuses Create with parsing and one worker would parse every file.
                | f"Spread{name}" >> beam.Reshuffle()
                | f"Parse{name}" >> beam.ParDo(parser).with_outputs(ERRORS, main="candidates")
            )
            candidates.append(parsed.candidates)
            errors.append(parsed[ERRORS])
        documents = (
            candidates | "AllCandidates" >> beam.Flatten()
            | "LatestPerId" >> beam.CombinePerKey(LatestWins())
            | "Resolve" >> beam.FlatMap(resolve)
        )
        return documents, errors | "AllErrors" >> beam.Flatten()


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    """The job's flags, checked (an unknown flag or a bad value is exit status 2); nothing is read yet."""
    parser = job_parser("python -m pipelines.documents", __doc__, DocumentsOptions)
    args = parse_job_args(parser, argv)
    if not args.output:
        parser.error("--output is required")
    if not args.pubmed and not args.pmc:
        parser.error("give at least one --pubmed or --pmc glob")
    if args.max_article_mb <= 0 or args.max_record_mb <= 0:
        parser.error("--max-article-mb and --max-record-mb must be positive")
    return args


def run(argv: Optional[list[str]] = None) -> dict:
    args = parse_args(argv)
    # All flags go to Beam too, so that runners and templates see the job's own options.
    options = PipelineOptions(argv)
    use_local_runner_by_default(options)

    pubmed_files = expand_globs(args.pubmed, "pubmed")
    pmc_files = expand_globs(args.pmc, "pmc")
    pmc_files = [path for path in pmc_files if not path.endswith(".json")]
    LOG.info("documents: %d PubMed files, %d PMC files -> %s", len(pubmed_files), len(pmc_files), args.output)
    jats = pmc.JatsOptions(include_captions=args.include_captions,
                           include_subarticles=args.include_subarticles)

    pipeline = beam.Pipeline(options=options)
    documents, errors = pipeline | "ReadDocuments" >> ReadDocuments(
        pubmed_files, pmc_files, jats, int(args.max_record_mb * 1_000_000), int(args.max_article_mb * 1_000_000))
    _ = documents | "WriteDocuments" >> beam.io.WriteToText(
        args.output, file_name_suffix=".jsonl.gz", num_shards=args.num_shards,
        shard_name_template="-SSSSS-of-NNNNN")
    _ = errors | "WriteDeadLetters" >> WriteDeadLetters(f"{args.output}-errors")
    result = run_pipeline(pipeline)
    if result is None:
        return {}
    stats = {name: 0 for name in REPORTED}
    stats.update(counters(result, NAMESPACE))
    stats = dict(sorted(stats.items()))
    stats["inputs"] = {"pubmed_files": len(pubmed_files), "pmc_files": len(pmc_files)}
    write_json(f"{args.output}-stats.json", stats)
    errors_total = sum(v for k, v in stats.items() if k.endswith("_errors"))
    LOG.info("documents: %s written (PubMed %d, PMC %d), %d superseded, %d deleted, %d errors -> %s-stats.json",
             stats.get("pubmed_documents_written", 0) + stats.get("pmc_documents_written", 0),
             stats.get("pubmed_documents_written", 0), stats.get("pmc_documents_written", 0),
             stats.get("superseded", 0), stats.get("deleted", 0), errors_total, args.output)
    return stats


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run(sys.argv[1:])


if __name__ == "__main__":
    main()
