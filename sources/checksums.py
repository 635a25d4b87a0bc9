"""Checksums and content checks: MD5 sidecars, S3 ETags, gzip integrity, "is this an HTML error page?"."""
from __future__ import annotations

import json
import re
import zlib
from typing import BinaryIO, Optional

_HEX32 = re.compile(r"[0-9a-fA-F]{32}")  # with fullmatch: "$" would accept a final "\n"
# NCBI / openssl style: "MD5(pubmed25n0001.xml.gz)= 0123..." (also "MD5 (name) = ..." as BSD md5 writes it).
_OPENSSL = re.compile(r"MD5\s*\((?P<name>[^)]*)\)\s*=\s*(?P<md5>[0-9a-fA-F]{32})\s*")
# GNU md5sum style: "0123...  name" or "0123... *name".
_GNU = re.compile(r"(?P<md5>[0-9a-fA-F]{32})(?:\s+\*?(?P<name>.+?))?\s*")
_GZIP_MAGIC = b"\x1f\x8b"


class ChecksumError(ValueError):
    """A sidecar that cannot be read, or content that does not match its checksum."""


def parse_md5_sidecar(text: str, expected_name: Optional[str] = None) -> str:
    """The lowercase MD5 hex stated by a sidecar file (NCBI/openssl, BSD or GNU md5sum format).

    When the sidecar names a file and `expected_name` is given, the names must agree: a sidecar for another
    file is as wrong as a wrong digest.
    """
    line = next((raw.strip() for raw in text.splitlines() if raw.strip()), "")
    match = _OPENSSL.fullmatch(line) or _GNU.fullmatch(line)
    if not match:
        raise ChecksumError(f"not an MD5 sidecar: {line[:80]!r}")
    name = (match.group("name") or "").strip()
    if expected_name and name and name.rsplit("/", 1)[-1] != expected_name:
        raise ChecksumError(f"MD5 sidecar is for {name!r}, not {expected_name!r}")
    return match.group("md5").lower()


def format_md5_record(name: str, md5: str) -> str:
    """A sidecar in NCBI's own format, so a destination directory can itself be served as a mirror."""
    return f"MD5({name})= {md5}\n"


def md5_from_etag(etag: Optional[str]) -> Optional[str]:
    """The MD5 an S3 ETag stands for, or None when it is not a plain MD5 (multipart uploads: "<hex>-<parts>")."""
    if not etag:
        return None
    value = etag.strip().strip('"')
    return value.lower() if _HEX32.fullmatch(value) else None


def looks_like_html(head: bytes) -> bool:
    """True when the first bytes of a body are an HTML page (the usual shape of an error page sent with 200)."""
    start = head.lstrip()[:64].lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


def content_problem(name: str, head: bytes, content_type: str = "") -> Optional[str]:
    """Why the first bytes of a download cannot be the file `name` claims to be, or None if they can."""
    if name.endswith(".gz"):
        if head[:2] != _GZIP_MAGIC:
            kind = "an HTML page" if looks_like_html(head) or "html" in content_type else "not gzip data"
            return f"expected gzip data, got {kind} (starts {head[:40]!r})"
        return None
    if not name.endswith((".html", ".htm")) and (looks_like_html(head) or content_type.startswith("text/html")):
        return f"expected {name.rsplit('.', 1)[-1]} content, got an HTML page (starts {head[:40]!r})"
    return None


class GzipIntegrity:
    """Reads a gzip stream (all members) to its end as it arrives, without keeping the output.

    The fallback check when no MD5 is published: it catches truncation and corruption (each member carries a
    CRC32 and length), not a deliberately altered file. Zero bytes after a member (tape or block padding) are
    skipped and counted in `zero_padding`, as the readers of the files skip them; other data after the last
    member is a problem.
    """

    _MAX_OUTPUT = 1 << 20  # decompress in bounded slices so memory stays flat whatever the ratio

    def __init__(self) -> None:
        self._inflater = zlib.decompressobj(wbits=31)
        self._members = 0
        self._inside_member = False
        self._inflater_leftover = b""
        self._error: Optional[str] = None
        self._offset = 0  # bytes of the file seen
        self._between = False  # after a member: zeros are padding, anything else must be a new member
        self._pending = b""  # the first byte after a member's padding, when the next read brings the second
        self.zero_padding = 0

    def update(self, data: bytes) -> None:
        if self._error:
            return
        self._offset += len(data)
        try:
            while data:
                if self._between:  # after a member: zero padding, or the next member's magic number
                    if not self._pending:
                        stripped = data.lstrip(b"\0")
                        self.zero_padding += len(data) - len(stripped)
                        data = stripped
                        if not data:
                            return
                    data, self._pending = self._pending + data, b""
                    if len(data) < len(_GZIP_MAGIC):
                        self._pending = data
                        return
                    if not data.startswith(_GZIP_MAGIC):
                        at = self._offset - len(data)
                        self._error = f"unexpected data after the end of the gzip stream at byte {at}"
                        return
                    self._between = False
                self._inflater.decompress(data, self._MAX_OUTPUT)
                if self._inflater.eof:
                    self._end_member()
                    data = self._inflater_leftover
                else:
                    self._inside_member = True
                    data = self._inflater.unconsumed_tail
        except zlib.error as exc:
            self._error = f"corrupt gzip stream: {exc}"

    def _end_member(self) -> None:
        self._members += 1
        self._inside_member = False
        self._between = True
        self._inflater_leftover = self._inflater.unused_data
        self._inflater = zlib.decompressobj(wbits=31)

    def problem(self) -> Optional[str]:
        """None when the stream ended at the end of a complete gzip member (zero padding allowed after it)."""
        if self._error:
            return self._error
        try:
            # Output held back by the slice limit may still hide the member's end: drain it.
            while self._inside_member and not self._inflater.eof:
                if not self._inflater.decompress(b"", self._MAX_OUTPUT):
                    break
            if self._inside_member and self._inflater.eof:
                self._end_member()
        except zlib.error as exc:
            return f"corrupt gzip stream: {exc}"
        if self._inside_member:
            return "truncated gzip stream (the last member does not end)"
        if self._pending:
            return f"unexpected data after the end of the gzip stream at byte {self._offset - 1}"
        if self._members == 0:
            return "empty gzip stream"
        return None


def whole_file_problem(name: str, stream: BinaryIO) -> tuple[bool, Optional[str]]:
    """(checked, problem): parse a downloaded file to its end to see that it is whole, for the files whose
    transfer may not show it (no checksum is published for them, and a body sent without Content-Length and
    not chunked ends where the connection drops). `checked` is False when there is no parser for `name`'s type.

    - `*.filelist.csv` / `*.filelist.txt` (PMC bulk): `corpus.pmc_bulk.read_filelist` to the end: the documented
      columns, every row with all its fields, an AccessionID and an article file, quoted fields closed, the last
      line ended by its newline;
    - `*.json`: one JSON object;
    - `*.md5`: an MD5 sidecar.
    """
    if name.endswith((".filelist.csv", ".filelist.txt")):
        from corpus.pmc import JatsError  # the filelist's reader is the one the documents job uses
        from corpus.pmc_bulk import read_filelist

        try:
            for _ in read_filelist(stream, delimiter="," if name.endswith(".csv") else "\t"):
                pass
        except JatsError as exc:
            return True, f"not a whole filelist: {exc.reason}"
        return True, None
    if name.endswith(".json"):
        try:
            value = json.loads(stream.read())
        except ValueError as exc:
            return True, f"not whole JSON: {exc}"
        return True, None if isinstance(value, dict) else f"JSON {type(value).__name__}, expected an object"
    if name.endswith(".md5"):
        try:
            parse_md5_sidecar(stream.read().decode("utf-8", errors="replace"))
        except ChecksumError as exc:
            return True, str(exc)
        return True, None
    return False, None
