"""A local stand-in for NCBI's file server and the PMC Cloud Service bucket, with fault injection.

Serves a directory tree on 127.0.0.1 the way the real services do, so the real download code can run against it
(tests, `make demo`):
- directories as Apache-style HTML index pages (NCBI's `<pre>` layout, sort links and parent link included);
- files with `Range` support (206 / 416), `Last-Modified` and an `ETag`;
- `NAME.md5` sidecars in NCBI's format, computed on the fly when not on disk, and listed in the index for the
  file names matching `md5_listed` (NCBI publishes one per `*.xml.gz`);
- directories named in `buckets` also as S3 buckets: `GET /bucket/?list-type=2&prefix=..&max-keys=..&
  continuation-token=..` answers ListObjectsV2 XML, paginated at `page_size` keys, ETag = MD5 of the object.

Faults are set per URL path (`add_fault`), for every request or for the first N only; see FAULT_KINDS.

    python -m sources.localmirror --root samples/mirror --port 8000
"""
from __future__ import annotations

import argparse
import base64
import datetime
import email.utils
import fnmatch
import hashlib
import html
import logging
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterable, Optional, Sequence
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import escape

log = logging.getLogger(__name__)

FAULT_KINDS = {
    "not_found": "404 Not Found",
    "truncate": "headers announce the whole body, half of it is sent, then the connection closes",
    "wrong_md5": "the published checksum is wrong: the .md5 sidecar's digest, or a bucket object's ETag",
    "multipart_etag": "a bucket object's ETag looks like a multipart upload's (<hex>-2, not an MD5)",
    "html_error": "200 OK with an HTML error page instead of the file",
    "too_many_requests": "429 with Retry-After: <retry_after>",
    "unavailable": "503 Service Unavailable",
    "redirect": "302 to <location>",
    "ignore_range": "Range requests are answered 200 with the whole file",
    # Bodies without Content-Length: how some servers and proxies send small or generated files.
    "chunked": "the whole body with Transfer-Encoding: chunked and no Content-Length",
    "chunked_cut": "chunked, no Content-Length: half the body, then the connection closes without the last chunk",
    "unframed": "no Content-Length, not chunked: the body ends when the connection closes (HTTP/1.0 style)",
    "unframed_cut": "no Content-Length, not chunked: half the body, then the connection closes",
}
_CUT = ("truncate", "chunked_cut", "unframed_cut")  # the faults that send half the body
_S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_CONTENT_TYPES = {".gz": "application/x-gzip", ".xml": "application/xml", ".json": "application/json",
                  ".md5": "text/plain", ".txt": "text/plain", ".csv": "text/csv"}
_ERROR_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Service unavailable</title></head>"
               b"<body><h1>The service is temporarily unavailable</h1><p>Please try again later.</p></body></html>\n")


@dataclass
class Fault:
    kind: str
    times: Optional[int] = None  # None: every request; N: the first N requests to the path, then normal service
    retry_after: int = 1
    location: str = ""


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: str
    range: Optional[str]
    status: int
    time: float  # time.monotonic() when the response was started (just before its status line was sent)


class MirrorServer:
    """A ThreadingHTTPServer over `root` on a free port of 127.0.0.1 (or the one given); a context manager."""

    def __init__(
        self,
        root: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        buckets: Sequence[str] = ("pmc-oa-opendata",),
        page_size: int = 1000,
        md5_listed: Sequence[str] = ("*.gz",),
    ) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"mirror root {self.root} is not a directory")
        self.buckets = {b.strip("/") for b in buckets}
        self.page_size = page_size
        self.md5_listed = tuple(md5_listed)
        self._faults: dict[str, Fault] = {}
        self._requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._md5_cache: dict[tuple[Path, int, int], str] = {}
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.mirror = self  # type: ignore[attr-defined]
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle -------------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._httpd.server_address[0]}:{self.port}/"

    def start(self) -> "MirrorServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="localmirror", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join()

    def __enter__(self) -> "MirrorServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- faults and request log ------------------------------------------------------------------------------------

    def add_fault(self, path: str, kind: str, times: Optional[int] = None, retry_after: int = 1,
                  location: str = "") -> None:
        """Inject `kind` (see FAULT_KINDS) for requests to URL path `path` ("/pubmed/baseline/x.xml.gz")."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {sorted(FAULT_KINDS)}")
        with self._lock:
            self._faults[path] = Fault(kind, times, retry_after, location)

    def clear(self) -> None:
        """Forget faults and the request log (a request already answered, even in part, is never logged after)."""
        with self._lock:
            self._faults.clear()
            self._requests.clear()

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request whose response has begun: a request is logged before the first byte of its answer, so a
        client that has read a response (or any part of it) finds its request here."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.path == path]

    def _take_fault(self, path: str) -> Optional[Fault]:
        with self._lock:
            fault = self._faults.get(path)
            if fault is None or fault.times == 0:
                return None
            if fault.times is not None:
                fault.times -= 1
            return fault

    def _peek_fault(self, path: str, kind: str) -> bool:
        with self._lock:
            fault = self._faults.get(path)
            return fault is not None and fault.kind == kind and fault.times != 0

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    # -- content ---------------------------------------------------------------------------------------------------

    def resolve(self, url_path: str) -> Optional[Path]:
        """The file or directory behind a URL path, or None (also for anything outside the root)."""
        relative = url_path.lstrip("/")
        if "\x00" in relative:
            return None
        target = (self.root / relative).resolve()
        if target != self.root and self.root not in target.parents:
            return None
        return target

    def md5_of(self, path: Path) -> str:
        stat = path.stat()
        key = (path, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._md5_cache.get(key)
        if cached:
            return cached
        digest = hashlib.md5()
        with open(path, "rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
        with self._lock:
            self._md5_cache[key] = digest.hexdigest()
        return digest.hexdigest()

    def bucket_of(self, target: Path) -> Optional[Path]:
        for bucket in self.buckets:
            root = self.root / bucket
            if target == root or root in target.parents:
                return root
        return None

    def index_page(self, url_path: str, directory: Path) -> bytes:
        title = html.escape(f"Index of {url_path.rstrip('/') or '/'}")
        rows = []
        if directory != self.root:
            parent = url_path.rstrip("/").rsplit("/", 1)[0] + "/"
            rows.append(f'<a href="{quote(parent)}">Parent Directory</a>{" " * 30}-')
        names = {child.name: child for child in directory.iterdir()}
        virtual = [n + ".md5" for n, p in names.items() if p.is_file() and n + ".md5" not in names
                   and any(fnmatch.fnmatchcase(n, g) for g in self.md5_listed)]
        for name in sorted(list(names) + virtual):
            child = names.get(name)
            is_dir = child is not None and child.is_dir()
            source = child if child is not None else names[name[: -len(".md5")]]
            stamp = datetime.datetime.fromtimestamp(source.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            size = "-" if is_dir else (_short_size(source.stat().st_size) if child is not None else "60")
            label = name + ("/" if is_dir else "")
            href = quote(name) + ("/" if is_dir else "")
            rows.append(f'<a href="{href}">{html.escape(label)}</a>{" " * max(1, 25 - len(label))}{stamp}  {size:>5}')
        return (
            f"<html>\n <head>\n  <title>{title}</title>\n </head>\n <body>\n<h1>{title}</h1>\n"
            f'<pre><a href="?C=N;O=D">Name</a>                     <a href="?C=M;O=A">Last modified</a>'
            f'      <a href="?C=S;O=A">Size</a>  <hr>' + "\n".join(rows) + "\n<hr></pre>\n</body></html>\n"
        ).encode()

    def s3_list(self, bucket: Path, query: dict[str, list[str]]) -> bytes:
        prefix = query.get("prefix", [""])[0]
        max_keys = min(int(query.get("max-keys", ["1000"])[0]), self.page_size)
        token = query.get("continuation-token", [None])[0]
        after = base64.urlsafe_b64decode(token.encode()).decode() if token else query.get("start-after", [""])[0]
        keys = sorted((p.relative_to(bucket).as_posix() for p in bucket.rglob("*") if p.is_file()),
                      key=lambda k: k.encode())
        keys = [k for k in keys if k.startswith(prefix) and k > after]
        page, truncated = keys[:max_keys], len(keys) > max_keys
        parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="{_S3_NS}">',
                 f"<Name>{escape(bucket.name)}</Name><Prefix>{escape(prefix)}</Prefix>",
                 f"<KeyCount>{len(page)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>",
                 f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"]
        if token:
            parts.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
        for key in page:
            path = bucket / key
            etag = self._etag(f"/{bucket.name}/{key}", path)
            modified = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc)
            parts.append(f"<Contents><Key>{escape(key)}</Key><LastModified>{modified:%Y-%m-%dT%H:%M:%S.000Z}"
                         f"</LastModified><ETag>&quot;{etag}&quot;</ETag><Size>{path.stat().st_size}</Size>"
                         "<StorageClass>STANDARD</StorageClass></Contents>")
        if truncated:
            next_token = base64.urlsafe_b64encode(page[-1].encode()).decode()
            parts.append(f"<NextContinuationToken>{next_token}</NextContinuationToken>")
        parts.append("</ListBucketResult>\n")
        return "".join(parts).encode()

    def _etag(self, url_path: str, path: Path) -> str:
        if self._peek_fault(url_path, "wrong_md5"):
            return hashlib.md5(b"not this file").hexdigest()
        if self._peek_fault(url_path, "multipart_etag"):
            return hashlib.md5(self.md5_of(path).encode()).hexdigest() + "-2"
        return self.md5_of(path)


def _short_size(size: int) -> str:
    for unit in ("", "K", "M", "G"):
        if size < 1024 or unit == "G":
            return f"{size}{unit}" if unit == "" else f"{size:.0f}{unit}" if size >= 10 else f"{size:.1f}{unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _parse_range(header: str, size: int) -> Optional[tuple[int, int]]:
    """(first, last) byte of a single `bytes=a-b` / `bytes=a-` / `bytes=-n` range; None when unsatisfiable."""
    spec = header.strip().removeprefix("bytes=")
    first_text, _, last_text = spec.partition("-")
    if first_text:
        first = int(first_text)
        last = min(int(last_text), size - 1) if last_text else size - 1
    else:
        first, last = max(0, size - int(last_text)), size - 1
    return (first, last) if first <= last and first < size else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "localmirror/1.0"

    @property
    def mirror(self) -> MirrorServer:
        return self.server.mirror  # type: ignore[attr-defined]

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (BaseHTTPRequestHandler's signature)
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, head: bool) -> None:
        split = urlsplit(self.path)
        path = unquote(split.path)
        fault = self.mirror._take_fault(path)
        status = self._respond(path, parse_qs(split.query), fault, head)
        log.info("%s %s -> %d%s", self.command, self.path, status, f" (fault {fault.kind})" if fault else "")

    def _respond(self, path: str, query: dict, fault: Optional[Fault], head: bool) -> int:
        kind = fault.kind if fault else ""
        if kind == "not_found":
            return self._send_bytes(404, b"Not Found\n", "text/plain", head)
        if kind == "too_many_requests":
            return self._send_bytes(429, b"Too Many Requests\n", "text/plain", head,
                                    {"Retry-After": str(fault.retry_after)})
        if kind == "unavailable":
            return self._send_bytes(503, b"Service Unavailable\n", "text/plain", head)
        if kind == "redirect":
            return self._send_bytes(302, b"", "text/plain", head, {"Location": fault.location})
        if kind == "html_error":
            return self._send_bytes(200, _ERROR_PAGE, "text/html; charset=utf-8", head)
        target = self.mirror.resolve(path)
        if target is not None and target.is_dir():
            if not path.endswith("/"):
                return self._send_bytes(301, b"", "text/plain", head, {"Location": quote(path) + "/"})
            if "list-type" in query and target.parent == self.mirror.root and target.name in self.mirror.buckets:
                return self._send_bytes(200, self.mirror.s3_list(target, query), "application/xml", head, kind=kind)
            return self._send_bytes(200, self.mirror.index_page(path, target), "text/html; charset=utf-8", head,
                                    kind=kind)
        if target is not None and target.is_file():
            if kind == "wrong_md5" and path.endswith(".md5"):
                return self._send_bytes(200, f"MD5({target.name[:-4]})= {'0' * 32}\n".encode(), "text/plain", head)
            return self._send_file(path, target, kind, head)
        if target is not None and path.endswith(".md5") and target.with_suffix("").is_file():
            data_file = target.with_suffix("")
            digest = "0" * 32 if kind == "wrong_md5" else self.mirror.md5_of(data_file)
            return self._send_bytes(200, f"MD5({data_file.name})= {digest}\n".encode(), "text/plain", head,
                                    kind=kind)
        return self._send_bytes(404, b"Not Found\n", "text/plain", head)

    def _start_response(self, status: int) -> None:
        """Log the request, then send the status line; every response starts here, once.

        Logged first, not after the body: a client can read a framed body to its end (Content-Length, last
        chunk) before this thread gets to run again, and a test that then looks at `requests` or calls `clear()`
        would miss the request or see it logged after the clear."""
        split = urlsplit(self.path)
        self.mirror._record(RequestRecord(self.command, unquote(split.path), split.query, self.headers.get("Range"),
                                          status, time.monotonic()))
        self.send_response(status)

    def _send_bytes(self, status: int, body: bytes, content_type: str, head: bool,
                    extra: Optional[dict] = None, kind: str = "") -> int:
        """A generated body (index page, listing, error); `kind` applies the body faults (truncate, chunked...)."""
        self._start_response(status)
        self.send_header("Content-Type", content_type)
        self._framing_headers(kind, len(body))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self._write_body(kind, [body[: len(body) // 2] if kind in _CUT else body])
        return status

    def _framing_headers(self, kind: str, length: int) -> None:
        if kind in ("chunked", "chunked_cut"):
            self.send_header("Transfer-Encoding", "chunked")
        elif kind in ("unframed", "unframed_cut"):
            self.send_header("Connection", "close")
        else:
            self.send_header("Content-Length", str(length))

    def _write_body(self, kind: str, chunks: Iterable[bytes]) -> None:
        """Send the body as the fault `kind` frames it; a cut body (already shortened) closes the connection."""
        chunked = kind in ("chunked", "chunked_cut")
        for chunk in chunks:
            if chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
        if kind == "chunked":
            self.wfile.write(b"0\r\n\r\n")
        if kind in _CUT or kind == "unframed":
            self.close_connection = True

    def _send_file(self, path: str, target: Path, kind: str, head: bool) -> int:
        size = target.stat().st_size
        headers = {
            "Accept-Ranges": "bytes",
            "Last-Modified": email.utils.formatdate(target.stat().st_mtime, usegmt=True),
            "ETag": f'"{self.mirror._etag(path, target)}"',
        }
        first, last, status = 0, size - 1, 200
        range_header = self.headers.get("Range")
        if range_header and kind != "ignore_range":
            wanted = _parse_range(range_header, size)
            if wanted is None:
                return self._send_bytes(416, b"", "text/plain", head, {"Content-Range": f"bytes */{size}"})
            first, last, status = wanted[0], wanted[1], 206
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        length = last - first + 1
        self._start_response(status)
        self.send_header("Content-Type", _CONTENT_TYPES.get(target.suffix, "application/octet-stream"))
        self._framing_headers(kind, length)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if head:
            return status
        self._write_body(kind, self._read_range(target, first, length // 2 if kind in _CUT else length))
        return status

    @staticmethod
    def _read_range(target: Path, first: int, length: int) -> Iterable[bytes]:
        with open(target, "rb") as stream:
            stream.seek(first)
            while length > 0:
                chunk = stream.read(min(1 << 16, length))
                if not chunk:
                    return
                yield chunk
                length -= len(chunk)


def serve(root: str, host: str, port: int, buckets: Iterable[str], page_size: int, md5_listed: Iterable[str],
          faults: Iterable[tuple[str, str, Optional[int]]] = ()) -> None:
    mirror = MirrorServer(root, host=host, port=port, buckets=tuple(buckets), page_size=page_size,
                          md5_listed=tuple(md5_listed))
    for path, kind, times in faults:
        mirror.add_fault(path, kind, times=times)
        log.info("fault %s on %s%s", kind, path, f" for {times} request(s)" if times else "")
    log.info("serving %s at %s (buckets: %s); Ctrl-C stops", mirror.root, mirror.url, ", ".join(sorted(mirror.buckets)))
    try:
        mirror._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        mirror._httpd.server_close()


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sources.localmirror",
        description="Serve a directory laid out like NCBI's file server and the PMC Cloud Service bucket.",
    )
    parser.add_argument("--root", required=True, help="directory to serve (e.g. samples/mirror)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free port)")
    parser.add_argument("--bucket", action="append", default=None,
                        help="top-level directory also served as an S3 bucket (repeatable; default pmc-oa-opendata)")
    parser.add_argument("--page-size", type=int, default=1000, help="S3 listing page size (default 1000)")
    parser.add_argument("--md5-for", action="append", default=None, metavar="GLOB",
                        help="file names whose .md5 sidecar the index pages list (repeatable; default *.gz)")
    parser.add_argument("--fault", action="append", default=[], metavar="PATH=KIND[:TIMES]",
                        help="inject a fault for a URL path, e.g. /pubmed/baseline/x.xml.gz=truncate:1 "
                             f"(repeatable; kinds: {', '.join(sorted(FAULT_KINDS))})")
    args = parser.parse_args(argv)
    faults = []
    for spec in args.fault:
        path, _, kind = spec.partition("=")
        kind, _, times = kind.partition(":")
        if not path.startswith("/") or kind not in FAULT_KINDS or (times and not times.isdigit()):
            parser.error(f"--fault {spec!r}: expected /url/path=KIND[:TIMES] with KIND one of {sorted(FAULT_KINDS)}")
        faults.append((path, kind, int(times) if times else None))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    serve(args.root, args.host, args.port, args.bucket or ["pmc-oa-opendata"], args.page_size,
          args.md5_for or ["*.gz"], faults)


if __name__ == "__main__":
    main()
