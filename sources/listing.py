"""Parsers for remote listings: Apache-style HTML directory indexes and S3 ListObjectsV2 pages."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Optional
from urllib.parse import unquote, urljoin, urlsplit

from lxml import etree

from corpus.xmltext import localname, safe_parser


class ListingError(ValueError):
    """A listing page that is not what its source should serve."""


@dataclass(frozen=True)
class IndexEntry:
    name: str  # decoded file or directory name, no slash
    url: str
    is_dir: bool


@dataclass
class DirectoryIndex:
    entries: list[IndexEntry]
    foreign_links: list[str] = field(default_factory=list)  # links off this directory's host, never followed
    # Other links left out, counted by kind (`IGNORED_LINKS`), so that a listing's stats account for every link.
    ignored: Counter = field(default_factory=Counter)

    def files(self) -> dict[str, IndexEntry]:
        return {entry.name: entry for entry in self.entries if not entry.is_dir}


# The kinds of same-host links an index page has that are not its entries.
PARENT_LINKS = "parent_links"  # this directory or one above it: `../`, `./`, "Parent Directory"
QUERY_LINKS = "query_links"  # sort links (`?C=N;O=D`), fragments, mailto:, javascript:, any URL with a query
OUTSIDE_LINKS = "outside_links"  # elsewhere on the host (`../../other/y.tar.gz`, `/robots.txt`)
DEEPER_LINKS = "deeper_links"  # into a subdirectory (`sub/file.gz`): only direct children are entries
IGNORED_LINKS = (PARENT_LINKS, QUERY_LINKS, OUTSIDE_LINKS, DEEPER_LINKS)


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href.strip())


def parse_apache_index(html: str, page_url: str) -> DirectoryIndex:
    """The direct children of the directory whose index page `html` was served at `page_url`.

    Works for NCBI's `<pre>` listing and Apache's table listing alike: only the links matter. Sort links
    (`?C=N;O=D`), the parent directory and links elsewhere on the site are left out and counted in `ignored`
    (see `IGNORED_LINKS`); links to other hosts are reported in `foreign_links`.
    """
    if not page_url.endswith("/"):
        page_url += "/"
    parser = _Anchors()
    parser.feed(html)
    parser.close()
    page = urlsplit(page_url)
    entries: dict[str, IndexEntry] = {}
    foreign: list[str] = []
    ignored: Counter = Counter()
    for href in parser.hrefs:
        if href.startswith(("?", "#", "mailto:", "javascript:")):
            ignored[QUERY_LINKS] += 1
            continue
        url = urljoin(page_url, href)
        parts = urlsplit(url)
        if parts.netloc.lower() != page.netloc.lower():
            foreign.append(url)
            continue
        if parts.query:
            ignored[QUERY_LINKS] += 1
            continue
        if not parts.path.startswith(page.path):
            above = page.path.startswith(parts.path if parts.path.endswith("/") else parts.path + "/")
            ignored[PARENT_LINKS if above else OUTSIDE_LINKS] += 1
            continue
        rest = parts.path[len(page.path):]
        name = unquote(rest.rstrip("/"))
        if not name or name == ".":
            ignored[PARENT_LINKS] += 1
            continue
        if "/" in name or name == "..":
            ignored[DEEPER_LINKS if "/" in name else PARENT_LINKS] += 1
            continue
        clean_url = f"{page.scheme}://{page.netloc}{parts.path}"
        entries.setdefault(name, IndexEntry(name=name, url=clean_url, is_dir=rest.endswith("/")))
    return DirectoryIndex(entries=list(entries.values()), foreign_links=foreign, ignored=ignored)


@dataclass(frozen=True)
class S3Object:
    key: str
    etag: str
    size: int


@dataclass
class S3Page:
    objects: list[S3Object]
    next_token: Optional[str]  # None on the last page


def parse_s3_list(body: bytes) -> S3Page:
    """One ListObjectsV2 result page. An S3 `<Error>` document or a truncated page without a token raises."""
    try:
        root = etree.fromstring(body, parser=safe_parser())
    except etree.XMLSyntaxError as exc:
        raise ListingError(f"S3 listing is not XML: {exc}; starts {body[:60]!r}") from None
    if localname(root) == "Error":
        fields = {localname(child): (child.text or "") for child in root}
        raise ListingError(f"S3 error {fields.get('Code', '?')}: {fields.get('Message', '')}")
    if localname(root) != "ListBucketResult":
        raise ListingError(f"S3 listing has root <{localname(root)}>, expected <ListBucketResult>")
    objects = []
    truncated = False
    token = None
    for child in root:
        name = localname(child)
        if name == "Contents":
            fields = {localname(item): (item.text or "") for item in child}
            objects.append(S3Object(key=fields["Key"], etag=fields.get("ETag", ""), size=int(fields.get("Size", 0))))
        elif name == "IsTruncated":
            truncated = (child.text or "").strip().lower() == "true"
        elif name == "NextContinuationToken":
            token = child.text or None
    if truncated and not token:
        raise ListingError("S3 listing says IsTruncated but gives no NextContinuationToken")
    return S3Page(objects=objects, next_token=token if truncated else None)
