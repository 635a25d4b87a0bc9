"""The TFRecords job: text shards in, the shuffled ELECTRA pretraining shards that a TPU reads out.

    python -m pipelines.tfrecords --input 'out/corpus/text/part-*.txt' --vocab out/vocab \\
        --output gs://BUCKET/data/128 --max-seq-length 128 [--num-shards N | --target-shard-mb M] [--seed S]

Input: one sentence per line, a blank line between documents, a document never split across files (the
corpus job's output; .gz files are read too). Every file is streamed line by line by one worker, so document
boundaries survive. Output: `PREFIX/pretrain_data.tfrecord-SSSSS-of-NNNNN` (the format of
`pretraining_data.contract`, docs/tfrecords.md) and, last, `PREFIX/pretrain_data.json`; lines that are not
valid UTF-8 and files that cannot be read are dead letters in `PREFIX/errors/tfrecords-*.jsonl`.

Tokenizing, packing, keys and encoding are `pretraining_data.examples` (plain Python); this module is the Beam
glue: files spread over workers, examples grouped by shard, shards written under a temporary directory and
renamed into place when all are done; the JSON comes last.
"""
from __future__ import annotations

if __name__ == "__main__":
    # `python -m pipelines.tfrecords` runs this file as __main__; the job runs from the importable module instead, so
    # that workers unpickle what it pickles by module name (its element types) and its options register once.
    import sys

    from pipelines.tfrecords import main as job_main
    sys.exit(job_main())

import argparse
import json
import logging
import posixpath
import sys
import uuid
from collections import Counter
from typing import Iterable, Iterator, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.common import (DEAD_LETTERS, DEFAULT_MAX_LINE_BYTES, READ_ERRORS, Line, WriteDeadLetters,
                              add_argument_once, bounded_lines, counter_inc_fn, counters, dead_letter, errors_prefix,
                              expand_globs, job_parser, open_binary, parse_job_args, read_vocabulary, run_pipeline,
                              too_long, use_local_runner_by_default, write_json)
from pretraining_data.contract import METADATA_FILE, SHARD_STEM, build_metadata, shard_name
from pretraining_data.encoding import ExampleEncoder, frame_record
from pretraining_data.examples import (COUNTS, FileExamples, choose_num_shards, file_labels, shard_of,
                                       sum_counts)
from pretraining_data.packing import MIN_TARGET_LENGTH
from vocab.tokenizer import Tokenizer

LOG = logging.getLogger(__name__)
NAMESPACE = "tfrecords"
JOB = "tfrecords"
ERRORS = DEAD_LETTERS
inc = counter_inc_fn(NAMESPACE)
STATS = "stats"
BUCKET_SHIFT = 64 - 8  # 256 key ranges
BUFFER_BYTES = 16 << 20  # examples a worker holds per file before sending them on
MAX_REPORTED_LINES = 100  # invalid lines listed per file (all are counted)
# Above this fraction of the input tokens truncated, the job ends with a WARNING: ELECTRA's recipe loses 13% at
# 128 and 1% at 512 on the sample (docs/tfrecords.md), so more means --max-seq-length is short for the text.
TRUNCATION_WARNING = 0.20


class TfrecordsOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        add_argument_once(parser, "--input", action="append", default=[], metavar="GLOB",
                          help="text shards (local or gs://, .txt or .gz): one sentence per line, a blank "
                               "line between documents; repeatable")
        parser.add_argument("--vocab", metavar="DIR",
                            help="vocabulary directory (vocab.txt + tokenizer_config.json), local or gs://")
        add_argument_once(parser, "--output", metavar="PREFIX",
                          help="output directory, local or gs://")
        parser.add_argument("--max-seq-length", type=int, default=128,
                            help="tokens per example, special tokens included (default 128; 512 for phase 2)")
        add_argument_once(parser, "--num-shards", type=int, default=0,
                          help="number of output shards (default: from --target-shard-mb)")
        parser.add_argument("--target-shard-mb", type=float, default=100.0,
                            help="shard size to aim for in MB (10^6 bytes) when --num-shards is not given "
                                 "(default 100: large enough to keep a TPU host busy)")
        add_argument_once(parser, "--seed", type=int, default=12345,
                          help="seed of packing and shuffling: the same input and seed give the same bytes")
        parser.add_argument("--tokenize-batch", type=int, default=2048,
                            help="sentences tokenized per call (default 2048)")
        add_argument_once(parser, "--max-line-mb", type=float, default=DEFAULT_MAX_LINE_BYTES / 1e6,
                            help="a longer input line is a dead letter, skipped while it is read, so no worker "
                                 "holds it (default: %(default)s)")
        parser.add_argument("--overwrite", action="store_true",
                            help="replace pretrain_data.* already in PREFIX (otherwise that is an error)")


class TokenizeAndPack(beam.DoFn):
    """(label, path) of a text file -> (bucket, [(key, serialised example)]); its counts to STATS, what
    could not be read to ERRORS.

    Examples leave in batches, one per key range (bucket), so that the shuffle moves few large elements
    instead of one per example; a bucket's examples fall into few, neighbouring shards.
    """

    def __init__(self, vocab_dir: str, vocab_settings: dict, max_seq_length: int, seed: int, batch: int,
                 max_line_bytes: int = DEFAULT_MAX_LINE_BYTES):
        self._max_line_bytes = max_line_bytes
        self._vocab_dir = vocab_dir
        self._vocab_settings = vocab_settings
        self._max_seq_length = max_seq_length
        self._seed = seed
        self._batch = batch

    def setup(self) -> None:
        self._tokenizer = Tokenizer.from_vocabulary(read_vocabulary(self._vocab_dir))
        # The directory could have changed since the job was launched and its settings recorded.
        self._tokenizer.check_compatible(self._vocab_settings)
        t = self._tokenizer
        self._encoder = ExampleEncoder(self._max_seq_length, t.vocab_size, t.cls_id, t.sep_id, t.pad_id)

    def process(self, item: tuple[str, str]) -> Iterator:
        label, path = item
        counts: Counter = Counter(num_files=1)
        problems: list[dict] = []
        examples = FileExamples(label, self._seed, self._max_seq_length, self._tokenizer, self._encoder,
                                self._batch, counts)
        buckets: dict[int, list[tuple[int, bytes]]] = {}
        buffered = 0
        record_bytes = 0
        exact_path_before = self._tokenizer.chunks_via_reference
        try:
            for key, record in examples.examples(_decoded_lines(path, counts, problems, self._max_line_bytes)):
                buckets.setdefault(key >> BUCKET_SHIFT, []).append((key, record))
                buffered += len(record)
                if buffered >= BUFFER_BYTES:  # memory stays flat whatever the file's size
                    yield from buckets.items()
                    record_bytes += buffered
                    buckets, buffered = {}, 0
        except OSError:
            raise  # a storage failure: the runner retries the bundle
        except Exception as error:  # noqa: BLE001 - anything else must not fail a day-long job: the file stops
            LOG.exception("packing %s failed", path)
            counts["num_failed_files"] += 1
            problems.append(_error("file", path, f"packing stopped ({type(error).__name__}: {error}); the "
                                                 f"examples before it were kept"))
        yield from buckets.items()
        record_bytes += buffered
        counts["num_record_bytes"] += record_bytes + 16 * counts["num_examples"]  # + TFRecord framing
        if counts["num_failed_files"]:
            counts["num_incomplete_documents"] += examples.ended_inside_document
        # Text the fast tokenizer could get wrong goes through the exact one: worth watching for speed.
        inc("tokenizer_chunks_via_reference", self._tokenizer.chunks_via_reference - exact_path_before)
        for problem in problems:
            yield beam.pvalue.TaggedOutput(ERRORS, problem)
        for name in COUNTS:
            if counts[name]:
                inc(name, counts[name])
        yield beam.pvalue.TaggedOutput(STATS, {name: counts[name] for name in COUNTS})


def _decoded_lines(path: str, counts: Counter, problems: list[dict], max_line_bytes: int) -> Iterator[str]:
    """The file's lines as text. Invalid UTF-8 is replaced (the tokenizer then drops U+FFFD, as BERT does)
    and reported; a line over `max_line_bytes` is skipped while it is read (never held) and reported; a corrupt
    or truncated gzip ends the file where it breaks (the text before is kept)."""
    line_number = text_bytes = 0
    try:
        with open_binary(path) as handle:
            for line_number, raw, length in bounded_lines(handle, max_line_bytes):
                text_bytes += length
                if raw is None:
                    counts["num_lines_over_max_length"] += 1
                    problems.append(too_long(JOB, path, Line(line_number, raw, length), max_line_bytes,
                                             "--max-line-mb"))
                    continue
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    text = raw.decode("utf-8", errors="replace")
                    counts["num_invalid_utf8_lines"] += 1
                    if counts["num_invalid_utf8_lines"] <= MAX_REPORTED_LINES:
                        problems.append(_error("line", path, f"invalid UTF-8: {error}", line_number))
                yield text
    except READ_ERRORS as error:
        counts["num_failed_files"] += 1
        problems.append(_error("file", path, f"cannot read past line {line_number} ({type(error).__name__}: "
                                             f"{error}); the text before it was kept", line_number))
    counts["num_text_bytes"] += text_bytes
    if counts["num_invalid_utf8_lines"] > MAX_REPORTED_LINES:
        problems.append(_error("file", path, f"{counts['num_invalid_utf8_lines'] - MAX_REPORTED_LINES} more "
                                             f"lines of invalid UTF-8 not listed"))


def split_by_shard(item: tuple[int, list[tuple[int, bytes]]], num_shards: int) -> Iterator:
    _, examples = item
    by_shard: dict[int, list[tuple[int, bytes]]] = {}
    for example in examples:
        by_shard.setdefault(shard_of(example[0], num_shards), []).append(example)
    return iter(by_shard.items())


def _error(kind: str, path: str, reason: str, line: Optional[int] = None) -> dict:
    return dead_letter(JOB, kind, path, reason, line=line)


class WriteShard(beam.DoFn):
    """(shard, batches of (key, example)) -> the shard file under the temporary directory, sorted by key."""

    def __init__(self, temp_dir: str):
        self._temp_dir = temp_dir

    def process(self, item: tuple[int, Iterable[list[tuple[int, bytes]]]], num_shards: int) -> Iterator:
        shard, parts = item
        ordered = sorted(example for part in parts for example in part)  # by key, then bytes
        size = 0
        with FileSystems.create(FileSystems.join(self._temp_dir, shard_name(shard, num_shards))) as handle:
            for _, record in ordered:
                framed = frame_record(record)
                handle.write(framed)
                size += len(framed)
        inc("shards_written")
        yield shard, len(ordered), size


class Finalize(beam.DoFn):
    """After every shard is written: move them into place, then write pretrain_data.json."""

    def __init__(self, output: str, temp_dir: str, metadata_fields: dict, overwrite: bool):
        self._output = output
        self._temp_dir = temp_dir
        self._fields = metadata_fields
        self._overwrite = overwrite

    def process(self, _, counts: dict, num_shards: int, written: list) -> Iterator[dict]:
        examples_written = sum(n for _, n, _ in written)
        if examples_written != counts["num_examples"]:
            raise RuntimeError(f"{examples_written} examples written but {counts['num_examples']} made")
        join = FileSystems.join
        names = [shard_name(i, num_shards) for i in range(num_shards)]
        present = {shard for shard, _, _ in written}
        for index in range(num_shards):
            if index not in present:  # a shard no example fell into (tiny inputs): still a valid, empty file
                FileSystems.create(join(self._temp_dir, names[index])).close()
                inc("empty_shards")
        metadata_path = join(self._output, METADATA_FILE)
        if self._overwrite:
            # The old metadata goes first, so no reader takes a mix of old and new shards as complete.
            if FileSystems.exists(metadata_path):
                FileSystems.delete([metadata_path])
            stale = [m.path for r in FileSystems.match([join(self._output, SHARD_STEM + "-*")])
                     for m in r.metadata_list if posixpath.basename(m.path) not in names]
            if stale:
                FileSystems.delete(stale)
        # A retried Finalize finds some shards moved already.
        moving = [n for n in names if FileSystems.exists(join(self._temp_dir, n))]
        FileSystems.rename([join(self._temp_dir, n) for n in moving], [join(self._output, n) for n in moving])
        if FileSystems.exists(self._temp_dir):  # a local directory; on GCS nothing is left under it
            FileSystems.delete([self._temp_dir])
        metadata = build_metadata(num_shards=num_shards, counts=counts, **self._fields)
        write_json(metadata_path, metadata)
        yield metadata


class WritePretrainingData(beam.PTransform):
    """(label, path) of text files -> shards + pretrain_data.json in `output`; yields the metadata."""

    def __init__(self, output: str, vocab_dir: str, vocab_settings: dict, max_seq_length: int, seed: int,
                 num_shards: int, target_shard_mb: float, tokenize_batch: int, overwrite: bool,
                 max_line_bytes: int = DEFAULT_MAX_LINE_BYTES):
        super().__init__()
        self._output = output
        self._vocab_dir = vocab_dir
        self._vocab_settings = vocab_settings
        self._max_seq_length = max_seq_length
        self._seed = seed
        self._num_shards = num_shards
        self._target_shard_mb = target_shard_mb
        self._batch = tokenize_batch
        self._max_line_bytes = max_line_bytes
        self._overwrite = overwrite

    def expand(self, files):
        temp_dir = FileSystems.join(self._output, f".temp-pretrain_data-{uuid.uuid4().hex}")
        packed = (
            files
            # Without this, a runner may fuse the file list with packing and one worker would do all.
            | "Spread" >> beam.Reshuffle()
            | "TokenizeAndPack" >> beam.ParDo(TokenizeAndPack(
                self._vocab_dir, self._vocab_settings, self._max_seq_length, self._seed, self._batch,
                self._max_line_bytes,
            )).with_outputs(ERRORS, STATS, main="examples")
        )
        counts = packed[STATS] | "SumCounts" >> beam.CombineGlobally(sum_counts)
        num_shards = counts | "NumShards" >> beam.Map(choose_num_shards, self._num_shards, self._target_shard_mb)
        num_shards_side = beam.pvalue.AsSingleton(num_shards)
        written = (
            packed.examples
            | "SplitByShard" >> beam.FlatMap(split_by_shard, num_shards_side)
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShards" >> beam.ParDo(WriteShard(temp_dir), num_shards_side)
        )
        fields = {"max_seq_length": self._max_seq_length, "vocab": self._vocab_settings, "seed": self._seed}
        metadata = (
            files.pipeline
            | "Once" >> beam.Create([None])
            | "Finalize" >> beam.ParDo(
                Finalize(self._output, temp_dir, fields, self._overwrite),
                beam.pvalue.AsSingleton(counts), num_shards_side, beam.pvalue.AsList(written))
        )
        _ = packed[ERRORS] | "WriteDeadLetters" >> WriteDeadLetters(errors_prefix(self._output, JOB))
        return metadata


def _existing_outputs(output: str) -> list[str]:
    pattern = FileSystems.join(output, "pretrain_data*")
    return [m.path for r in FileSystems.match([pattern]) for m in r.metadata_list]


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    """The job's flags, checked (an unknown flag or a bad value is exit status 2); nothing is read yet."""
    parser = job_parser("python -m pipelines.tfrecords", __doc__, TfrecordsOptions)
    args = parse_job_args(parser, argv)
    for flag in ("input", "vocab", "output"):
        if not getattr(args, flag):
            parser.error(f"--{flag} is required")
    if args.max_seq_length < MIN_TARGET_LENGTH:
        parser.error(f"--max-seq-length must be at least {MIN_TARGET_LENGTH}, got {args.max_seq_length}")
    if args.num_shards < 0 or args.target_shard_mb <= 0 or args.tokenize_batch < 1 or args.max_line_mb <= 0:
        parser.error("--num-shards must be >= 0; --target-shard-mb, --tokenize-batch and --max-line-mb positive")
    return args


def run(argv: Optional[list[str]] = None) -> dict:
    """Run the job; returns the written pretrain_data.json contents."""
    args = parse_args(argv)
    output = args.output.rstrip("/")
    existing = _existing_outputs(output)
    if existing and not args.overwrite:
        raise SystemExit(f"error: {output} already holds {len(existing)} pretrain_data files "
                         f"(e.g. {existing[0]}); choose another --output or pass --overwrite")

    files = file_labels(expand_globs(args.input, "input"))
    settings = Tokenizer.from_vocabulary(read_vocabulary(args.vocab)).settings()  # fails here, not on workers
    LOG.info("tfrecords: %d text files -> %s (max_seq_length %d, vocab %s, %d ids)",
             len(files), output, args.max_seq_length, args.vocab, settings["vocab_size"])

    # All flags go to Beam too, so that runners and templates see the job's own options.
    options = PipelineOptions(argv)
    use_local_runner_by_default(options)
    pipeline = beam.Pipeline(options=options)
    _ = (
        pipeline
        | "ListFiles" >> beam.Create(files)
        | "WritePretrainingData" >> WritePretrainingData(
            output, args.vocab, settings, args.max_seq_length, args.seed, args.num_shards,
            args.target_shard_mb, args.tokenize_batch, args.overwrite, int(args.max_line_mb * 1_000_000))
    )
    result = run_pipeline(pipeline)
    if result is None:  # a Dataflow dry run: the job was written, nothing ran
        return {}
    stats = counters(result, NAMESPACE)
    with FileSystems.open(FileSystems.join(output, METADATA_FILE)) as handle:
        metadata = json.loads(handle.read())
    truncated = truncated_fraction(metadata)
    LOG.info("tfrecords: %d documents -> %d examples in %d shards; %d of %d tokens written, %d truncated (%.1f%%); "
             "%d invalid UTF-8 lines, %d unreadable files (see %s); %d text chunks took the exact tokenizer",
             metadata["num_documents"], metadata["num_examples"], metadata["num_shards"],
             metadata["num_tokens"], metadata["num_input_tokens"], metadata["num_truncated_tokens"],
             100 * truncated, stats.get("num_invalid_utf8_lines", 0), stats.get("num_failed_files", 0),
             errors_prefix(output, JOB) + "-*.jsonl", stats.get("tokenizer_chunks_via_reference", 0))
    if truncated > TRUNCATION_WARNING:
        LOG.warning("tfrecords: %.1f%% of the %d input tokens were truncated (more than %d%%): --max-seq-length %d "
                    "is short for this text's sentences; build with a larger --max-seq-length (ELECTRA uses 128, "
                    "then 512)", 100 * truncated, metadata["num_input_tokens"], round(100 * TRUNCATION_WARNING),
                    args.max_seq_length)
    return metadata


def truncated_fraction(metadata: dict) -> float:
    """The share of the input's WordPiece tokens that packing cut off (0 for no input)."""
    return metadata["num_truncated_tokens"] / metadata["num_input_tokens"] if metadata["num_input_tokens"] else 0.0


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run(sys.argv[1:])


if __name__ == "__main__":
    main()
