"""Turn a remote listing into the list of files to fetch (runs once, in the driver).

Every planned file is a `RemoteFile`: where it is, where it goes (its path relative to the base URL, mirrored
under the destination) and how it will be verified.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Optional, Sequence
from urllib.parse import quote, urlencode

from sources.checksums import md5_from_etag
from sources.httpclient import GuardedClient
from sources.layouts import APACHE_INDEX, S3_LIST_V2, SourceLayout
from sources.listing import ListingError, S3Object, parse_apache_index, parse_s3_list

log = logging.getLogger(__name__)

# How a file is verified before it gets its final name.
VERIFY_MD5_SIDECAR = "md5-sidecar"  # MD5 read from the `.md5` file published beside it
VERIFY_MD5 = "md5"  # MD5 known from the listing (an S3 ETag that is a plain MD5)
VERIFY_GZIP = "gzip"  # no checksum published: the gzip stream must read to its end (CRC32 + length per member)
VERIFY_SIZE = "size"  # no checksum published (multipart ETag): the size must match the listing
VERIFY_NONE = "none"  # small companion files without checksum: complete body, not an HTML page


@dataclass(frozen=True)
class RemoteFile:
    path: str  # relative to the base URL and to the destination ("PMC1.1/PMC1.1.xml")
    url: str
    verify: str
    md5: Optional[str] = None
    md5_url: Optional[str] = None
    size: Optional[int] = None
    # PMC Cloud Service articles: the per-article JSON decides whether the XML is fetched; it is saved beside it.
    article: bool = False
    metadata_path: Optional[str] = None
    metadata_url: Optional[str] = None
    metadata_md5: Optional[str] = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in dataclasses.asdict(self).items() if v not in (None, False)})

    @classmethod
    def from_json(cls, line: str) -> "RemoteFile":
        return cls(**json.loads(line))


@dataclass
class Plan:
    files: list[RemoteFile]
    stats: Counter = field(default_factory=Counter)  # listing facts for the summary (pages, ignored keys, ...)


def matches_include(path: str, patterns: Sequence[str]) -> bool:
    """`--include` globs match the file name, or the whole relative path when the pattern has a '/'."""
    if not patterns:
        return True
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(path if "/" in p else name, p) for p in patterns)


def plan_files(
    client: GuardedClient,
    layout: SourceLayout,
    base_url: str,
    include: Sequence[str] = (),
    limit: Optional[int] = None,
    licences: Sequence[str] = (),
) -> Plan:
    """List the source and return what to fetch, in listing order, at most `limit` data files."""
    if not base_url.endswith("/"):
        base_url += "/"
    stats: Counter = Counter()
    if layout.listing == S3_LIST_V2:
        candidates = _s3_articles(client, layout, base_url, stats)
    elif layout.listing == APACHE_INDEX:
        directories = [layout.licence_dirs[g] for g in licences if g in layout.licence_dirs] or [""]
        candidates = (
            group for directory in directories for group in _index_files(client, layout, base_url, directory, stats)
        )
    else:
        raise ValueError(f"unknown listing style {layout.listing!r}")
    files: list[RemoteFile] = []
    data_files = 0
    for group in candidates:
        if not matches_include(group[0].path, include):
            stats["excluded_by_include"] += 1
            continue
        files.extend(group)
        data_files += 1
        if limit is not None and data_files >= limit:
            break  # stop listing here: the rest of a large bucket is never paged through
    stats["data_files"] = data_files
    stats["files"] = len(files)
    return Plan(files=files, stats=stats)


def _index_files(
    client: GuardedClient, layout: SourceLayout, base_url: str, directory: str, stats: Counter
) -> Iterator[list[RemoteFile]]:
    """Each data file of one directory index, followed by its companion files."""
    page_url = base_url + directory
    index = parse_apache_index(_whole_index_page(client, page_url, stats), page_url)
    stats["listing_pages"] += 1
    for link in index.foreign_links:
        log.warning("listing %s links to another host, ignored: %s", page_url, link)
        stats["foreign_links_ignored"] += 1
    for kind, count in index.ignored.items():
        stats[f"{kind}_ignored"] += count
    files = index.files()
    for name in sorted(files):
        if not fnmatch.fnmatchcase(name, layout.data_glob):
            continue
        entry = files[name]
        sidecar = name + layout.md5_sidecar_suffix if layout.md5_sidecar_suffix else None
        if sidecar and (sidecar in files or layout.md5_sidecar_required):
            item = RemoteFile(directory + name, entry.url, VERIFY_MD5_SIDECAR, md5_url=page_url + quote(sidecar))
        elif name.endswith(".gz"):
            item = RemoteFile(directory + name, entry.url, VERIFY_GZIP)
        else:
            item = RemoteFile(directory + name, entry.url, VERIFY_NONE)
        group = [item]
        stem = name[: -len(layout.data_suffix)] if layout.data_suffix and name.endswith(layout.data_suffix) else None
        for suffix in layout.companion_suffixes if stem else ():
            companion = files.get(stem + suffix)
            if companion is None:
                log.warning("%s has no %s beside it", entry.url, suffix)
                stats["companions_missing"] += 1
            else:
                group.append(RemoteFile(directory + companion.name, companion.url, VERIFY_NONE))
        yield group


def _whole_index_page(client: GuardedClient, page_url: str, stats: Counter, attempts: int = 3) -> str:
    """The index page at `page_url`, whole: it must end with </html>. A page sent without Content-Length and not
    chunked ends where the connection drops, and a page cut short would drop the files it no longer lists."""
    for _ in range(attempts):
        body, _ = client.get_bytes(page_url)
        text = body.decode("utf-8", errors="replace")
        if text.rstrip().lower().endswith("</html>"):
            return text
        stats["listing_pages_cut"] += 1
        log.warning("index page %s is cut short (it does not end with </html>); fetching it again", page_url)
    raise ListingError(f"index page {page_url} was cut short {attempts} times (it does not end with </html>)")


def _s3_pages(client: GuardedClient, layout: SourceLayout, base_url: str, stats: Counter) -> Iterator[S3Object]:
    token: Optional[str] = None
    while True:
        query = {"list-type": "2", "max-keys": str(layout.page_size)}
        if layout.prefix:
            query["prefix"] = layout.prefix
        if token:
            query["continuation-token"] = token
        body, _ = client.get_bytes(base_url + "?" + urlencode(query))
        page = parse_s3_list(body)
        stats["listing_pages"] += 1
        stats["listed_objects"] += len(page.objects)
        yield from page.objects
        if page.next_token is None:
            return
        token = page.next_token


def _s3_articles(
    client: GuardedClient, layout: SourceLayout, base_url: str, stats: Counter
) -> Iterator[list[RemoteFile]]:
    """Pair each article's XML with the metadata JSON beside it.

    S3 lists keys in byte order, so an article folder's keys arrive together: a folder is complete as soon as a
    key from another folder shows up, and memory holds one folder at a time.
    """
    pattern = layout.article_key_regex
    folder: Optional[str] = None
    xmls: dict[str, S3Object] = {}
    metadata: dict[str, S3Object] = {}

    def flush() -> Iterable[list[RemoteFile]]:
        for key, obj in xmls.items():
            meta_key = key[: -len(layout.data_suffix)] + layout.metadata_suffix
            meta = metadata.pop(meta_key, None)
            if meta is None:
                stats["xml_without_metadata"] += 1
            yield [_article(base_url, obj, meta)]
        if metadata:
            stats["metadata_without_xml"] += len(metadata)
        xmls.clear()
        metadata.clear()

    for obj in _s3_pages(client, layout, base_url, stats):
        key_folder = obj.key.rsplit("/", 1)[0] if "/" in obj.key else ""
        if key_folder != folder:
            yield from flush()
            folder = key_folder
        if pattern.fullmatch(obj.key):  # the whole key: "$" would let "...xml\n" through
            xmls[obj.key] = obj
        elif layout.metadata_suffix and obj.key.endswith(layout.metadata_suffix):
            metadata[obj.key] = obj
        else:
            stats["keys_ignored"] += 1
    yield from flush()


def _article(base_url: str, xml: S3Object, meta: Optional[S3Object]) -> RemoteFile:
    md5 = md5_from_etag(xml.etag)
    return RemoteFile(
        path=xml.key,
        url=base_url + quote(xml.key),
        verify=VERIFY_MD5 if md5 else VERIFY_SIZE,
        md5=md5,
        size=xml.size,
        article=True,
        metadata_path=meta.key if meta else None,
        metadata_url=base_url + quote(meta.key) if meta else None,
        metadata_md5=md5_from_etag(meta.etag) if meta else None,
    )
