"""The legacy PMC bulk packages: `oa_*_xml.*.tar.gz` archives streamed member by member, and their filelists.

`iter_bulk_archive` streams a package without extracting anything: nothing is written to disk and no path is
made from a member name; members it does not read (links, devices, absolute or `..` paths, other files, huge
members) come out as `SkippedMember`. `read_filelist` reads the `.filelist.csv` beside a package, whose rows
are the metadata `corpus.pmc.parse_jats` takes for each article.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import io
import logging
import re
import tarfile
import zlib
from typing import IO, Iterator, Optional, Union

from corpus.pmc import JatsError, SkippedMember

log = logging.getLogger(__name__)

# A PMC article is at most a few MB; a bigger member is not an article and is not read into memory.
MAX_MEMBER_BYTES = 128 << 20
ARTICLE_SUFFIXES = (".nxml", ".xml")

FILELIST_COLUMNS = ("Article File", "Article Citation", "AccessionID", "LastUpdated", "PMID", "License", "Retracted")

_ARCHIVE_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)


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


def iter_bulk_archive(fileobj: IO[bytes], origin: str) -> Iterator[tuple[str, Union[bytes, SkippedMember]]]:
    """(member name, article bytes) for each `.nxml`/`.xml` regular member of a bulk `.tar.gz`, streamed.

    Nothing is written to disk. Directories are passed over; every other member that is not read (links,
    devices, absolute or `..` paths, other files, members over MAX_MEMBER_BYTES) is logged and yielded as
    `(name, SkippedMember(name, reason))` so the caller can count it. A truncated or corrupt archive raises
    `JatsError` naming `origin`, after the members before the damage were yielded: the gzip trailer (CRC and
    length) is checked, which tarfile's own "r|gz" stream does not do.
    """
    count = 0
    try:
        with gzip.GzipFile(fileobj=fileobj, mode="rb") as stream:
            with tarfile.open(fileobj=stream, mode="r|") as archive:
                for member in archive:
                    if member.isdir():
                        continue
                    reason = _unsafe_reason(member)
                    if reason is None and not member.name.lower().endswith(ARTICLE_SUFFIXES):
                        reason = "not an article file"
                    if reason is None and member.size > MAX_MEMBER_BYTES:
                        reason = "too large"
                    if reason is not None:
                        log.warning("%s: skipped member %r (%s)", origin, member.name, reason)
                        yield member.name, SkippedMember(member.name, reason)
                        continue
                    data = archive.extractfile(member).read()
                    count += 1
                    yield member.name, data
            while stream.read(1 << 20):  # the rest of the gzip stream, so that its trailer is verified
                pass
    except _ARCHIVE_ERRORS as error:
        raise JatsError(origin, f"corrupt or truncated archive after {count} articles: {error}") from None


def read_filelist(fileobj: Union[IO[bytes], IO[str]]) -> Iterator[dict]:
    """Rows of a bulk `.filelist.csv` as dicts keyed by FILELIST_COLUMNS ("LastUpdated (YYYY-MM-DD HH:MM:SS)" is
    shortened to "LastUpdated"), values stripped. A file without those columns raises `JatsError`."""
    origin = str(getattr(fileobj, "name", "<filelist>"))
    # iterdecode, not TextIOWrapper: a wrapper closes the caller's file when it is garbage-collected
    lines = fileobj if isinstance(fileobj, io.TextIOBase) else codecs.iterdecode(fileobj, "utf-8-sig")
    reader = csv.reader(lines)
    header = [re.sub(r"\s*\(.*\)$", "", column.strip()) for column in next(reader, [])]
    missing = [column for column in FILELIST_COLUMNS if column not in header]
    if missing:
        raise JatsError(origin, f"not a PMC filelist: no column {', '.join(missing)}")
    for number, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise JatsError(origin, f"line {number} has {len(row)} fields, expected {len(header)}")
        yield {column: value.strip() for column, value in zip(header, row)}
