"""Download PubMed and PMC from NCBI / the PMC Cloud Service (or a mirror) into a local directory or gs:// prefix.

The driver lists the source (small next to the data) and writes the plan to DEST/_download_plan.jsonl; the
plan is the pipeline's input, spread across workers, and each worker fetches, verifies and names its files
through Beam's FileSystems. The rules each file follows are in sources/fetch.py. At the end the driver writes
DEST/_download_summary.json from the job's metrics; DEST/errors/download-*.jsonl lists every file that failed
(dead letters, with the URL and the reason). The exit status is 1 when any file failed (after everything else was fetched).
"""
from __future__ import annotations

if __name__ == "__main__":
    # `python -m pipelines.download` runs this file as __main__; the job runs from the importable module instead, so
    # that workers unpickle what it pickles by module name (its element types) and its options register once.
    import sys

    from pipelines.download import main as job_main
    sys.exit(job_main())

import argparse
import collections
import datetime
import logging
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import BinaryIO, Optional, Sequence

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.localfilesystem import LocalFileSystem
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from pipelines.common import (DEAD_LETTERS, LOCAL_RUNNER, WriteDeadLetters, counter_inc_fn, counters, dead_letter,
                              errors_prefix, job_parser, parse_job_args, run_pipeline, use_local_runner_by_default,
                              write_atomically, write_json)
from sources.fetch import (
    DOWNLOADED,
    FAILED,
    LICENCE_SKIPPED,
    NOT_OPEN_ACCESS_SKIPPED,
    RETRACTED_SKIPPED,
    SKIPPED_EXISTING,
    Fetcher,
    Outcome,
)
from sources.httpclient import DownloadError, GuardedClient, HttpSettings, make_session
from sources.layouts import SOURCES, SourceLayout, get_layout, parse_licences
from sources.listing import ListingError
from sources.plan import Plan, RemoteFile, plan_files

log = logging.getLogger("pipelines.download")

NAMESPACE = "download"
PLAN_NAME = "_download_plan.jsonl"
SUMMARY_NAME = "_download_summary.json"
JOB = "download"
_count = counter_inc_fn(NAMESPACE)
ERRORS_TAG = DEAD_LETTERS
# Outcome statuses and events that become counters (every decision is counted, also when zero).
COUNTERS = (
    "listed", "downloaded", "skipped_existing", "failed", "retracted_skipped", "licence_skipped",
    "not_open_access_skipped", "bytes", "retried", "http_retries", "read_retries", "checksum_retries",
    "checksum_failed", "bad_content", "not_whole", "existing_not_whole", "gzip_zero_padded", "resumed",
    "range_ignored", "foreign_host_refused", "metadata_refreshed",
    "verified_md5-sidecar", "verified_md5", "verified_gzip", "verified_size", "verified_none",
)

EXAMPLES = """\
examples:
  python -m pipelines.download --source pubmed-baseline --dest /data/raw/pubmed/baseline
  python -m pipelines.download --source pubmed-updates --dest gs://BUCKET/raw/pubmed/updatefiles \\
      --runner DataflowRunner --project P --region R --temp_location gs://BUCKET/tmp
  python -m pipelines.download --source pmc-oa --dest /data/raw/pmc --licence comm --prefix PMC3 --limit 1000
  python -m pipelines.download --source pmc-bulk --dest /data/raw/oa_bulk --licence comm,noncomm \\
      --include 'oa_*_xml.incr.2024-*'
  python -m pipelines.download --source pubmed-baseline --base-url http://127.0.0.1:8000/pubmed/baseline/ \\
      --dest out/raw/baseline

Any Beam pipeline option (--runner, --project, --direct_num_workers, ...) may be added. On the local runner,
files are fetched by --max-concurrency threads. Re-running the same command fetches only what is missing or
changed; the exit status is 1 when any file failed (see DEST/errors/download-*.jsonl).
"""


class DownloadOptions(PipelineOptions):
    """Options of `python -m pipelines.download`."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument("--source", choices=sorted(SOURCES), help="what to download (required)")
        parser.add_argument("--dest", help="destination directory or gs://bucket/prefix (required)")
        parser.add_argument(
            "--base-url", dest="base_url", default=None,
            help="where the source lives; default: NCBI's server or the PMC Cloud Service bucket. "
            + "; ".join(f"{name}: {layout.base_url}" for name, layout in SOURCES.items()),
        )
        parser.add_argument("--limit", type=int, default=None,
                            help="fetch at most this many data files (counted after --include, before the "
                                 "licence/retraction filters that need each article's metadata)")
        parser.add_argument("--include", action="append", default=None, metavar="GLOB",
                            help="only files whose name matches this glob (repeatable; a glob with '/' matches "
                                 "the path under the base URL)")
        parser.add_argument("--licence", "--license", dest="licence", action="append", default=None,
                            metavar="GROUP", help="pmc-oa, pmc-bulk: licence groups comm, noncomm, other "
                                                  "(repeatable or comma-separated; default all)")
        parser.add_argument("--prefix", default=None,
                            help="pmc-oa: only bucket keys starting with this prefix (e.g. PMC3)")
        parser.add_argument("--max-concurrency", dest="max_concurrency", type=int, default=4,
                            help="simultaneous downloads per worker process (politeness; default 4)")
        parser.add_argument("--retries", type=int, default=5,
                            help="retries per request on connection errors, 429 and 5xx, and resumes of an "
                                 "interrupted transfer (default 5)")
        parser.add_argument("--retry-backoff", dest="retry_backoff", type=float, default=1.0,
                            help="first retry pause in seconds, doubled each time (default 1.0)")
        parser.add_argument("--max-retry-after", dest="max_retry_after", type=float, default=300.0,
                            help="cap in seconds on a server's Retry-After (default 300)")
        parser.add_argument("--checksum-attempts", dest="checksum_attempts", type=int, default=2,
                            help="downloads of a file whose checksum fails before it is reported (default 2)")
        parser.add_argument("--timeout", type=float, default=60.0,
                            help="seconds to connect and between reads (default 60)")
        # dest is not "user_agent": Beam's own --user_agent would shadow it.
        parser.add_argument("--user-agent", dest="http_user_agent", default=HttpSettings.user_agent,
                            help="User-Agent header sent to the server")
        parser.add_argument("--layout", default=None, metavar="JSON",
                            help="override layout fields of sources/layouts.py, e.g. "
                                 "'{\"licence_dirs\": {\"comm\": \"oa_comm/xml/\"}}'")


@dataclass(frozen=True)
class FetchSettings:
    """Everything a worker needs (picklable)."""

    base_url: str
    dest: str
    layout: SourceLayout
    licences: tuple[str, ...]
    http: HttpSettings
    checksum_attempts: int
    max_concurrency: int
    total: int  # planned files, for progress lines
    run_id: str = ""  # keeps the progress count of one run apart from earlier runs in the same process


class BeamStorage:
    """The `sources.fetch.Storage` of a destination, through Beam's FileSystems (local disk, gs://, ...)."""

    def __init__(self, dest: str) -> None:
        self.dest = dest.rstrip("/") or "/"

    def join(self, relative: str) -> str:
        return FileSystems.join(self.dest, *relative.split("/"))

    def exists(self, path: str) -> bool:
        return FileSystems.exists(path)

    def size(self, path: str) -> Optional[int]:
        return FileSystems.get_filesystem(path).size(path) if FileSystems.exists(path) else None

    def read(self, path: str) -> bytes:
        with self.open_read(path) as stream:
            return stream.read()

    def open_read(self, path: str) -> BinaryIO:
        return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)

    def create(self, path: str) -> BinaryIO:
        # UNCOMPRESSED: Beam would otherwise gzip anything whose name ends in .gz a second time.
        return FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED)

    def rename(self, source: str, destination: str) -> None:
        FileSystems.rename([source], [destination])

    def delete(self, path: str) -> None:
        FileSystems.delete([path])

    def write_atomically(self, path: str, data: bytes) -> None:
        write_atomically(path, data)

    def local_path(self, path: str) -> Optional[str]:
        return path if isinstance(FileSystems.get_filesystem(path), LocalFileSystem) else None


_STATUS_WORDS = {
    SKIPPED_EXISTING: "already verified here, skipped",
    RETRACTED_SKIPPED: "retracted, skipped",
    LICENCE_SKIPPED: "outside --licence, skipped",
    NOT_OPEN_ACCESS_SKIPPED: "not open access, skipped",
}
_progress: collections.Counter = collections.Counter()  # files done per run_id, in this process
_progress_lock = threading.Lock()


def _human(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


class FetchFn(beam.DoFn):
    """Fetch each planned file; failures go to the `errors` output, everything is counted."""

    def __init__(self, settings: FetchSettings) -> None:
        self.settings = settings

    def setup(self) -> None:
        settings = self.settings
        self._session = make_session(settings.http)
        self._storage = BeamStorage(settings.dest)
        self._fetcher = Fetcher(
            client=GuardedClient(self._session, settings.base_url, settings.http),
            storage=self._storage,
            layout=settings.layout,
            licences=settings.licences,
            checksum_attempts=settings.checksum_attempts,
            max_concurrency=settings.max_concurrency,
        )

    def teardown(self) -> None:
        self._session.close()

    def process(self, item: RemoteFile):
        _count("listed")
        outcome = self._fetcher.fetch(item)
        self._count_outcome(outcome)
        self._report_progress(outcome)
        if outcome.status == FAILED:
            yield beam.pvalue.TaggedOutput(ERRORS_TAG, dead_letter(
                JOB, "file", item.url, outcome.reason, path=item.path,
                time=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")))
        elif outcome.status in (DOWNLOADED, SKIPPED_EXISTING):
            yield self._storage.join(item.path)

    @staticmethod
    def _count_outcome(outcome: Outcome) -> None:
        _count(outcome.status)
        _count("bytes", outcome.bytes)
        if outcome.status == DOWNLOADED:
            _count(f"verified_{outcome.verified}")
            Metrics.distribution(NAMESPACE, "file_bytes").update(outcome.size)
        for event, count in outcome.events.items():
            _count(event, count)
        retried = sum(outcome.events[e] for e in ("http_retries", "read_retries", "checksum_retries"))
        if retried:
            _count("retried", retried)

    def _report_progress(self, outcome: Outcome) -> None:
        with _progress_lock:
            _progress[self.settings.run_id] += 1
            done = _progress[self.settings.run_id]
        position = f"[{done}/{self.settings.total}]"
        if outcome.status == DOWNLOADED:
            rate = outcome.bytes / outcome.seconds if outcome.seconds > 0 else 0.0
            log.info("%s %s %s in %.2f s (%s/s)", position, outcome.path, _human(outcome.size), outcome.seconds,
                     _human(rate))
        elif outcome.status == FAILED:
            log.warning("%s %s FAILED: %s", position, outcome.path, outcome.reason)
        else:
            log.info("%s %s %s", position, outcome.path, _STATUS_WORDS[outcome.status])


class DownloadFiles(beam.PTransform):
    """PCollection[RemoteFile] -> outputs `fetched` (destination paths now verified there) and `errors` (dicts)."""

    def __init__(self, settings: FetchSettings) -> None:
        super().__init__()
        self.settings = settings

    def expand(self, files):
        return (
            files
            | "Spread" >> beam.Reshuffle()
            | "Fetch" >> beam.ParDo(FetchFn(self.settings)).with_outputs(ERRORS_TAG, main="fetched")
        )


def build_pipeline(pipeline: beam.Pipeline, plan_path: str, settings: FetchSettings) -> None:
    results = (
        pipeline
        | "ReadPlan" >> beam.io.ReadFromText(plan_path)
        | "ParsePlan" >> beam.Map(RemoteFile.from_json)
        | "Download" >> DownloadFiles(settings)
    )
    _ = results[ERRORS_TAG] | "WriteDeadLetters" >> WriteDeadLetters(errors_prefix(settings.dest, JOB))


def make_summary(args, base_url: str, plan: Plan, counters: dict[str, int], seconds: float) -> dict:
    notes = []
    if counters["verified_gzip"]:
        notes.append(f"{counters['verified_gzip']} file(s) had no published MD5 and were verified only by reading "
                     "their gzip stream to its end (catches truncation and corruption, not substitution)")
    if counters["verified_size"]:
        notes.append(f"{counters['verified_size']} file(s) had a multipart ETag (no MD5) and were verified by "
                     "size only")
    if counters["verified_none"]:
        notes.append(f"{counters['verified_none']} companion file(s) (file lists) have no published checksum: "
                     "parsed to their end (every row with its columns, the last line ended) and not an HTML page")
    if counters["gzip_zero_padded"]:
        notes.append(f"{counters['gzip_zero_padded']} gzip file(s) end with zero padding after the gzip stream "
                     "(skipped by every reader)")
    return {
        "source": args.source,
        "base_url": base_url,
        "dest": args.dest,
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "planned": len(plan.files),
        "listing": dict(sorted(plan.stats.items())),
        "downloaded": counters["downloaded"],
        "skipped_existing": counters["skipped_existing"],
        "failed": counters["failed"],
        "bytes": counters["bytes"],
        "megabytes_per_second": round(counters["bytes"] / seconds / 1e6, 3) if seconds > 0 else None,
        "counters": dict(sorted(counters.items())),
        "verification_notes": notes,
        "errors_file": errors_prefix(args.dest, JOB) + "-00000-of-00001.jsonl",
    }


def summary_line(summary: dict) -> str:
    c = summary["counters"]
    filtered = [f"{c[name]} {label}" for name, label in (
        ("retracted_skipped", "retracted"), ("licence_skipped", "outside --licence"),
        ("not_open_access_skipped", "not open access")) if c[name]]
    return (
        f"download {summary['source']}: {summary['planned']} files planned, {c['downloaded']} downloaded "
        f"({_human(c['bytes'])}, {summary['megabytes_per_second'] or 0:.2f} MB/s overall), {c['skipped_existing']} skipped "
        f"(already verified), {c['failed']} failed"
        + (f"; skipped by metadata: {', '.join(filtered)}" if filtered else "")
        + (f"; {c['retried']} retries" if c["retried"] else "")
        + f"; {summary['seconds']:.1f} s"
    )


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """The job's flags, checked (an unknown flag or a bad value is exit status 2); nothing is fetched yet.
    Also sets `args.licences` and `args.source_layout`, parsed from --licence and --source/--layout."""
    parser = job_parser("python -m pipelines.download", __doc__.split("\n\n")[0], DownloadOptions,
                        epilog=EXAMPLES)
    args = parse_job_args(parser, argv)
    if not args.source or not args.dest:
        parser.error("--source and --dest are required")
    for name in ("limit", "max_concurrency", "checksum_attempts"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    try:
        args.licences = parse_licences(args.licence)
        args.source_layout = get_layout(args.source, args.layout)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def _use_threads_locally(options: PipelineOptions, argv: Sequence[str], threads: int) -> None:
    """On the local runner, fetch with `threads` workers unless the user chose how the DirectRunner runs."""
    if options.view_as(StandardOptions).runner != LOCAL_RUNNER:
        return
    if any(arg.startswith(("--direct_num_workers", "--direct_running_mode")) for arg in argv):
        return
    direct = options.view_as(DirectOptions)
    direct.direct_running_mode = "multi_threading"
    direct.direct_num_workers = max(1, threads)


def run(argv: Optional[Sequence[str]] = None) -> int:
    """Run the download; returns the process exit status (0 all fetched, 1 some file or the listing failed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    licences, layout = args.licences, args.source_layout
    if args.prefix is not None:
        layout = layout.with_overrides({"prefix": args.prefix})
    base_url = args.base_url or layout.base_url
    if not base_url.endswith("/"):
        base_url += "/"
    http = HttpSettings(retries=args.retries, backoff=args.retry_backoff, timeout=args.timeout,
                        max_connections=args.max_concurrency, max_retry_after=args.max_retry_after,
                        user_agent=args.http_user_agent)

    options = PipelineOptions(argv)
    if not use_local_runner_by_default(options) and "://" not in args.dest:
        runner = options.view_as(StandardOptions).runner
        sys.stderr.write(f"python -m pipelines.download: error: --dest must be a gs:// (or other remote) path for "
                         f"{runner}: its workers cannot see {args.dest}\n")
        raise SystemExit(2)

    started = time.monotonic()
    try:
        with make_session(http) as session:
            plan = plan_files(GuardedClient(session, base_url, http), layout, base_url,
                              include=args.include or (), limit=args.limit, licences=licences)
    except (DownloadError, ListingError, ValueError) as exc:
        log.error("listing %s failed: %s", base_url, exc)
        return 1
    log.info("listed %s: %d files to check (%s)", base_url, len(plan.files),
             ", ".join(f"{k}={v}" for k, v in sorted(plan.stats.items())))
    plan_path = FileSystems.join(args.dest, PLAN_NAME)
    write_atomically(plan_path, "".join(item.to_json() + "\n" for item in plan.files).encode())

    settings = FetchSettings(base_url=base_url, dest=args.dest, layout=layout, licences=licences, http=http,
                             checksum_attempts=args.checksum_attempts, max_concurrency=args.max_concurrency,
                             total=len(plan.files), run_id=uuid.uuid4().hex)
    _use_threads_locally(options, argv, args.max_concurrency)
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, plan_path, settings)
    result = run_pipeline(pipeline)
    if result is None:  # a Dataflow dry run: the job was written, nothing was fetched
        return 0
    counts = {name: 0 for name in COUNTERS} | counters(result, NAMESPACE)
    summary = make_summary(args, base_url, plan, counts, time.monotonic() - started)
    write_json(FileSystems.join(args.dest, SUMMARY_NAME), summary)
    log.info("%s", summary_line(summary))
    for note in summary["verification_notes"]:
        log.info("note: %s", note)
    if summary["failed"]:
        log.error("%d file(s) failed; see %s", summary["failed"], summary["errors_file"])
        return 1
    return 0


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    # Each run rewrites DEST/errors/download-*.jsonl by design; Beam would warn about replacing it.
    logging.getLogger("apache_beam.io.filebasedsink").setLevel(logging.ERROR)
    sys.exit(run())


if __name__ == "__main__":
    main()
