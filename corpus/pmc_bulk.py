"""The legacy PMC bulk packages: `oa_*_xml.*.tar.gz` archives streamed member by member, and their filelists.

`iter_bulk_archive` streams a package without extracting anything: nothing is written to disk and no path is
made from a member name; members it does not read (links, devices, absolute or `..` paths, other files, huge
members) come out as `SkippedMember`. Damage costs nothing before it: every member that is whole before a cut
or a corrupt byte is yielded, then `JatsError` says where the package broke. `read_filelist` reads the
`.filelist.csv` (or tab-separated `.filelist.txt`) beside a package, whose rows are the metadata
`corpus.pmc.parse_jats` takes for each article, and refuses one that is not whole.
"""
from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import tarfile
from typing import IO, Iterable, Iterator, Optional, Union

from corpus.gzipstream import GunzipStream
from corpus.pmc import JatsError, SkippedMember

log = logging.getLogger(__name__)

# A PMC article is at most a few MB; a bigger member is not an article and is not read into memory.
MAX_MEMBER_BYTES = 128 << 20
ARTICLE_SUFFIXES = (".nxml", ".xml")

FILELIST_COLUMNS = ("Article File", "Article Citation", "AccessionID", "LastUpdated", "PMID", "License", "Retracted")

_ARCHIVE_ERRORS = (tarfile.TarError, EOFError, OSError)
_PMCID = re.compile(r"PMC\d+")


def _unsafe_reason(member: tarfile.TarInfo) -> Optional[str]:
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hard link"
    if member.ischr() or member.isblk() or member.isfifo():
        return "device or fifo"
    name = member.name.replace("\\", "/")
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "absolute path"
    if ".." in name.split("/"):
        return "parent path"
    if not member.isreg():
        return "not a regular file"
    return None


def iter_bulk_archive(fileobj: IO[bytes], origin: str, notes: Optional[dict] = None,
                      max_member_bytes: int = MAX_MEMBER_BYTES) -> Iterator[tuple[str, Union[bytes, SkippedMember]]]:
    """(member name, article bytes) for each `.nxml`/`.xml` regular member of a bulk `.tar.gz`, streamed.

    Nothing is written to disk. Directories are passed over; every other member that is not read (links,
    devices, absolute or `..` paths, other files, members over `max_member_bytes`) is logged and yielded as
    `(name, SkippedMember(name, reason))` so the caller can count it.

    A damaged package raises `JatsError` naming `origin`, after every member that is whole before the damage:
    a truncated or corrupt gzip stream (its trailer is checked, which tarfile's own "r|gz" does not do), data
    after it, a member cut short, a damaged member header, a tar without its end-of-archive marker (a tar cut
    exactly between members reads as complete to tarfile). Zero padding after the gzip stream is no damage;
    `notes`, a dict, receives `trailing_zero_bytes` then, and `gzip_members`.
    """
    stream = _Window(GunzipStream(fileobj))
    count = 0
    reading = None  # the member whose data is being read
    end = None  # where tarfile looked for the next header and found none: the end-of-archive marker
    try:
        try:
            with tarfile.open(fileobj=stream, mode="r|") as archive:
                for member in archive:
                    if member.isdir():
                        continue
                    reason = _unsafe_reason(member)
                    if reason is None and not member.name.lower().endswith(ARTICLE_SUFFIXES):
                        reason = "not an article file"
                    if reason is None and member.size > max_member_bytes:
                        reason = "too large"
                    if reason is not None:
                        log.warning("%s: skipped member %r (%s)", origin, member.name, reason)
                        yield member.name, SkippedMember(member.name, reason)
                        continue
                    reading = member.name
                    data = archive.extractfile(member).read()
                    reading = None
                    count += 1
                    yield member.name, data
                end = archive.offset
        except _ARCHIVE_ERRORS as error:
            problem = stream.failure_reason() or (
                f"member {reading} is cut short ({error})" if reading else f"corrupt or truncated archive: {error}")
            raise JatsError(origin, f"{problem}; {count} articles read before it") from None
        problem = stream.end_problem(end)
        if problem:
            raise JatsError(origin, f"{problem}; {count} articles read before it")
    finally:
        if notes is not None:
            notes["gzip_members"] = stream.gunzip.members
            if stream.gunzip.zero_padding:
                notes["trailing_zero_bytes"] = stream.gunzip.zero_padding


class _Window:
    """The decompressed tar stream as tarfile reads it, keeping its last bytes: after tarfile's last header
    attempt they tell the end-of-archive marker (zero blocks) from a damaged or missing header."""

    _KEEP = 1 << 16  # tarfile reads ahead at most one record (10 kB) past the header it tried

    def __init__(self, gunzip: GunzipStream):
        self.gunzip = gunzip
        self._kept = b""
        self._kept_from = 0  # tar offset of _kept[0]

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.gunzip.read(size)
        kept = self._kept + data
        if len(kept) > self._KEEP:
            self._kept_from += len(kept) - self._KEEP
            kept = kept[-self._KEEP :]
        self._kept = kept
        return data

    def failure_reason(self) -> Optional[str]:
        gunzip = self.gunzip
        if gunzip.failure is None:
            return None
        return (f"{gunzip.failure} at byte {gunzip.failure_offset} of the file, after {gunzip.output_bytes} "
                "decompressed bytes")

    def end_problem(self, end: int) -> Optional[str]:
        """Why the archive does not end properly at tar offset `end`, where tarfile found no further header (None
        when it does): from there on the stream must hold zeros only, at least some of the first block (a
        partial end-of-archive marker loses no member), and the gzip stream must end cleanly."""
        if end < self._kept_from:
            return f"cannot check the end of the archive at byte {end}"
        rest = self._kept[end - self._kept_from :]
        block, after = rest[:512], bool(rest[512:].strip(b"\0"))
        while more := self.gunzip.read(1 << 20):  # read to the end: the gzip trailer is checked there
            if len(block) < 512:
                take = 512 - len(block)
                block, more = block + more[:take], more[take:]
            after = after or bool(more.strip(b"\0"))
        failure = self.failure_reason()
        if failure:
            return failure
        if not block:
            return f"the archive ends at byte {end} without its end-of-archive marker (cut between two members?)"
        if block.strip(b"\0"):
            name = block[:100].split(b"\0")[0][:40]  # a header starts with the member's name
            return f"damaged or truncated member header at byte {end} of the archive (starts {name!r})"
        if after:
            return f"unexpected data after the end-of-archive marker at byte {end} of the archive"
        return None


def read_filelist(fileobj: Union[IO[bytes], IO[str]], delimiter: str = ",") -> Iterator[dict]:
    """Rows of a bulk `.filelist.csv` (`delimiter="\t"`: the `.filelist.txt`) as dicts keyed by
    FILELIST_COLUMNS ("LastUpdated (YYYY-MM-DD HH:MM:SS)" is shortened to "LastUpdated"), values stripped.

    Raises `JatsError` for a file that is not a whole filelist, after the rows before the problem: without
    those columns, a row with another number of fields or without an AccessionID (PMC...) or article file,
    a quoted field that does not end, or a last line without its newline (the file was cut: its last row
    could be cut inside its last field and still have every field).
    """
    origin = str(getattr(fileobj, "name", "<filelist>"))
    # iterdecode, not TextIOWrapper: a wrapper closes the caller's file when it is garbage-collected
    lines = _LastLine(fileobj if isinstance(fileobj, io.TextIOBase) else codecs.iterdecode(fileobj, "utf-8-sig"))
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    try:
        header = [re.sub(r"\s*\(.*\)$", "", column.strip()) for column in next(reader, [])]
        missing = [column for column in FILELIST_COLUMNS if column not in header]
        if missing:
            raise JatsError(origin, f"not a PMC filelist: no column {', '.join(missing)}")
        for row in reader:
            number = reader.line_num
            if not row:
                continue
            if len(row) != len(header):
                raise JatsError(origin, f"line {number} has {len(row)} fields, expected {len(header)}")
            values = {column: value.strip() for column, value in zip(header, row)}
            if not values["Article File"] or not _PMCID.fullmatch(values["AccessionID"]):
                raise JatsError(origin, f"line {number} has no article file or no AccessionID: {row[:3]}")
            yield values
    except (csv.Error, UnicodeDecodeError) as error:
        raise JatsError(origin, f"line {reader.line_num}: {error} (cut inside a quoted field?)") from None
    if lines.last is not None and not lines.last.endswith("\n"):
        raise JatsError(origin, f"the last line ({reader.line_num}) does not end with a newline: the file was cut "
                                f"({lines.last[-60:]!r})")


class _LastLine:
    """The lines of a text, remembering the last one."""

    def __init__(self, lines: Iterable[str]):
        self._lines = iter(lines)
        self.last: Optional[str] = None

    def __iter__(self) -> "_LastLine":
        return self

    def __next__(self) -> str:
        self.last = next(self._lines)
        return self.last
