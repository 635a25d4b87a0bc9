"""What every Beam job of the project shares, so that each job module is only its own graph:

- file globs and the Beam side's file I/O (Beam's `FileSystems`: local, gs:// and any file system Beam knows),
  atomic writes, vocabulary directories;
- one counter factory (`counter_inc_fn`, as TFDS's `get_counter_inc_fn`) and one counted step
  (`CountedStep`): a DoFn that counts `<step>.in`, `<step>.out` and `<step>.removed.<reason>` around one pure
  decision per element, so that in = out + removed holds by construction;
- one dead-letter convention (`dead_letter`, `WriteDeadLetters`): what a job cannot use becomes a JSON line
  `{"job", "kind", "origin", "reason", ...}` under `OUTPUT/errors/JOB-SSSSS-of-NNNNN.jsonl` (for the documents
  job, whose output is a prefix, `PREFIX-errors-SSSSS-of-NNNNN.jsonl`), never a crashed job;
- the local runner, dry runs and the counters of a finished job.
"""
from __future__ import annotations

import argparse
import contextlib
import difflib
import functools
import gzip
import json
import logging
import sys
import uuid
import zlib
from typing import Any, BinaryIO, Iterable, Iterator, NamedTuple, Optional, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import CompressionTypes, FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter

from vocab.vocabulary import Vocabulary, directory_files, read_vocabulary as _read_vocabulary

LOG = logging.getLogger(__name__)


def add_argument_once(parser: argparse.ArgumentParser, *flags: str, **kwargs) -> None:
    """`parser.add_argument`, unless another job's options already declared the flag on this parser.

    Beam parses the flags of every imported `PipelineOptions` subclass with one parser, so two jobs that both
    take `--output` would clash as soon as both are imported (a launcher, the test suite). Each job parses
    its own flags with its own parser, so whichever declaration Beam keeps only has to accept the value.
    """
    if not any(flag in parser._option_string_actions for flag in flags):  # noqa: SLF001 (argparse's registry)
        parser.add_argument(*flags, **kwargs)


def job_parser(prog: str, description: str, options_class, **kwargs) -> argparse.ArgumentParser:
    """The argument parser of a job: its own flags (from its `PipelineOptions` subclass), no abbreviations
    (Beam takes none either, so `--shard` is never silently read as `--shard-size-mb`)."""
    parser = argparse.ArgumentParser(prog=prog, description=description, allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)
    options_class._add_argparse_args(parser)  # noqa: SLF001 (Beam's registration hook)
    return parser


@functools.lru_cache(maxsize=1)
def _beam_parser() -> argparse.ArgumentParser:
    """A parser of every option Beam itself defines (standard, Google Cloud, worker, setup, debug, the
    runners'...): the `PipelineOptions` subclasses of Beam's own modules, not the project's job options."""
    from apache_beam.options import pipeline_options

    parser = pipeline_options._BeamArgumentParser(allow_abbrev=False)  # noqa: SLF001 (what Beam parses with)
    seen = set()
    pending = list(pipeline_options.PipelineOptions.__subclasses__())
    while pending:
        cls = pending.pop(0)
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("apache_beam.") and cls not in seen:
            seen.add(cls)
            cls._add_argparse_args(parser)  # noqa: SLF001
    return parser


def _flags_of(parser: argparse.ArgumentParser) -> list[str]:
    return [flag for action in parser._actions for flag in action.option_strings  # noqa: SLF001
            if flag.startswith("--")]


def parse_job_args(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """The job's flags from `argv`, where every other argument must be one of Beam's own options.

    Beam's `PipelineOptions` discards what it does not know with one warning among hundreds of log lines, so a
    mistyped flag (`--near-duplicate-threshhold`) would run a whole, perhaps paid, job with the default. Here it
    is an error before anything runs: a one-line message naming the argument and the closest valid flag, exit
    status 2. Beam's options (`--runner`, `--direct_num_workers`, `--project`, `--experiments=...`) pass.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args, rest = parser.parse_known_args(argv)
    _, unknown = _beam_parser().parse_known_args(rest)
    if unknown:
        argument = unknown[0]
        name = argument.split("=", 1)[0]
        if name.startswith("--"):
            close = difflib.get_close_matches(name, _flags_of(parser) + _flags_of(_beam_parser()), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else " (see --help)"
            message = f"unrecognized argument {argument}{hint}"
        else:
            message = f"unexpected argument {argument!r}: every value belongs to a --flag (see --help)"
        sys.stderr.write(f"{parser.prog}: error: {message}\n")
        raise SystemExit(2)
    return args


def expand_globs(patterns: Iterable[str], what: str) -> list[str]:
    """All files matching the patterns (local or gs://), sorted; a pattern that matches nothing is an error."""
    paths: set[str] = set()
    for pattern in patterns:
        matched = [m.path for result in FileSystems.match([pattern]) for m in result.metadata_list]
        if not matched:
            raise SystemExit(f"error: --{what} {pattern!r} matches no file")
        paths.update(matched)
    return sorted(paths)


@contextlib.contextmanager
def atomic_output(path: str) -> Iterator[BinaryIO]:
    """A binary stream that becomes `path` (local or gs://) when the block ends without an error: it is written
    under a temporary name and renamed, so readers never see half a file; on an error the temporary file is
    removed and `path` is left as it was."""
    temp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        with FileSystems.create(temp, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            yield handle
    except BaseException:
        if FileSystems.exists(temp):
            FileSystems.delete([temp])
        raise
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([temp], [path])


def write_atomically(path: str, data: bytes) -> None:
    """Write `path` (local or gs://) through a temporary name, so readers never see half a file."""
    with atomic_output(path) as handle:
        handle.write(data)


def write_json(path: str, payload: dict) -> None:
    write_atomically(path, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())


def read_bytes(path: str) -> bytes:
    """The whole file as stored (no decompression); FileNotFoundError when it does not exist."""
    if not FileSystems.exists(path):
        raise FileNotFoundError(path)
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        return handle.read()


def open_binary(path: str) -> BinaryIO:
    """A file's bytes as a stream, gunzipped when its name ends with .gz. Python's gzip reader is used because
    it raises on a truncated or corrupt stream (`READ_ERRORS`), where Beam's decompressing reader stops quietly
    at the cut."""
    raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    return gzip.GzipFile(fileobj=raw, mode="rb") if path.endswith(".gz") else raw


# What reading a damaged file raises (a truncated or corrupt gzip stream); other OSErrors (a transient storage
# failure) are left to fail the bundle, so that the runner retries it.
READ_ERRORS = (zlib.error, EOFError, gzip.BadGzipFile)
_READ_CHUNK = 1 << 20
# --max-line-mb of the jobs that read the corpus's text shards (vocab, tfrecords): its lines are sentences of a
# few hundred bytes, so a line over 1 MB is not a sentence, and no worker should hold one.
DEFAULT_MAX_LINE_BYTES = 1_000_000


class Line(NamedTuple):
    """One line of a file: its number (from 1), its bytes without the line break (`\\n` or `\\r\\n`), or None
    when it is longer than the cap (then it was skipped while it was read, never held whole), and its length in
    the file, line break included."""

    number: int
    data: Optional[bytes]
    length: int


def bounded_lines(stream: BinaryIO, max_line_bytes: int) -> Iterator[Line]:
    """The lines of a binary stream ("\\n"-separated; a final line without one counts), none held longer than
    `max_line_bytes`: memory stays bounded by the cap whatever one line holds."""
    number = 0
    while True:
        data = stream.readline(max_line_bytes + 1)
        if not data:
            return
        number += 1
        length = len(data)
        if data.endswith(b"\n") or length <= max_line_bytes:
            data = data[:-1] if data.endswith(b"\n") else data
            yield Line(number, data[:-1] if data.endswith(b"\r") else data, length)
            continue
        while not data.endswith(b"\n"):  # skip the rest of the over-long line, a chunk at a time
            data = stream.readline(_READ_CHUNK)
            if not data:
                break
            length += len(data)
        yield Line(number, None, length)


def read_json(path: str) -> dict:
    return json.loads(read_bytes(path).decode("utf-8"))


def read_vocabulary(directory: str) -> Vocabulary:
    """A vocabulary directory written by the vocab job (vocab.txt + tokenizer_config.json), checked."""
    return _read_vocabulary(directory, read_bytes, require_config=True)


def write_vocabulary(directory: str, tokens: list[str], do_lower_case: bool, strip_accents: bool) -> None:
    """Write DIR/vocab.txt, DIR/tokenizer.json and then DIR/tokenizer_config.json, each atomically."""
    for name, data in directory_files(tokens, do_lower_case, strip_accents):
        write_atomically(FileSystems.join(directory, name), data)


# --- Counters, counted steps and dead letters ---------------------------------------------------------------------

class _CounterInc:
    """`inc(name, amount=1)` on the Beam counter `namespace/name`; zero amounts are skipped (no empty counters)."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self._counters: dict[str, Any] = {}

    def __call__(self, name: str, amount: int = 1) -> None:
        if amount:
            counter = self._counters.get(name)
            if counter is None:
                # A counter object resolves the running bundle's container at each inc, so one per name serves
                # every bundle; creating it per call was a measurable share of a fast step's time.
                counter = self._counters[name] = Metrics.counter(self.namespace, name)
            counter.inc(amount)

    def __getstate__(self) -> dict:
        return {"namespace": self.namespace}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["namespace"])


def counter_inc_fn(namespace: str) -> _CounterInc:
    """The one way the project's jobs count: `inc = counter_inc_fn("corpus"); inc("filter.in")`."""
    return _CounterInc(namespace)


ERRORS_DIR = "errors"
DEAD_LETTERS = "dead_letters"  # the tag of every step's dead-letter output
EXCLUSIONS = "exclusions"  # the tag of the records of what a step removed: (id, step, reason)
SNIPPET_CHARS = 200


def dead_letter(job: str, kind: str, origin: str, reason: str, **detail: Any) -> dict:
    """One dead letter: what could not be used (`kind`: file, member, record, line, document), where it came
    from (`origin`: a path, `archive#member`), why, and optional detail (`line`, `record`, `offset`, `snippet`,
    ...; None values are left out)."""
    letter = {"job": job, "kind": kind, "origin": origin, "reason": reason}
    letter.update((key, value) for key, value in detail.items() if value is not None)
    return letter


def exclusion(element_id: str, step: str, reason: str) -> dict:
    """The record of one element a step removed (a document's id, the step, why), for a job's exclusion list:
    unlike a dead letter it is no error, but it traces every removal back."""
    return {"id": element_id, "step": step, "reason": reason}


def snippet(text: str | bytes, limit: int = SNIPPET_CHARS) -> str:
    """The start of a bad input, as text, for a dead letter."""
    if isinstance(text, bytes):
        text = text[: limit * 4].decode("utf-8", errors="replace")
    return text[:limit]


def errors_prefix(output_dir: str, job: str) -> str:
    """Where a job writing into a directory puts its dead letters: `OUTPUT/errors/JOB`."""
    return FileSystems.join(output_dir, ERRORS_DIR, job)


class WriteJsonLines(beam.PTransform):
    """Dicts -> `PREFIX-SSSSS-of-NNNNN` + `suffix`, one JSON object per line (sorted keys, UTF-8 as is); a
    `.gz` suffix compresses. `num_shards` 0 lets the runner choose."""

    def __init__(self, prefix: str, suffix: str = ".jsonl", num_shards: int = 0):
        super().__init__()
        self._prefix = prefix
        self._suffix = suffix
        self._num_shards = num_shards

    def expand(self, rows):
        return (
            rows
            | "ToJson" >> beam.Map(lambda row: json.dumps(row, ensure_ascii=False, sort_keys=True))
            | "Write" >> beam.io.WriteToText(self._prefix, file_name_suffix=self._suffix, num_shards=self._num_shards,
                                             shard_name_template="-SSSSS-of-NNNNN")
        )


class WriteDeadLetters(WriteJsonLines):
    """Dead letters (dicts) -> `PREFIX-SSSSS-of-NNNNN.jsonl`, one JSON object per line (written even when empty,
    so a finished job always says how many it had)."""

    def __init__(self, prefix: str):
        super().__init__(prefix, ".jsonl", num_shards=1)


class ReadLines(beam.DoFn):
    """A text file (local or gs://, .gz read as gzip) -> (file, `Line`) for every line, an over-long one with
    `data` None (its consumer turns it into a dead letter); a damaged file is a dead letter after the lines
    before the damage, counted as `files_damaged`. No line longer than `max_line_bytes` is ever held."""

    def __init__(self, job: str, namespace: str, max_line_bytes: int):
        self._job = job
        self._max = max_line_bytes
        self._inc = counter_inc_fn(namespace)

    def process(self, path: str) -> Iterator:
        line = None
        try:
            with open_binary(path) as stream:
                for line in bounded_lines(stream, self._max):
                    yield path, line
        except READ_ERRORS as error:
            self._inc("files_damaged")
            read = line.number if line else 0
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, dead_letter(
                self._job, "file", path, f"cannot read past line {read} ({type(error).__name__}: {error}); "
                f"the lines before it were kept", line=read))


def too_long(job: str, origin: str, line: Line, max_bytes: int, flag: str) -> dict:
    """The dead letter of a line over a job's cap."""
    return dead_letter(job, "line", origin, f"line of {line.length:,} bytes is longer than {flag} "
                       f"({max_bytes:,} bytes); skipped", line=line.number)


class Removed(NamedTuple):
    """What `CountedStep.apply` returns for an element that leaves the step: why, and optionally a dead letter."""

    reason: str
    dead_letter: Optional[dict] = None


class CountedStep(beam.DoFn):
    """One step of a job over single elements: the subclass decides, the base counts.

    A subclass writes `judge(element) -> reason | None` (a filter) or `apply(element) -> output | Removed`
    (a transform that may also remove). The base counts `<step>.in`, then `<step>.out` or
    `<step>.removed.<reason>`, so every step balances by construction; `removed(element, reason)` is a hook for
    what leaves with the element (e.g. its sentences), `self.inc` counts anything else, `self.side(tag, value)`
    sends a value to a tagged output, and a `Removed` with a dead letter goes to the `DEAD_LETTERS` output.
    Per-worker set-up goes in `setup`, as for any DoFn.

    An element on which the decision itself fails (an exception: a bug, or data no check foresaw) does not fail
    the job: it leaves as `<step>.removed.error` with a dead letter naming it (`origin_of`) and the exception,
    logged with its traceback. Apply the step with `apply_step`, which collects the dead letters.
    """

    kind = "document"  # what the elements are, for dead letters

    def __init__(self, namespace: str, step: str):
        self.namespace = namespace
        self.step = step
        self.inc = counter_inc_fn(namespace)
        self.record_exclusions = False  # set by apply_step when it collects exclusions
        self._side: list = []

    def origin_of(self, element) -> str:
        """Names an element in a dead letter: its id, else its origin, else the start of its repr."""
        for item in (element, *(element if isinstance(element, tuple) else ())):
            for attribute in ("id", "origin"):
                value = getattr(item, attribute, None)
                if isinstance(value, str):
                    return value
        return repr(element)[:SNIPPET_CHARS]

    def judge(self, element) -> Optional[str]:
        return None

    def apply(self, element):
        reason = self.judge(element)
        return element if reason is None else Removed(reason)

    def removed(self, element, reason: str) -> None:
        """Called for every element that leaves the step; counts what leaves with it."""

    def side(self, tag: str, value) -> None:
        self._side.append(beam.pvalue.TaggedOutput(tag, value))

    def process(self, element) -> Iterator:
        self._side = []
        self.inc(f"{self.step}.in")
        try:
            outcome = self.apply(element)
        except Exception as error:  # noqa: BLE001 - one element must not fail a day-long job
            LOG.exception("%s.%s failed on %s", self.namespace, self.step, self.origin_of(element))
            self._side = []
            outcome = Removed("error", dead_letter(self.namespace, self.kind, self.origin_of(element),
                                                   f"{self.step} failed: {type(error).__name__}: {error}"[:500]))
        if isinstance(outcome, Removed):
            self.inc(f"{self.step}.removed.{outcome.reason}")
            self.removed(element, outcome.reason)
            yield from self._side
            if outcome.dead_letter is not None:
                yield beam.pvalue.TaggedOutput(DEAD_LETTERS, outcome.dead_letter)
            if self.record_exclusions:
                yield beam.pvalue.TaggedOutput(EXCLUSIONS, exclusion(self.origin_of(element), self.step,
                                                                     outcome.reason))
            return
        yield from self._side
        self.inc(f"{self.step}.out")
        yield outcome


def apply_step(documents, label: str, step: CountedStep, *side_outputs: str, dead_letters: Optional[list] = None,
               exclusions: Optional[list] = None):
    """`documents | label >> ParDo(step)` with its dead letters appended to `dead_letters` and the records of
    what it removed to `exclusions` (each when given), and its side outputs; returns the main output, or the
    whole result when there are side outputs."""
    step.record_exclusions = exclusions is not None
    result = documents | label >> beam.ParDo(step).with_outputs(DEAD_LETTERS, EXCLUSIONS, *side_outputs,
                                                                 main="main")
    if dead_letters is not None:
        dead_letters.append(result[DEAD_LETTERS])
    if exclusions is not None:
        exclusions.append(result[EXCLUSIONS])
    return result if side_outputs else result.main


class GroupTagged(beam.PTransform):
    """A join whose groups stream: {tag: PCollection of (key, value)} -> (key, iterable of (tag, value)).

    Beam's CoGroupByKey gathers each key's values into lists, so a hot key (the one copy that thousands of
    near duplicates match) is held whole by one worker. A GroupByKey's values are an iterable that the runner
    pages in and that may be iterated again, so a consumer that passes over it (twice, if it must find one value
    first) holds one value at a time. The values come in no particular order.
    """

    def expand(self, pcolls: dict):
        tagged = [pcoll | f"Tag_{tag}" >> beam.MapTuple(lambda key, value, tag=tag: (key, (tag, value)))
                  for tag, pcoll in pcolls.items()]
        return tagged | "Flatten" >> beam.Flatten() | "GroupByKey" >> beam.GroupByKey()


def counters(result, namespace: str) -> dict[str, int]:
    """The final values of a job's counters in `namespace`, from the runner's metrics (Direct or Dataflow)."""
    query = result.metrics().query(MetricsFilter().with_namespace(namespace))
    values: dict[str, int] = {}
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        values[counter.key.metric.name] = values.get(counter.key.metric.name, 0) + int(value or 0)
    return dict(sorted(values.items()))


# Beam's local runner. Asked for "DirectRunner" (or nothing), Beam 2.77 first tries its Prism runner, which
# downloads a binary from GitHub before falling back to this one; so local jobs name it directly. It honours
# --direct_running_mode (in_memory, multi_threading, multi_processing) and --direct_num_workers.
LOCAL_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"


def use_local_runner_by_default(options) -> bool:
    """Run on `LOCAL_RUNNER` unless another runner (Dataflow...) was chosen; True when running locally."""
    from apache_beam.options.pipeline_options import StandardOptions

    standard = options.view_as(StandardOptions)
    if standard.runner in (None, "DirectRunner", "direct", "FnApiRunner", LOCAL_RUNNER):
        standard.runner = LOCAL_RUNNER
        _return_large_buffers_to_the_system()
        return True
    return False


def _return_large_buffers_to_the_system() -> None:
    """The local runner holds each step's output as large encoded buffers and frees them step by step. glibc
    serves a freed buffer's size from its heap afterwards (its mmap threshold adapts upwards), where freed
    memory stays with the process; a fixed threshold keeps every buffer over 128 KiB in its own mapping, which
    goes back to the system when it is freed (measured: the corpus job's peak memory a fifth lower, no slower).
    Elsewhere (another C library, Dataflow's workers) nothing changes."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):  # not glibc: nothing to set
        pass


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


def run_pipeline(pipeline):
    """Run a pipeline and wait for it; on a Dataflow dry run write the job and return None.

    `--dry_run=True --dataflow_job_file=FILE` makes the DataflowRunner build the job without submitting
    it; Beam then writes nothing, so the job description is written here for the user (and the tests) to
    inspect. The caller skips everything that needs results when this returns None.
    """
    from apache_beam.options.pipeline_options import DebugOptions, TestOptions
    from google.protobuf import json_format

    result = pipeline.run()
    if pipeline.options.view_as(TestOptions).dry_run:
        job_file = pipeline.options.view_as(DebugOptions).dataflow_job_file
        job = getattr(result, "job", None)
        if job_file and job is not None:
            from apache_beam.runners.dataflow.internal.apiclient import DataflowApplicationClient

            # What Beam does before it submits: stage the code (setup file or container) and the pipeline
            # to --temp_location, and fill in the job's environment, so the file is the job as submitted.
            DataflowApplicationClient(job.options, job.root_staging_location).create_job_description(job)
            write_atomically(job_file, job.json().encode("utf-8"))
            # Runner v2 keeps the steps in the staged pipeline proto; a readable copy goes beside the job.
            write_atomically(f"{job_file}.pipeline.json",
                             json_format.MessageToJson(job.proto_pipeline).encode("utf-8"))
            LOG.info("dry run: job description written to %s (steps: %s.pipeline.json)", job_file, job_file)
        return None
    result.wait_until_finish()
    return result
