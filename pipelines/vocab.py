"""The vocab job: corpus text shards in, a WordPiece vocabulary directory out.

    python -m pipelines.vocab --input 'out/corpus/text/part-*.txt' --output out/vocab --vocab-size 30522

Input: text files (local or gs://, .gz read transparently), one sentence per line, a blank line between
documents (the corpus job's format). Output, each file written atomically:
  DIR/vocab.txt              exactly --vocab-size tokens: [PAD] [UNK] [CLS] [SEP] [MASK], [unused*],
                             the alphabet, then learned pieces ("##" marks continuations)
  DIR/tokenizer.json         the same tokenizer as a Hugging Face fast tokenizer (transformers.AutoTokenizer)
  DIR/tokenizer_config.json  casing and accent settings (HF format; vocab.tokenizer reads it)
  DIR/vocab_report.json      counts, caps, and quality on held-apart text versus --compare vocabularies
  DIR/counts/                words-*.tsv.gz ("word<TAB>count", count >= --min-count), alphabet.json,
                             histogram.json (distinct words per count)
  DIR/errors/vocab-*.jsonl   dead letters: lines that are not UTF-8, with their file and the reason

Counting runs on the workers (Dataflow or local): BERT's basic tokenization (what training will see),
per-bundle counts combined per word across workers. Only the learner (SentencePiece BPE over the word counts)
runs in this process once the job is done, streaming the counts; its memory is bounded by --max-words
distinct words (the count threshold rises above --min-count if needed).
"""
from __future__ import annotations

if __name__ == "__main__":
    # `python -m pipelines.vocab` runs this file as __main__; the job runs from the importable module instead, so
    # that workers unpickle what it pickles by module name (its element types) and its options register once.
    import sys

    from pipelines.vocab import main as job_main
    sys.exit(job_main())

import argparse
import json
import logging
import sys
from collections import Counter
from typing import Iterable, Iterator, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.window import GlobalWindows

from pipelines.common import (DEAD_LETTERS, DEFAULT_MAX_LINE_BYTES, Line, ReadLines, WriteDeadLetters,
                              add_argument_once, counter_inc_fn, counters, dead_letter, errors_prefix, expand_globs,
                              job_parser, parse_job_args, read_json, read_vocabulary, run_pipeline, snippet,
                              too_long, use_local_runner_by_default, write_atomically, write_vocabulary)
from vocab.learn import (DEFAULT_MAX_PIECE_LENGTH, alphabet_forms, count_threshold, default_max_alphabet,
                         learn_wordpiece)
from vocab.pretokenize import WordSplitter
from vocab.report import quality_report
from vocab.tokenizer import Tokenizer
from vocab.vocabulary import VocabError, parse_vocab

LOG = logging.getLogger(__name__)
NAMESPACE = "vocab"
REPORT_FILE = "vocab_report.json"


JOB = "vocab"
_count = counter_inc_fn(NAMESPACE)


class VocabOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        add_argument_once(parser, "--input", action="append", default=[], metavar="GLOB",
                          help="corpus text files, local or gs:// (.gz allowed); repeatable")
        add_argument_once(parser, "--output", metavar="DIR", help="vocabulary directory, local or gs://")
        parser.add_argument("--vocab-size", type=int, default=30522, help="number of tokens (default 30522)")
        casing = parser.add_mutually_exclusive_group()
        casing.add_argument("--uncased", dest="do_lower_case", action="store_true", default=True,
                            help="lower-case text (default, as BioELECTRA)")
        casing.add_argument("--cased", dest="do_lower_case", action="store_false", help="keep case")
        parser.add_argument("--strip-accents", action=argparse.BooleanOptionalAction, default=None,
                            help="remove accents (default: when uncased, as BERT)")
        parser.add_argument("--min-count", type=int, default=2,
                            help="learn only from words seen at least this often (default 2)")
        parser.add_argument("--max-word-length", type=int, default=100,
                            help="ignore longer words (default 100: BERT turns them into [UNK] anyway)")
        parser.add_argument("--max-words", type=int, default=5_000_000,
                            help="cap on distinct words given to the learner; the count threshold rises "
                                 "above --min-count to respect it (default 5,000,000; the learner needs "
                                 "~1 KB per word)")
        parser.add_argument("--num-unused", type=int, default=0,
                            help="[unused0..N-1] slots after the special tokens, for tokens added later")
        parser.add_argument("--max-alphabet", type=int, default=None,
                            help="most single characters kept, counting 'c' and '##c' apart "
                                 "(default: a tenth of --vocab-size); rarer ones become [UNK]")
        add_argument_once(parser, "--max-line-mb", type=float, default=DEFAULT_MAX_LINE_BYTES / 1e6,
                            help="a longer input line is a dead letter, skipped while it is read, so no worker "
                                 "holds it (default: %(default)s; corpus lines are sentences of a few hundred "
                                 "bytes)")
        parser.add_argument("--max-piece-length", type=int, default=DEFAULT_MAX_PIECE_LENGTH,
                            help=f"longest learned piece in characters (default {DEFAULT_MAX_PIECE_LENGTH})")
        parser.add_argument("--heldout", action="append", default=[], metavar="GLOB",
                            help="held-apart text (one text per line) for the quality figures; repeatable")
        parser.add_argument("--compare", action="append", default=[], metavar="NAME=PATH",
                            help="another vocabulary to compare with: a vocab.txt (read as uncased, like "
                                 "BERT's and SciBERT's uncased releases) or a vocabulary directory; repeatable")


class CountWords(beam.PTransform):
    """Lines of text -> (word, occurrences), words as BERT's basic tokenization splits them.

    Each bundle counts in a dict (flushed at `flush_size` distinct words, so worker memory stays flat) before
    the per-word combine: a word is shuffled once per bundle, not once per occurrence.
    """

    def __init__(self, do_lower_case: bool, strip_accents: bool, max_word_length: int,
                 flush_size: int = 200_000):
        super().__init__()
        self._count_fn = _CountWordsInBundle(do_lower_case, strip_accents, max_word_length, flush_size)

    def expand(self, lines):
        return (
            lines
            | "CountInBundles" >> beam.ParDo(self._count_fn)
            | "SumPerWord" >> beam.CombinePerKey(sum)
        )


class _CountWordsInBundle(beam.DoFn):
    def __init__(self, do_lower_case: bool, strip_accents: bool, max_word_length: int, flush_size: int):
        self._settings = (do_lower_case, strip_accents)
        self._max_word_length = max_word_length
        self._flush_size = flush_size

    def setup(self) -> None:
        self._splitter = WordSplitter(*self._settings)

    def start_bundle(self) -> None:
        self._counts: Counter = Counter()
        self._tally = Counter()

    def process(self, line: str) -> Iterator[tuple[str, int]]:
        self._tally["lines"] += 1
        if not line.strip():
            self._tally["blank_lines"] += 1
            return
        words = self._splitter.words(line)
        self._tally["words"] += len(words)
        for word in words:
            if len(word) > self._max_word_length:
                self._tally["words_over_max_length"] += 1
            else:
                self._counts[word] += 1
        if len(self._counts) >= self._flush_size:
            yield from self._flush()

    def finish_bundle(self):
        for item in self._flush():
            yield GlobalWindows.windowed_value(item)

    def _flush(self) -> Iterator[tuple[str, int]]:
        for name, value in self._tally.items():
            _count(name, value)
        self._tally.clear()
        items = list(self._counts.items())
        self._counts.clear()
        return iter(items)


class DecodeLines(beam.DoFn):
    """(file, `Line`) -> text; a line that is not UTF-8, or longer than the cap, is a dead letter, counted
    (`lines_not_utf8`, `lines_over_max_length`), with its file and line number."""

    ERRORS = DEAD_LETTERS

    def __init__(self, max_line_bytes: int):
        self._max = max_line_bytes

    def process(self, item: tuple[str, Line]) -> Iterator:
        path, line = item
        if line.data is None:
            _count("lines_over_max_length")
            yield beam.pvalue.TaggedOutput(self.ERRORS, too_long(JOB, path, line, self._max, "--max-line-mb"))
            return
        try:
            yield line.data.decode("utf-8")
        except UnicodeDecodeError as err:
            _count("lines_not_utf8")
            yield beam.pvalue.TaggedOutput(self.ERRORS, dead_letter(
                JOB, "line", path, f"not UTF-8: {err}", line=line.number, snippet=snippet(line.data)))


class _CounterFn(beam.CombineFn):
    """Sums Counters; subclasses say what each input adds."""

    def create_accumulator(self) -> Counter:
        return Counter()

    def merge_accumulators(self, accumulators: Iterable[Counter]) -> Counter:
        merged = Counter()
        for accumulator in accumulators:
            merged.update(accumulator)
        return merged

    def extract_output(self, accumulator: Counter) -> dict:
        return dict(accumulator)


class AlphabetFn(_CounterFn):
    """(word, count) -> {alphabet form: occurrences} over every counted word."""

    def add_input(self, accumulator: Counter, item: tuple[str, int]) -> Counter:
        word, count = item
        for form in alphabet_forms(word):
            accumulator[form] += count
        return accumulator


class HistogramFn(_CounterFn):
    """(word, count) -> {count: number of distinct words with it}."""

    def add_input(self, accumulator: Counter, item: tuple[str, int]) -> Counter:
        accumulator[item[1]] += 1
        return accumulator


COUNTS_DIR = "counts"


def build_pipeline(pipeline: beam.Pipeline, input_files: list[str], output: str, do_lower_case: bool,
                   strip_accents: bool, min_count: int, max_word_length: int,
                   max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
    """Counting, on the workers: DIR/counts/words-*.tsv.gz ("word<TAB>count" for words seen at least
    `min_count` times), DIR/counts/alphabet.json and DIR/counts/histogram.json (the only global combines:
    a few thousand numbers each), DIR/errors/."""
    read = (
        pipeline
        | "InputFiles" >> beam.Create(input_files)
        # Without this, a runner may fuse the file list with reading and one worker would read every file.
        | "Spread" >> beam.Reshuffle()
        | "ReadLines" >> beam.ParDo(ReadLines(JOB, NAMESPACE, max_line_bytes)).with_outputs(DEAD_LETTERS,
                                                                                             main="lines")
    )
    decoded = read.lines | "Decode" >> beam.ParDo(DecodeLines(max_line_bytes)).with_outputs(
        DecodeLines.ERRORS, main="lines")
    word_counts = decoded.lines | "CountWords" >> CountWords(do_lower_case, strip_accents, max_word_length)
    counts_dir = FileSystems.join(output, COUNTS_DIR)
    _ = (
        word_counts
        | "KeepFrequent" >> beam.Filter(lambda item, least: item[1] >= least, min_count)
        | "ToTsv" >> beam.MapTuple(lambda word, count: f"{word}\t{count}")  # words hold no whitespace
        | "WriteCounts" >> beam.io.WriteToText(FileSystems.join(counts_dir, "words"), file_name_suffix=".tsv.gz",
                                               shard_name_template="-SSSSS-of-NNNNN")
    )
    for name, combine in (("alphabet", AlphabetFn()), ("histogram", HistogramFn())):
        _ = (
            word_counts
            | f"{name.title()}" >> beam.CombineGlobally(combine)
            | f"{name.title()}ToJson" >> beam.Map(lambda table: json.dumps(table, sort_keys=True, ensure_ascii=False))
            | f"Write{name.title()}" >> beam.io.WriteToText(FileSystems.join(counts_dir, name), file_name_suffix=".json",
                                                            num_shards=1, shard_name_template="")
        )
    _ = ((read[DEAD_LETTERS], decoded[DecodeLines.ERRORS]) | "AllDeadLetters" >> beam.Flatten()
         | "WriteDeadLetters" >> WriteDeadLetters(errors_prefix(output, JOB)))


def _read_counts(counts_dir: str, threshold: int) -> Iterator[tuple[str, int]]:
    """Stream the counted words seen at least `threshold` times: memory holds only what is kept."""
    for path in expand_globs([FileSystems.join(counts_dir, "words-*")], "counts"):
        with FileSystems.open(path) as handle:  # .gz decompressed by its suffix
            for raw in iter(handle.readline, b""):
                word, _, count = raw.decode("utf-8").rstrip("\n").rpartition("\t")
                if int(count) >= threshold:
                    yield word, int(count)


def learn_from_counts(output: str, vocab_size: int, do_lower_case: bool, strip_accents: bool, min_count: int,
                      max_words: int, num_unused: int, max_alphabet: Optional[int], max_piece_length: int) -> dict:
    """Learning, on the launcher: the counts above the threshold -> DIR/vocab.txt + tokenizer_config.json."""
    counts_dir = FileSystems.join(output, COUNTS_DIR)
    histogram = {int(count): n for count, n in read_json(FileSystems.join(counts_dir, "histogram.json")).items()}
    if not histogram:
        raise VocabError(f"vocab: the input holds no words (empty, blank or undecodable files); nothing to "
                         f"learn from, see {output}/errors")
    alphabet = read_json(FileSystems.join(counts_dir, "alphabet.json"))
    threshold = count_threshold(histogram, min_count, max_words)
    kept = list(_read_counts(counts_dir, threshold))
    learned = learn_wordpiece(kept, alphabet, vocab_size, num_unused=num_unused, max_alphabet=max_alphabet,
                              max_piece_length=max_piece_length)
    write_vocabulary(output, learned.tokens, do_lower_case, strip_accents)
    LOG.info("vocab: learned %d pieces from %d words (count >= %d); alphabet %d of %d -> %s",
             learned.stats["learned_pieces"], len(kept), threshold, learned.stats["alphabet_kept"],
             learned.stats["alphabet_size"], output)
    distinct = sum(histogram.values())
    return {"distinct_words": distinct, "count_threshold": threshold,
            "distinct_words_below_threshold": distinct - len(kept), **learned.stats}


def _read_texts(patterns: list[str], what: str) -> list[str]:
    """Non-blank lines of the files matching `patterns` (for held-apart text; small)."""
    texts = []
    for path in expand_globs(patterns, what):
        with FileSystems.open(path) as handle:
            texts.extend(line for line in handle.read().decode("utf-8").splitlines() if line.strip())
    return texts


def _comparison(spec: str) -> tuple[str, Tokenizer]:
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise SystemExit(f"error: --compare wants NAME=PATH, got {spec!r}")
    if path.endswith(".txt"):
        with FileSystems.open(path) as handle:
            return name, Tokenizer(parse_vocab(handle.read(), path), do_lower_case=True, strip_accents=True)
    return name, Tokenizer.from_vocabulary(read_vocabulary(path))


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    """The job's flags, checked (an unknown flag or a bad value is exit status 2); nothing is read yet."""
    parser = job_parser("python -m pipelines.vocab", __doc__, VocabOptions)
    args = parse_job_args(parser, argv)
    if not args.output or not args.input:
        parser.error("--input and --output are required")
    if args.max_line_mb <= 0:
        parser.error("--max-line-mb must be positive")
    if args.vocab_size < 6 or args.min_count < 1 or args.max_word_length < 1 or args.max_words < 1:
        parser.error("--vocab-size must be at least 6; --min-count, --max-word-length, --max-words at least 1")
    return args


def run(argv: Optional[list[str]] = None) -> dict:
    args = parse_args(argv)
    strip_accents = args.do_lower_case if args.strip_accents is None else args.strip_accents
    input_files = expand_globs(args.input, "input")
    comparisons = dict(_comparison(spec) for spec in args.compare)  # bad paths fail before the job
    heldout = _read_texts(args.heldout, "heldout") if args.heldout else []
    LOG.info("vocab: %d text files -> %s (vocab size %d, %s, strip accents %s)", len(input_files),
             args.output, args.vocab_size, "uncased" if args.do_lower_case else "cased", strip_accents)

    # All flags go to Beam too, so that runners and templates see the job's own options.
    options = PipelineOptions(argv)
    use_local_runner_by_default(options)
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, input_files, args.output, args.do_lower_case, strip_accents, args.min_count,
                   args.max_word_length, int(args.max_line_mb * 1_000_000))
    result = run_pipeline(pipeline)
    if result is None:  # a Dataflow dry run: the job was written, nothing ran
        return {}
    stats = counters(result, NAMESPACE)
    learner = learn_from_counts(args.output, args.vocab_size, args.do_lower_case, strip_accents, args.min_count,
                                args.max_words, args.num_unused, args.max_alphabet, args.max_piece_length)

    tokenizer = Tokenizer.from_vocabulary(read_vocabulary(args.output))
    report = {
        "vocab_size": tokenizer.vocab_size,
        "settings": tokenizer.settings(),
        "options": {"min_count": args.min_count, "max_word_length": args.max_word_length,
                    "max_words": args.max_words, "num_unused": args.num_unused,
                    "max_alphabet": (default_max_alphabet(args.vocab_size) if args.max_alphabet is None
                                     else args.max_alphabet),
                    "max_piece_length": args.max_piece_length},
        "inputs": {"files": len(input_files), "heldout_texts": len(heldout)},
        "counts": stats,
        "learner": {"method": "sentencepiece-bpe over word counts, converted to WordPiece", **learner},
        **quality_report(tokenizer, heldout, ",".join(args.heldout), comparisons),
    }
    write_atomically(FileSystems.join(args.output, REPORT_FILE),
                     (json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode())
    LOG.info("vocab: %d lines, %d words (%d distinct), %d lines not UTF-8 -> %s", stats.get("lines", 0),
             stats.get("words", 0), learner["distinct_words"], stats.get("lines_not_utf8", 0),
             FileSystems.join(args.output, REPORT_FILE))
    return report


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run(sys.argv[1:])


if __name__ == "__main__":
    main()
