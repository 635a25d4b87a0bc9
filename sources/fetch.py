"""Fetch one planned file: skip it if already verified, download it resumably, verify it, then name it.

The rules every file follows:
- It is written under `<final>.part` and gets its final name only after its checksum (or, where none is
  published, its gzip integrity or size) has been verified. A file with none of these (the bulk filelists) is
  parsed to its end instead (`sources.checksums.whole_file_problem`): a body sent without Content-Length and
  not chunked ends where the connection drops, and its transfer cannot tell a cut from the end. Without a
  parser for its type such a file needs a framed body (Content-Length or chunked), or it is refused. A failed check deletes the `.part` and downloads
  the file again from scratch, up to `checksum_attempts` times; then the file is reported as failed.
- A finished file gets a small record `<final>.md5` in NCBI's sidecar format. A re-run skips a file whose record
  matches the checksum the source publishes now (a file changed upstream is fetched again). A finished file
  without its record (a run stopped between the two renames) is hashed once and the record is written.
- A transfer cut off mid-stream resumes with an HTTP Range request where the destination is a local disk (the
  `.part` stays across runs, too); object stores cannot append, so there the file restarts.
- PMC Cloud Service articles: the per-article JSON is read first (from the destination when its MD5 still
  matches the listing's ETag) and decides; a wanted article's JSON is saved beside its XML, before the XML.

Storage is abstract here (`Storage`), so this module stays free of Beam; the pipeline passes Beam's
FileSystems, which makes gs:// destinations work.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import BinaryIO, Optional, Protocol, Sequence
from urllib.parse import urlsplit

import requests
import urllib3

from sources.checksums import (
    ChecksumError,
    GzipIntegrity,
    content_problem,
    format_md5_record,
    parse_md5_sidecar,
    whole_file_problem,
)
from sources.httpclient import (
    DownloadError,
    ForeignHostError,
    GuardedClient,
    HTTPStatusError,
    pause_before_retry,
    retries_used,
)
from sources.layouts import SourceLayout, licence_group
from sources.plan import VERIFY_GZIP, VERIFY_MD5, VERIFY_MD5_SIDECAR, VERIFY_NONE, RemoteFile

log = logging.getLogger(__name__)

# Outcome statuses.
DOWNLOADED = "downloaded"
SKIPPED_EXISTING = "skipped_existing"
FAILED = "failed"
RETRACTED_SKIPPED = "retracted_skipped"
LICENCE_SKIPPED = "licence_skipped"
NOT_OPEN_ACCESS_SKIPPED = "not_open_access_skipped"

PART_SUFFIX = ".part"
RECORD_SUFFIX = ".md5"
_CHUNK = 1 << 20  # at most this much per read; read1 returns what has arrived
_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.Timeout,
    urllib3.exceptions.HTTPError,  # raised by raw reads: IncompleteRead, ReadTimeoutError, ...
    ConnectionError,
)


class Storage(Protocol):
    """The destination's file operations (Beam FileSystems in the pipeline). Paths are full paths/URLs."""

    def join(self, relative: str) -> str: ...
    def exists(self, path: str) -> bool: ...
    def size(self, path: str) -> Optional[int]: ...
    def read(self, path: str) -> bytes: ...
    def open_read(self, path: str) -> BinaryIO: ...
    def create(self, path: str) -> BinaryIO: ...
    def rename(self, source: str, destination: str) -> None: ...
    def delete(self, path: str) -> None: ...
    def write_atomically(self, path: str, data: bytes) -> None:
        """Write a small file so that readers see the old one or the whole new one, never a part."""
    def local_path(self, path: str) -> Optional[str]:
        """The OS path when `path` is on a local disk (resumable), else None."""


class VerificationError(DownloadError):
    """Content that arrived whole but is not the file: wrong checksum, HTML error page, bad gzip, wrong size."""


@dataclass
class Outcome:
    path: str
    url: str
    status: str = FAILED
    bytes: int = 0  # received over the network for this file in this run
    size: int = 0  # size of the finished file
    seconds: float = 0.0
    verified: str = ""  # how the finished file was verified (a VERIFY_* name)
    reason: str = ""
    events: Counter = field(default_factory=Counter)  # retries, resumes, checksum failures, ... (for counters)


@dataclass
class _Transfer:
    md5: str
    size: int
    gzip_problem: Optional[str]
    framed: bool = True  # the last response had a Content-Length or was chunked: a cut would have raised
    gzip_zero_padding: int = 0


# Politeness across all threads of a worker process, whatever the runner does with DoFn instances.
_slots_lock = threading.Lock()
_slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}


def host_slots(url: str, limit: int) -> threading.BoundedSemaphore:
    host = urlsplit(url).netloc
    with _slots_lock:
        return _slots.setdefault((host, limit), threading.BoundedSemaphore(limit))


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "y")
    return bool(value)


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class Fetcher:
    """Fetches `RemoteFile`s into a `Storage`; one per worker thread (holds no per-file state)."""

    def __init__(
        self,
        client: GuardedClient,
        storage: Storage,
        layout: SourceLayout,
        licences: Sequence[str],
        checksum_attempts: int = 2,
        max_concurrency: int = 4,
    ) -> None:
        self.client = client
        self.storage = storage
        self.layout = layout
        self.licences = frozenset(licences)
        self.checksum_attempts = max(1, checksum_attempts)
        self.max_concurrency = max_concurrency

    def fetch(self, item: RemoteFile) -> Outcome:
        """Bring `item` to the destination (or decide not to). Never raises: failures are in the Outcome."""
        outcome = Outcome(path=item.path, url=item.url)
        started = time.monotonic()
        try:
            with host_slots(item.url, self.max_concurrency):
                self._fetch(item, outcome)
        except ForeignHostError as exc:
            outcome.events["foreign_host_refused"] += 1
            outcome.status, outcome.reason = FAILED, str(exc)
        except (DownloadError, requests.RequestException, OSError, ValueError) as exc:
            outcome.status, outcome.reason = FAILED, f"{exc}" if isinstance(exc, DownloadError) else repr(exc)
        except Exception as exc:  # one file's unexpected error must not stop the others; it is still reported
            log.exception("unexpected error on %s", item.url)
            outcome.status, outcome.reason = FAILED, f"unexpected {exc!r}"
        outcome.seconds = time.monotonic() - started
        return outcome

    def _fetch(self, item: RemoteFile, outcome: Outcome) -> None:
        metadata: Optional[bytes] = None
        if item.article:
            status, metadata = self._article_decision(item, outcome)
            if status:
                outcome.status = status
                return
        final = self.storage.join(item.path)
        part = final + PART_SUFFIX
        for attempt in range(1, self.checksum_attempts + 1):
            problem = self._attempt(item, final, part, metadata, outcome, check_existing=attempt == 1)
            if problem is None:
                return
            outcome.events["checksum_failed"] += 1
            self._discard(part)  # never resumed: the next attempt downloads from scratch
            if attempt == self.checksum_attempts:
                raise DownloadError(f"verification failed {attempt} time(s): {problem}")
            outcome.events["checksum_retries"] += 1
            log.warning("%s failed verification (%s); downloading it again", item.path, problem)

    def _attempt(self, item: RemoteFile, final: str, part: str, metadata: Optional[bytes], outcome: Outcome,
                 check_existing: bool) -> Optional[str]:
        """One try. None when the file is now in place (downloaded or already there), else what was wrong."""
        try:
            expected = self._expected_md5(item, outcome)
        except ChecksumError as exc:  # an unreadable sidecar is as suspect as a bad file: try again
            return f"unreadable MD5 sidecar {item.md5_url}: {exc}"
        if check_existing and self._already_done(item, final, expected):
            problem = self._not_whole(item, final, framed=True)
            if problem is None:
                self._save_metadata(item, metadata)
                outcome.status, outcome.size = SKIPPED_EXISTING, self.storage.size(final) or 0
                return None
            outcome.events["existing_not_whole"] += 1  # named by an earlier run that could not check it
            log.warning("%s: the copy in the destination is not whole (%s); fetching it again", item.path, problem)
        try:
            transfer = self._transfer(item, part, outcome)
        except VerificationError as exc:
            outcome.events["bad_content"] += 1
            return str(exc)
        problem = self._verification_problem(item, expected, transfer)
        if problem:
            return problem
        problem = self._not_whole(item, part, transfer.framed)
        if problem:
            outcome.events["not_whole"] += 1
            return problem
        if transfer.gzip_zero_padding:
            outcome.events["gzip_zero_padded"] += 1
        self._save_metadata(item, metadata)  # the JSON lands first: a visible XML always has its metadata
        self.storage.rename(part, final)
        self.storage.write_atomically(final + RECORD_SUFFIX, format_md5_record(item.name, transfer.md5).encode())
        outcome.status, outcome.size, outcome.verified = DOWNLOADED, transfer.size, item.verify
        return None

    def _save_metadata(self, item: RemoteFile, metadata: Optional[bytes]) -> None:
        if metadata is not None and item.metadata_path:
            self.storage.write_atomically(self.storage.join(item.metadata_path), metadata)

    # -- PMC Cloud Service articles ------------------------------------------------------------------------------

    def _article_decision(self, item: RemoteFile, outcome: Outcome) -> tuple[Optional[str], Optional[bytes]]:
        """(skip status or None, metadata bytes to save beside the XML or None when already there)."""
        if not item.metadata_url or not item.metadata_path:
            raise DownloadError(f"no metadata JSON beside {item.path} in the listing")
        meta_dest = self.storage.join(item.metadata_path)
        body, from_dest = None, False
        if item.metadata_md5 and self.storage.exists(meta_dest):
            local = self.storage.read(meta_dest)
            if md5_hex(local) == item.metadata_md5 and _json_object_problem(local) is None:
                body, from_dest = local, True
        if body is None:
            body = self._fetch_small(item.metadata_url, item.metadata_md5, outcome, _json_object_problem)
        meta = json.loads(body)
        status = None
        if not _truthy(meta.get(self.layout.field_open_access, False)):
            status = NOT_OPEN_ACCESS_SKIPPED
        elif _truthy(meta.get(self.layout.field_retracted, False)):
            status = RETRACTED_SKIPPED
        elif licence_group(meta.get(self.layout.field_licence)) not in self.licences:
            status = LICENCE_SKIPPED
        if status and not from_dest and self.storage.exists(self.storage.join(item.path)):
            # An earlier run saved this article; its JSON must now tell later stages about the retraction.
            self.storage.write_atomically(meta_dest, body)
            outcome.events["metadata_refreshed"] += 1
        return status, (None if from_dest else body)

    def _fetch_small(self, url: str, md5: Optional[str], outcome: Outcome, check) -> bytes:
        """A small file, checked by its MD5 when the listing gives one and always parsed whole by `check` (which
        says what is wrong, or None): a body sent without Content-Length may be cut without an error. A bad one
        is fetched again, up to checksum_attempts times."""
        problem = ""
        for _ in range(self.checksum_attempts):
            body, retries = self.client.get_bytes(url)
            outcome.events["http_retries"] += retries
            if md5 and md5_hex(body) != md5:
                outcome.events["checksum_failed"] += 1
                problem = f"MD5 {md5_hex(body)} of {url} does not match its ETag {md5}"
                continue
            problem = check(body)
            if problem is None:
                return body
            outcome.events["not_whole"] += 1
            problem = f"metadata {url} is {problem}"
        raise DownloadError(problem)

    def _not_whole(self, item: RemoteFile, path: str, framed: bool) -> Optional[str]:
        """For a file without checksum, size or gzip check (VERIFY_NONE): why `path` is not known to be whole."""
        if item.verify != VERIFY_NONE:
            return None
        with self.storage.open_read(path) as stream:
            checked, problem = whole_file_problem(item.name, stream)
        if checked or framed:
            return problem
        return ("the body came without Content-Length and not chunked, so its end may be a dropped connection, "
                "and there is no parser for this file type to show it is whole")

    # -- checksums and skipping ----------------------------------------------------------------------------------

    def _expected_md5(self, item: RemoteFile, outcome: Outcome) -> Optional[str]:
        if item.verify == VERIFY_MD5_SIDECAR:
            try:
                body, retries = self.client.get_bytes(item.md5_url)
            except HTTPStatusError as exc:
                raise DownloadError(f"MD5 sidecar unavailable: {exc}") from None
            outcome.events["http_retries"] += retries
            return parse_md5_sidecar(body.decode("utf-8", errors="replace"), item.name)
        if item.verify == VERIFY_MD5:
            return item.md5
        return None

    def _already_done(self, item: RemoteFile, final: str, expected: Optional[str]) -> bool:
        if not self.storage.exists(final):
            return False
        record = final + RECORD_SUFFIX
        recorded = None
        if self.storage.exists(record):
            try:
                recorded = parse_md5_sidecar(self.storage.read(record).decode("utf-8", errors="replace"), item.name)
            except ChecksumError:
                recorded = None
        if recorded is not None:
            if expected:
                if recorded != expected:
                    log.info("%s changed at the source (MD5 %s, ours %s): fetching it again", item.path, expected, recorded)
                return recorded == expected
            return item.size is None or self.storage.size(final) == item.size
        if expected:  # finished but unrecorded (a run stopped between the renames): hash it once
            digest = hashlib.md5()
            with self.storage.open_read(final) as stream:
                for chunk in iter(lambda: stream.read(_CHUNK), b""):
                    digest.update(chunk)
            if digest.hexdigest() == expected:
                self.storage.write_atomically(record, format_md5_record(item.name, expected).encode())
                return True
        return False

    @staticmethod
    def _verification_problem(item: RemoteFile, expected: Optional[str], transfer: _Transfer) -> str:
        if item.size is not None and transfer.size != item.size:
            return f"size {transfer.size} differs from the listed {item.size}"
        if expected and transfer.md5 != expected:
            source = item.md5_url if item.verify == VERIFY_MD5_SIDECAR else "the listing's ETag"
            return f"MD5 mismatch: got {transfer.md5}, expected {expected} (from {source})"
        if item.verify == VERIFY_GZIP and transfer.gzip_problem:
            return transfer.gzip_problem
        return ""

    # -- transfer ------------------------------------------------------------------------------------------------

    def _transfer(self, item: RemoteFile, part: str, outcome: Outcome) -> _Transfer:
        """Stream `item.url` into `part`, resuming a local `.part` with Range; returns what was received."""
        local = self.storage.local_path(part)
        digest = hashlib.md5()
        gzip_check = GzipIntegrity() if item.verify == VERIFY_GZIP else None
        offset = 0
        if local and os.path.exists(local):
            offset = self._seed_from_part(local, digest, gzip_check)
        settings = self.client.settings
        for attempt in range(settings.retries + 1):
            headers = {"Range": f"bytes={offset}-"} if offset else None
            try:
                with self.client.get(item.url, headers=headers) as response:
                    outcome.events["http_retries"] += retries_used(response)
                    if offset and response.status_code == 416:  # the .part is longer than the file: start over
                        raise _Restart("server answered 416 to our Range request")
                    if offset and response.status_code == 206:
                        if not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
                            raise _Restart(f"unexpected Content-Range {response.headers.get('Content-Range')!r}")
                        outcome.events["resumed"] += 1
                        log.info("%s: resuming at byte %d", item.path, offset)
                    elif response.status_code == 200:
                        if offset:
                            outcome.events["range_ignored"] += 1
                            log.info("%s: server ignored the Range request; starting over", item.path)
                            offset, digest, gzip_check = 0, hashlib.md5(), GzipIntegrity() if gzip_check else None
                    else:
                        raise HTTPStatusError(item.url, response.status_code, response.reason or "")
                    content_type = response.headers.get("Content-Type", "")
                    framed = ("Content-Length" in response.headers
                              or "chunked" in response.headers.get("Transfer-Encoding", "").lower())
                    with self._open_part(part, local, append=offset > 0) as sink:
                        # read1 hands over every byte received, so a cut-off body loses nothing it delivered;
                        # raw (undecoded) bytes are what the checksum covers.
                        while chunk := response.raw.read1(_CHUNK, decode_content=False):
                            if offset == 0:
                                problem = content_problem(item.name, chunk[:256], content_type)
                                if problem:
                                    raise VerificationError(problem)
                            sink.write(chunk)
                            digest.update(chunk)
                            if gzip_check:
                                gzip_check.update(chunk)
                            offset += len(chunk)
                            outcome.bytes += len(chunk)
                return _Transfer(digest.hexdigest(), offset, gzip_check.problem() if gzip_check else None, framed,
                                 gzip_check.zero_padding if gzip_check else 0)
            except _Restart as exc:
                log.info("%s: %s", item.path, exc)
                self._discard(part)
                offset, digest, gzip_check = 0, hashlib.md5(), GzipIntegrity() if gzip_check else None
            except _NETWORK_ERRORS as exc:
                if attempt == settings.retries:
                    if local:
                        kept = " (the partial file is kept and resumes on the next run)"
                    else:
                        kept = ""
                        self._discard(part)  # useless on an object store: the next run restarts anyway
                    raise DownloadError(f"transfer interrupted {attempt + 1} times, last: {exc}{kept}") from None
                outcome.events["read_retries"] += 1
                if not local:  # an object store cannot append: the next attempt restarts the file
                    offset, digest, gzip_check = 0, hashlib.md5(), GzipIntegrity() if gzip_check else None
                log.info("%s: transfer interrupted at byte %d (%s); retrying", item.path, offset, exc)
                pause_before_retry(settings, attempt)
        raise DownloadError(f"{item.url}: the server kept rejecting our Range requests")

    @staticmethod
    def _seed_from_part(local: str, digest, gzip_check: Optional[GzipIntegrity]) -> int:
        """Hash the bytes a previous attempt left in `local`, so the resumed download verifies as a whole."""
        size = 0
        with open(local, "rb") as existing:
            for chunk in iter(lambda: existing.read(_CHUNK), b""):
                digest.update(chunk)
                if gzip_check:
                    gzip_check.update(chunk)
                size += len(chunk)
        return size

    def _open_part(self, part: str, local: Optional[str], append: bool) -> BinaryIO:
        if local:
            os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
            return open(local, "ab" if append else "wb")
        return self.storage.create(part)

    def _discard(self, path: str) -> None:
        if self.storage.exists(path):
            self.storage.delete(path)



def _json_object_problem(body: bytes) -> Optional[str]:
    try:
        value = json.loads(body)
    except ValueError as exc:
        return f"not JSON: {exc}"
    return None if isinstance(value, dict) else "not a JSON object"


class _Restart(Exception):
    """The partial file cannot be continued; download from the start."""
