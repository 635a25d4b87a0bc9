"""The contamination audit: how much of a benchmark an existing corpus holds, measured without rewriting it.

    python -m pipelines.contamination --corpus 'out/corpus/text/part-*.txt' --benchmark BLURB/data \\
        --output audit.json

--corpus: the corpus job's text shards (one sentence per line, a blank line between documents; any such text
corpus), its documents shards (`documents/part-*.jsonl.gz`: with their PMIDs) or the documents job's output
(JSON lines, .gz or not); local or gs://. --benchmark: a benchmark data directory in any layout `python -m
finetune --data` reads. The output (local or gs://) gives, per task and split, the examples whose text occurs in
the corpus (at least one of their n-grams, `corpus.contamination`) and, where the corpus has PMIDs, those whose
PMID is a corpus document's; with the share of each. The index is built by the launcher (a bad benchmark file
is a one-line error), written beside the output while the job runs and read once by each worker process.
"""
from __future__ import annotations

if __name__ == "__main__":
    # `python -m pipelines.contamination` runs this file as __main__; the job runs from the importable module instead, so
    # that workers unpickle what it pickles by module name (its element types) and its options register once.
    import sys

    from pipelines.contamination import main as job_main
    sys.exit(job_main())

import argparse
import json
import logging
import sys
from typing import Iterator, Optional

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from corpus import contamination
from corpus.assemble import CorpusDocument, text_blocks
from corpus.documents import Document
from pipelines.common import (READ_ERRORS, add_argument_once, bounded_lines, counter_inc_fn, counters, expand_globs,
                              job_parser, open_binary, parse_job_args, read_bytes, read_json, run_pipeline,
                              use_local_runner_by_default, write_json)
from pipelines.corpus_decontaminate import IndexFile, read_benchmarks, write_index

LOG = logging.getLogger(__name__)
NAMESPACE = "contamination"
MAX_LINE_BYTES = 16_000_000  # the corpus job's --max-document-mb default: a longer line is skipped, never held
SHOWN_EXAMPLES = 20  # found example ids listed per task and split
inc = counter_inc_fn(NAMESPACE)


class AuditOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        default = contamination.DecontaminationConfig()
        parser.add_argument("--corpus", action="append", default=[], metavar="GLOB",
                            help="the corpus: text shards (one sentence a line, a blank line between documents) "
                                 "or JSON-lines documents (the corpus job's documents/ shards, the documents "
                                 "job's output; .gz or not), local or gs://; repeatable")
        parser.add_argument("--benchmark", action="append", default=[], metavar="DIR",
                            help="a benchmark data directory (as `python -m finetune --data` reads it), local "
                                 "or gs://; repeatable")
        add_argument_once(parser, "--output", metavar="FILE.json", help="where the audit goes, local or gs://")
        parser.add_argument("--splits", default=",".join(default.splits),
                            help="the benchmark splits to measure, of train, dev, test (default: %(default)s)")
        parser.add_argument("--ngram", type=int, default=default.ngram,
                            help="words per n-gram (default: %(default)s, as the corpus job)")


def document_texts(path: str, lines) -> Iterator[tuple[Optional[str], list[str]]]:
    """(PMID or None, sentences or paragraphs in order) of every document of a corpus file's lines."""
    if ".jsonl" in path.rsplit("/", 1)[-1]:
        for line in lines:
            if line.data is None or not line.data.strip():
                continue
            try:
                data = json.loads(line.data)
                if "paragraphs" in data:  # the corpus job's documents shards
                    document = CorpusDocument.from_dict(data)
                    yield document.pmid, list(document.sentences())
                else:  # the documents job's output
                    document = Document.from_dict(data)
                    yield document.pmid, [text for _, _, text in text_blocks(document)]
            except (ValueError, TypeError, KeyError, AttributeError):
                inc("lines_invalid")
        return
    sentences: list[str] = []
    for line in lines:
        text = line.data.decode("utf-8", errors="replace").strip() if line.data is not None else ""
        if text:
            sentences.append(text)
        elif sentences:
            yield None, sentences
            sentences = []
    if sentences:
        yield None, sentences


class MatchFile(beam.DoFn):
    """A corpus file -> ("ngram", hash) and ("pmid", PMID) for every benchmark n-gram and PMID it holds (once per
    document); a damaged file counts as `files_damaged` after the documents before the damage."""

    def __init__(self, index: IndexFile):
        self._index_file = index
        self._index = None

    def setup(self) -> None:
        self._index = contamination.load_index(self._index_file.path, self._index_file.digest, read_bytes)

    def process(self, path: str) -> Iterator[tuple[str, object]]:
        index = self._index
        try:
            with open_binary(path) as stream:
                for pmid, texts in document_texts(path, bounded_lines(stream, MAX_LINE_BYTES)):
                    inc("documents")
                    match = contamination.judge(pmid, texts, index)
                    if match is None:
                        continue
                    inc("documents_matched")
                    if match.pmid_sources:
                        yield "pmid", int(pmid)
                    for value in match.hashes:
                        yield "ngram", value
        except READ_ERRORS:
            inc("files_damaged")


def audit(index: contamination.Index, found: dict, job_counters: dict) -> dict:
    """The audit's JSON: per task and split, the examples found by text and by PMID, and their shares."""
    owners = index.owners_of(found.get("ngram", []))
    by_text = np.zeros(len(index.guids), dtype=bool)
    by_text[owners] = True
    pmids = np.asarray(found.get("pmid", []), dtype=np.uint64)
    by_pmid = np.isin(index.example_pmid, pmids) & (index.example_pmid != 0)
    rows = []
    for number, source in enumerate(index.sources):
        mine = index.example_source == number
        text, pmid = int(np.count_nonzero(by_text & mine)), int(np.count_nonzero(by_pmid & mine))
        with_pmid = int(np.count_nonzero(mine & (index.example_pmid != 0)))
        indexed = source.examples - source.short_examples
        rows.append({
            "task": source.task, "split": source.split, "paths": source.paths, "examples": source.examples,
            "short_examples": source.short_examples, "found_by_text": text,
            "share_by_text": round(text / source.examples, 4) if source.examples else None,
            "share_by_text_of_indexed": round(text / indexed, 4) if indexed else None,
            "examples_with_pmid": with_pmid, "found_by_pmid": pmid,
            "share_by_pmid": round(pmid / with_pmid, 4) if with_pmid else None,
            "found": [index.guids[i] for i in np.flatnonzero((by_text | by_pmid) & mine)[:SHOWN_EXAMPLES]],
        })
    return {"ngram": index.ngram, "tasks": rows, "missing": index.missing,
            "documents": job_counters.get("documents", 0), "documents_matched": job_counters.get("documents_matched", 0),
            "lines_invalid": job_counters.get("lines_invalid", 0),
            "files_damaged": job_counters.get("files_damaged", 0)}


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = job_parser("python -m pipelines.contamination", __doc__, AuditOptions)
    args = parse_job_args(parser, argv)
    if not args.corpus or not args.benchmark or not args.output:
        parser.error("--corpus, --benchmark and --output are required")
    splits = tuple(dict.fromkeys(s.strip() for s in args.splits.split(",") if s.strip()))
    if not splits or any(split not in contamination.SPLITS for split in splits):
        parser.error(f"--splits {args.splits!r}: expected a comma-separated list of "
                     f"{', '.join(contamination.SPLITS)}")
    if not 1 <= args.ngram <= contamination.MAX_NGRAM:
        parser.error(f"--ngram must be in 1..{contamination.MAX_NGRAM}")
    args.splits = splits
    return args


def run(argv: Optional[list[str]] = None) -> dict:
    args = parse_args(argv)
    files = expand_globs(args.corpus, "corpus")
    index = read_benchmarks(args.benchmark, args.splits, args.ngram, "--benchmark")
    index_path, found_path = f"{args.output}.index.npz", f"{args.output}.found.json"
    index_file = write_index(index_path, index)
    LOG.info("contamination: %d corpus files against %d examples (%d with a PMID; %d n-grams)", len(files),
             len(index.guids), int(np.count_nonzero(index.example_pmid)), index.hashes.size)
    options = PipelineOptions(argv)
    use_local_runner_by_default(options)
    pipeline = beam.Pipeline(options=options)
    _ = (
        pipeline
        | "ListFiles" >> beam.Create(files)
        | "Spread" >> beam.Reshuffle()
        | "Match" >> beam.ParDo(MatchFile(index_file))
        | "PerKind" >> beam.CombinePerKey(beam.combiners.ToSetCombineFn())  # distinct before the shuffle
        | "Sorted" >> beam.MapTuple(lambda kind, values: (kind, sorted(values)))
        | "Gather" >> beam.combiners.ToDict()
        | "WriteFound" >> beam.Map(lambda found: write_json(found_path, found))
    )
    result = run_pipeline(pipeline)
    if result is None:  # a Dataflow dry run
        return {}
    found = read_json(found_path) if FileSystems.exists(found_path) else {}
    FileSystems.delete([path for path in (index_path, found_path) if FileSystems.exists(path)])
    report = {"corpus": files, "benchmarks": args.benchmark, "splits": list(args.splits),
              **audit(index, found, counters(result, NAMESPACE))}
    write_json(args.output, report)
    for row in report["tasks"]:
        LOG.info("contamination: %s/%s: %d of %d examples found by text, %d of %d by PMID", row["task"], row["split"],
                 row["found_by_text"], row["examples"], row["found_by_pmid"], row["examples_with_pmid"])
    LOG.info("contamination: %d documents read, %d hold benchmark text or PMIDs -> %s", report["documents"],
             report["documents_matched"], args.output)
    return report


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("apache_beam.typehints.native_type_compatibility").setLevel(logging.WARNING)
    run(sys.argv[1:])


if __name__ == "__main__":
    main()
