"""Cuts the top-level records of an XML file out of its byte stream, one bytes segment per record.

Why not `lxml.etree.iterparse`: libxml2 stops for good at the first well-formedness error, so one damaged record
would cost every record after it. Here the decompressed stream is read in chunks and cut at the record start
tags; each record runs to the next record's start tag, so a record that lost its end tag fails alone, and only
one record is held at a time, which keeps memory flat in file size. What a record holds is the caller's business:
it parses each segment on its own.

The stream is gunzipped when it starts with the gzip magic (not by its name; several members are one stream,
zero padding after the last is skipped and noted). The prolog (XML declaration, comments, processing
instructions, DOCTYPE) is skipped and never handed on, so a parser of the segments never sees a DTD. After the
root's end tag only whitespace, comments and processing instructions may follow; the stream is read to its end,
so a gzip trailer is checked. Damage (a truncated or corrupt gzip stream, data after it, a read error) costs
nothing before it, whatever the file's size: every record read before it is handed on, the complete last one
included, then the file error says where the file broke and how many records came before. Which root elements a file may have and which elements
are its records come with the caller's `RecordFormat` (the PubMed parser's: `corpus.pubmed`).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Mapping, Optional

from corpus.gzipstream import GZIP_MAGIC, GunzipStream

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20  # decompressed bytes per read
MAX_PROLOG_BYTES = 1 << 20  # XML declaration + DOCTYPE before the root element
SNIPPET_CHARS = 200  # the bytes of a skipped too-large record that are handed on

# The problem of content between the root's start tag and the first record: it is never handed to a parser.
NOT_A_RECORD = "unexpected content before the first record"

_GZIP_MAGIC = GZIP_MAGIC
_UTF8_BOM = b"\xef\xbb\xbf"
_SPACE = re.compile(rb"\s*")
_PI = re.compile(rb"<\?.*?\?>", re.S)
_COMMENT = re.compile(rb"<!--.*?-->", re.S)
_QUOTED = rb"\"[^\"]*\"|'[^']*'"
_DOCTYPE = re.compile(rb"<!DOCTYPE\s(?:[^\[>\"']|%s)*(?:\[(?:[^\]\"']|%s)*\]\s*)?>" % (_QUOTED, _QUOTED))
_START_TAG = re.compile(rb"<([A-Za-z_][\w.:-]*)(?:\s(?:[^>\"']|%s)*)?/?>" % _QUOTED)
_ENCODING = re.compile(rb"""^<\?xml\s[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_TAIL = re.compile(rb"(?:\s+|<!--.*?-->|<\?.*?\?>)*", re.S)

# (index, byte offset in the decompressed stream, bytes, problem): see iter_records.
Segment = tuple[int, int, bytes, Optional[str]]


@dataclass(frozen=True)
class RecordFormat:
    """What the framer knows of one file format."""

    name: str  # in messages: "unsupported encoding 'latin-1' (PubMed is UTF-8)"
    record_tags: Mapping[str, tuple[str, ...]]  # root element name -> the names of the record elements it holds
    # A record bigger than this means no record boundary was found, i.e. a damaged file: its beginning is handed
    # on with the problem `too_large`, the rest is skipped rather than buffered.
    max_record_bytes: int
    too_large: str
    # Raised as error(origin, reason, records=N, offset=BYTE) when the file as a whole fails: N records were
    # handed on before, BYTE is where in the decompressed stream it failed.
    error: Callable[..., Exception]


def iter_records(raw: BinaryIO, origin: str, fmt: RecordFormat, notes: Optional[dict] = None) -> Iterator[Segment]:
    """(index, byte offset, bytes, problem) of each top-level record of `raw` (a binary file object, plain XML or
    gzip), in file order; `origin` names the file in errors.

    `problem` is set where the bytes are known not to be a record: content before the first record start tag
    (NOT_A_RECORD), or a record larger than `fmt.max_record_bytes` (`fmt.too_large`; the bytes are its first
    SNIPPET_CHARS). A failure of the file as a whole (unreadable, corrupt or truncated gzip, data after it, not
    XML, unknown root element, no end tag, content after it) raises `fmt.error(origin, reason, records=N,
    offset=BYTE)` after every record before it. `notes`, when given, receives facts that are no error once the
    file is done: `gzip_members`, and `trailing_zero_bytes` when zero padding followed the gzip stream.
    """
    reader = _Reader(raw, origin, fmt.error)
    try:
        yield from _split_records(reader, origin, fmt)
    finally:
        if notes is not None:
            reader.note(notes)


class _Reader:
    """The decompressed bytes of `raw`: gunzipped when it starts with the gzip magic, else as they are.

    Damage never raises here: `read` returns b"" at it, as at an end, after every byte before it (see
    `corpus.gzipstream`, which also reads concatenated members and skips zero padding), and `failure` says what
    broke; the splitter then hands on what it holds and raises the file error.
    """

    def __init__(self, raw: BinaryIO, origin: str, error: Callable[..., Exception]):
        self._raw = raw
        try:
            head = raw.read(len(_GZIP_MAGIC))  # peeked at, handed out again by the first read
        except OSError as exc:
            raise error(origin, f"read failed ({exc})", records=0, offset=0) from exc
        self.gzipped = head == _GZIP_MAGIC
        self._gunzip = GunzipStream(raw, head) if self.gzipped else None
        self._head = b"" if self.gzipped else head
        self._failure: Optional[str] = None  # plain files: a read error
        self.produced = 0  # decompressed bytes handed out

    @property
    def failure(self) -> Optional[str]:
        """Why the stream ended early (truncated or corrupt gzip, data after it, a read error), else None."""
        return self._gunzip.failure if self._gunzip else self._failure

    def where(self) -> str:
        """Where the damage is, for messages: the byte of the file and, for gzip, how much was decompressed."""
        if self._gunzip:
            return f"at byte {self._gunzip.failure_offset} of the file, after {self.produced} decompressed bytes"
        return f"at byte {self.produced}"

    def read(self, size: int) -> bytes:
        """Up to `size` bytes (at least one unless at the end); b"" at the end or at damage."""
        if self._gunzip:
            data = self._gunzip.read(size)
        elif self._failure:
            data = b""
        else:
            head, self._head = self._head, b""
            try:
                data = head + self._raw.read(size - len(head)) if head else self._raw.read(size)
            except OSError as exc:
                self._failure, data = f"read failed ({exc})", head
        self.produced += len(data)
        return data

    def note(self, notes: dict) -> None:
        """Facts about the file that are no error: gzip members and zero padding after them."""
        if self._gunzip:
            notes["gzip_members"] = self._gunzip.members
            if self._gunzip.zero_padding:
                notes["trailing_zero_bytes"] = self._gunzip.zero_padding


def _read_at_least(reader: _Reader, buf: bytes, size: int) -> tuple[bytes, bool]:
    """`buf` extended to at least `size` bytes unless the stream ends first; returns (buf, at_eof)."""
    parts = [buf]
    have = len(buf)
    while have < size:
        chunk = reader.read(CHUNK_BYTES)
        if not chunk:
            return b"".join(parts), True
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts), False


def _split_records(reader: _Reader, origin: str, fmt: RecordFormat) -> Iterator[Segment]:
    """The records of the decompressed stream: see iter_records."""
    buf, eof = _read_at_least(reader, b"", MAX_PROLOG_BYTES)
    root, root_end, self_closed = _find_root(buf, eof, reader, origin, fmt)
    log.debug("%s: root element %s, gzip=%s", origin, root, reader.gzipped)
    if self_closed:
        _check_tail(reader, buf[root_end:], origin, root, end_tag=False, fmt=fmt, records=0)
        return
    # A regex that stops at every '<' scans at ~1 GB/s here, as fast as bytes.find with one pass per tag name.
    names = b"|".join(re.escape(tag.encode()) for tag in fmt.record_tags[root])
    boundaries = re.compile(rb"<(?:%s)[\s/>]|</(%s)[\s>]" % (names, re.escape(root.encode())))
    longest = max(map(len, fmt.record_tags[root] + (root,))) + 3  # the longest boundary match
    base = root_end  # absolute offset of buf[0]
    buf = buf[root_end:]
    start = scan = 0  # the open record starts at buf[start]; no boundary before buf[scan]
    in_gap = True  # the open "record" is the gap between the root's start tag and the first record
    skipping = False  # the open record is too large and being skipped
    index = 0
    while True:
        found = boundaries.search(buf, scan)
        if found is None:
            if not skipping and len(buf) - start > fmt.max_record_bytes:
                yield index, base + start, buf[start : start + SNIPPET_CHARS], fmt.too_large
                index += 1
                skipping = True
            if skipping:
                start = max(len(buf) - longest, start)
            scan = max(len(buf) - longest, scan, start) - start
            base += start
            buf = buf[start:]
            start = 0
            chunk = reader.read(CHUNK_BYTES)
            if not chunk:
                if reader.failure:  # damage: the last record is handed on when it is complete, else reported
                    complete = None if in_gap or skipping else _complete_record(buf)
                    if complete is not None:
                        yield index, base, complete, None
                        index += 1
                    cut = "" if in_gap or skipping or complete is not None else (
                        f"; the record at decompressed byte {base} is cut there")
                    raise _damage(reader, origin, fmt, index, cut)
                if in_gap and not _TAIL.fullmatch(buf):
                    content = buf.lstrip()
                    yield index, base + len(buf) - len(content), content, NOT_A_RECORD
                elif not skipping and not in_gap:
                    yield index, base, buf, None  # the last record, complete or not: parsing tells
                raise fmt.error(origin, f"file ends before </{root}> (truncated?)", records=index,
                                offset=reader.produced)
            buf += chunk
            continue
        position = found.start()
        segment = buf[start:position]
        if in_gap:
            if not _TAIL.fullmatch(segment):
                content = segment.lstrip()
                yield index, base + start + len(segment) - len(content), content, NOT_A_RECORD
                index += 1
        elif skipping:
            skipping = False
        else:
            too_large = len(segment) > fmt.max_record_bytes
            yield index, base + start, segment, fmt.too_large if too_large else None
            index += 1
        in_gap = False
        if found.group(1):  # the root's end tag
            _check_tail(reader, buf[position:], origin, root, end_tag=True, fmt=fmt, records=index)
            return
        start, scan = position, position + 1


def _complete_record(segment: bytes) -> Optional[bytes]:
    """`segment` up to its record's end tag when it holds the whole record (followed by nothing but whitespace
    and at most the start of a tag, cut off with the stream), else None."""
    name = re.match(rb"<([^\s/>]+)", segment)
    if name is None:
        return None
    end = re.search(rb"</%s\s*>(\s*(?:<[^<>]*)?)\Z" % re.escape(name.group(1)), segment)
    return segment[: end.start(1)] if end else None


def _damage(reader: _Reader, origin: str, fmt: RecordFormat, records: int, detail: str = "") -> Exception:
    """The file error for the damage `reader` met, with where it is and how many records came before."""
    return fmt.error(origin, f"{reader.failure} {reader.where()}; {records} records read before it{detail}",
                     records=records, offset=reader.produced)


def _find_root(buf: bytes, eof: bool, reader: _Reader, origin: str, fmt: RecordFormat) -> tuple[str, int, bool]:
    """(root element name, offset just past its start tag, whether it is self-closed) from the file's prolog."""
    def error(reason: str) -> Exception:
        return fmt.error(origin, reason, records=0, offset=0)

    if not buf:
        raise _damage(reader, origin, fmt, 0) if reader.failure else error("empty file")
    pos = len(_UTF8_BOM) if buf.startswith(_UTF8_BOM) else 0
    declaration = _ENCODING.match(buf, pos)
    if declaration and declaration.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii", b"ascii"):
        raise error(f"unsupported encoding {declaration.group(1).decode()!r} ({fmt.name} is UTF-8)")
    while True:
        pos = _SPACE.match(buf, pos).end()
        item = _PI.match(buf, pos) or _COMMENT.match(buf, pos) or _DOCTYPE.match(buf, pos)
        if not item:
            break
        pos = item.end()
    tag = _START_TAG.match(buf, pos)
    if tag is None:
        if not eof and len(buf) >= MAX_PROLOG_BYTES:
            raise error(f"no root element in the first {MAX_PROLOG_BYTES} bytes")
        if reader.failure:
            raise _damage(reader, origin, fmt, 0)
        raise error(f"not XML (starts with {buf[:40]!r})")
    root = tag.group(1).decode("ascii")
    if root not in fmt.record_tags:
        raise error(f"unknown root element <{root}> (expected one of {sorted(fmt.record_tags)})")
    return root, tag.end(), tag.group(0).endswith(b"/>")


def _check_tail(reader: _Reader, tail: bytes, origin: str, root: str, end_tag: bool, fmt: RecordFormat,
                records: int) -> None:
    """Read to the end (a gzip's CRC is checked there): after the root's end tag (if `end_tag`, `tail` starts
    with it) only whitespace, comments and PIs may follow."""
    start = reader.produced - len(tail)
    tail, eof = _read_at_least(reader, tail, MAX_PROLOG_BYTES + 1)
    if reader.failure:
        raise _damage(reader, origin, fmt, records)
    close = re.match(rb"</%s\s*>" % root.encode(), tail) if end_tag else None
    if end_tag and close is None:
        raise fmt.error(origin, f"malformed end tag </{root}>: {tail[:40]!r}", records=records, offset=start)
    if not eof or _TAIL.fullmatch(tail, close.end() if close else 0) is None:
        raise fmt.error(origin, f"unexpected content after the root element: {tail[:60]!r}", records=records,
                        offset=start)
