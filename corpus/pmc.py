"""PMC Open Access articles (NLM 2.x and JATS 1.x XML) -> `Document`, and the legacy bulk packages.

`parse_jats` reads one article; the text rules (what is dropped, citations, formulas, sections) are in
`corpus.jats`. The rest, each a decision:

* Identity: `pmc:PMC<id>` from `article-id[@pub-id-type="pmc"|"pmcid"]`, else the metadata's PMCID, else a
  Cloud Service / bulk member name (`PMC123.2.xml`); an article without any (raw publisher JATS such as eLife's)
  is `pmc:doi:<DOI>` with `pmcid` None. Metadata for another PMCID than the article's is an error.
* Version: the metadata's, else the Cloud Service name's (`PMC123.2.xml` -> 2), else 1.
* Licence: a code ("CC BY", "CC BY-NC-ND", "CC0", "public domain") from `license/@xlink:href`,
  `ali:license_ref`, a Creative Commons link inside the licence text, `@license-type`, or the licence text's
  wording ("Creative Commons Attribution License"); else the licence's raw text; NLM 2.x articles without a
  `license` only when their copyright statement names a Creative Commons licence. Metadata with a licence wins.
* Retraction: PMC/NLM tag a retracted article with `related-article[@related-article-type="retraction-forward"]`
  (MEDLINE "RIN": retracted in); a retraction notice (`@article-type="retraction"`) carries "retracted-article"
  (MEDLINE "ROF": retraction of) and is not itself retracted. Metadata with a retraction flag decides.
* Named entities: NLM articles use numeric character references; a named one that the (never loaded) DTD would
  define is replaced by its character from the HTML5/MathML entity table, which holds the JATS entity sets. Any
  other (`&xxe;`) makes the article a `JatsError`: its text cannot be known.
* Safety: `xmltext.safe_parser`: no DTD or external entity is loaded (not even from the local disk), no network.

`iter_bulk_archive` streams a legacy `oa_*_xml.*.tar.gz` package without extracting anything; members it does
not read come out as `SkippedMember`.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import html.entities
import io
import logging
import re
import tarfile
import threading
import zlib
from dataclasses import dataclass
from typing import IO, Iterator, Optional, Union

from lxml import etree

from corpus import identifiers
from corpus.documents import SOURCE_PMC, Document
from corpus.jats import XML_LANG, abstracts, body_paragraphs, text_of
from corpus.xmltext import collapse_spaces, localname, safe_parser

log = logging.getLogger(__name__)

XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
ALI_LICENSE_REF = "{http://www.niso.org/schemas/ali/1.0/}license_ref"

# A PMC article is at most a few MB; a bigger member is not an article and is not read into memory.
MAX_MEMBER_BYTES = 128 << 20
ARTICLE_SUFFIXES = (".nxml", ".xml")

FILELIST_COLUMNS = ("Article File", "Article Citation", "AccessionID", "LastUpdated", "PMID", "License", "Retracted")


class JatsError(Exception):
    """An article, archive or filelist that cannot be read; `origin` names the file, `reason` says why."""

    def __init__(self, origin: str, reason: str):
        super().__init__(f"{origin}: {reason}")
        self.origin = origin
        self.reason = reason


@dataclass(frozen=True)
class JatsOptions:
    include_captions: bool = False  # figure/table captions as body paragraphs (section "Figure 1" etc.)
    include_subarticles: bool = False  # eLife decision letters / author responses, appended as body sections


@dataclass(frozen=True)
class SkippedMember:
    """Stands in for the bytes of an archive member that `iter_bulk_archive` did not read.

    `reason`: "symlink", "hard link", "device or fifo", "absolute path", "parent path", "too large" or
    "not an article file". Passing it to `parse_jats` raises a `JatsError` with that reason, so a caller that
    treats every yielded pair as an article still accounts for it as an error record.
    """

    name: str
    reason: str


# ---------------------------------------------------------------------------------------------------------------
# Parsing

_local = threading.local()


def _parser() -> etree.XMLParser:
    """One parser per thread: lxml parsers must not be shared between threads, and building one is costly."""
    if not hasattr(_local, "parser"):
        _local.parser = safe_parser()
    return _local.parser


def _parse_xml(data: bytes, origin: str):
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as error:
        line, column = error.position
        raise JatsError(origin, f"malformed XML at line {line}, column {column}: {error.msg}") from None
    _replace_named_entities(root, origin)
    return root


_NAMED_ENTITIES = html.entities.html5


def _replace_named_entities(root, origin: str) -> None:
    for entity in list(root.iter(etree.Entity)):
        char = _NAMED_ENTITIES.get(entity.name + ";")
        if char is None:
            raise JatsError(origin, f"undefined entity &{entity.name}; at line {entity.sourceline}")
        _replace_with_text(entity, char)


def _replace_with_text(node, text: str) -> None:
    """Remove `node` (not its tail) from the tree and put `text` where it was."""
    parent = node.getparent()
    previous = node.getprevious()
    text += node.tail or ""
    if previous is not None:
        previous.tail = (previous.tail or "") + text
    else:
        parent.text = (parent.text or "") + text
    parent.remove(node)


def parse_jats(
    data: bytes,
    origin: str,
    options: JatsOptions = JatsOptions(),
    metadata: Optional[dict] = None,
) -> Document:
    """One article as a `Document`. `metadata` (a Cloud Service JSON or a bulk filelist row) overrides the
    article's own licence, retraction and version. Raises `JatsError` for anything that is not a readable article.
    """
    if isinstance(data, SkippedMember):
        raise JatsError(origin, f"archive member not read: {data.reason}")
    root = _parse_xml(data, origin)
    if localname(root) != "article":
        raise JatsError(origin, f"root element is <{localname(root)}>, not <article>")
    meta = root.find("front/article-meta")
    if meta is None:
        raise JatsError(origin, "no front/article-meta")

    ids = _article_ids(meta)
    pmcid, pmid, doi = ids.get("pmcid"), ids.get("pmid"), ids.get("doi")
    named_pmcid, named_version = _name_ids(origin)
    meta_pmcid = identifiers.pmcid((metadata or {}).get("pmcid") or (metadata or {}).get("AccessionID"))
    if pmcid and meta_pmcid and pmcid != meta_pmcid:
        raise JatsError(origin, f"metadata is for {meta_pmcid} but the article is {pmcid}")
    pmcid = pmcid or meta_pmcid or named_pmcid
    if not pmid and metadata:
        pmid = identifiers.pmid(metadata.get("pmid") or metadata.get("PMID"))
    if pmcid:
        doc_id = f"{SOURCE_PMC}:{pmcid}"
    elif doi:
        doc_id = f"{SOURCE_PMC}:doi:{doi}"
    else:
        raise JatsError(origin, "no PMCID or DOI: the article cannot be identified")

    licence = _licence(meta)
    article_type = root.get("article-type")
    retracted = article_type != "retraction" and any(
        related.get("related-article-type") == "retraction-forward" for related in meta.iter("related-article")
    )
    version = named_version or 1
    if metadata:
        meta_licence, meta_retracted = licence_from_metadata(metadata)
        licence = meta_licence or licence
        if "is_retracted" in metadata or "Retracted" in metadata:
            retracted = meta_retracted
        version = _int(metadata.get("version")) or version

    language = root.get(XML_LANG)
    abstract, other_abstracts = abstracts(meta, language)
    title = meta.find("title-group/article-title")
    return Document(
        id=doc_id,
        source=SOURCE_PMC,
        origin=origin,
        pmid=pmid,
        pmcid=pmcid,
        doi=doi,
        version=version,
        title=text_of(title) if title is not None else "",
        abstract=abstract,
        other_abstracts=other_abstracts,
        body=[{"section": section, "text": text}
              for section, text in body_paragraphs(root, options.include_captions, options.include_subarticles)],
        language=[language] if language else [],
        article_type=article_type,
        licence=licence,
        retracted=retracted,
        year=_year(meta),
    )


# ---------------------------------------------------------------------------------------------------------------
# Identifiers, dates, licences

_NAMED_FILE = re.compile(r"(PMC\d+)(?:\.(\d+))?\.n?xml", re.I)


def _int(value) -> Optional[int]:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _name_ids(origin: str) -> tuple[Optional[str], Optional[int]]:
    """PMCID and version from a Cloud Service name (`PMC123.2.xml`) or a bulk member name (`PMC123.xml`)."""
    match = _NAMED_FILE.fullmatch(re.split(r"[/#]", origin)[-1])
    if not match:
        return None, None
    return identifiers.pmcid(match.group(1)), _int(match.group(2))


def _article_ids(meta) -> dict[str, str]:
    ids: dict[str, str] = {}
    for element in meta.iterfind("article-id"):
        kind, value = element.get("pub-id-type"), collapse_spaces(element.text or "")
        if kind in ("pmc", "pmcid") and identifiers.pmcid(value):
            ids.setdefault("pmcid", identifiers.pmcid(value))
        elif kind == "pmid" and identifiers.pmid(value):
            ids.setdefault("pmid", identifiers.pmid(value))
        elif kind == "doi" and value:
            ids.setdefault("doi", value)
    return ids


def _year(meta) -> Optional[int]:
    """The first publication year among the article's pub-dates (epub, ppub, collection...)."""
    years = [_int(date.findtext("year")) for date in meta.iterfind("pub-date")]
    years = [year for year in years if year]
    return min(years) if years else None


_CC_URL = re.compile(r"creativecommons\.org/(licenses|publicdomain)/([a-z-]+)", re.I)
_CC_CODE = re.compile(r"cc[\s_-]*(0|zero|by(?:[\s_-]*(?:nc|nd|sa))*)(?:[\s_-]*\d(?:\.\d)?)?", re.I)
_CC_TEXT = re.compile(
    r"creative\s+commons\s+(?:attribution|by)\b((?:[\s,-]*(?:non-?\s*commercial|no-?\s*deriv\w*|share-?\s*alike))*)",
    re.I,
)
_CC0_TEXT = re.compile(r"\bCC0\b|\bCC-0\b|creative\s+commons\s+(?:zero|cc0)|public\s+domain\s+dedication", re.I)
_PUBLIC_DOMAIN_TEXT = re.compile(r"\bpublic\s+domain\b", re.I)
_NOT_A_LICENCE = re.compile(r"no[\s_-]*cc[\s_-]*code|none|", re.I)


def _code_from_url(url: str) -> Optional[str]:
    match = _CC_URL.search(url or "")
    if not match:
        return None
    kind, name = match.group(1).lower(), match.group(2).lower()
    if kind == "publicdomain":
        return "CC0" if name == "zero" else "public domain"
    return "CC " + name.upper()


def _normalise_code(value: str) -> Optional[str]:
    """"cc-by-nc" / "CC BY-NC 4.0" / "cc_by" -> "CC BY-NC"; "cc0" -> "CC0"; "public-domain" -> "public domain"."""
    value = (value or "").strip()
    match = _CC_CODE.fullmatch(value)
    if match:
        parts = re.split(r"[\s_-]+", match.group(1).upper())
        return "CC0" if parts[0] in ("0", "ZERO") else "CC " + "-".join(parts)
    if re.fullmatch(r"public[\s_-]*domain", value, re.I):
        return "public domain"
    return None


def _code_from_text(text: str) -> Optional[str]:
    match = _CC_TEXT.search(text)
    if match:
        parts = ["BY"]
        conditions = match.group(1).lower()
        parts += [code for word, code in (("commercial", "NC"), ("deriv", "ND"), ("alike", "SA")) if word in conditions]
        return "CC " + "-".join(parts)
    if _CC0_TEXT.search(text):
        return "CC0"
    match = re.search(r"\bCC[\s-]BY(?:-(?:NC|ND|SA))*\b", text)
    if match:
        return _normalise_code(match.group(0))
    if _PUBLIC_DOMAIN_TEXT.search(text):
        return "public domain"
    return None


def _licence(meta) -> Optional[str]:
    """A licence code from the article's own `license` elements, else their text; from the copyright statement
    (NLM 2.x PLoS) only when it names a Creative Commons licence."""
    licences = meta.xpath("permissions/license | license")
    for licence in licences:
        urls = [licence.get(XLINK_HREF)] + [ref.text for ref in licence.iter(ALI_LICENSE_REF)]
        urls += [link.get(XLINK_HREF) for link in licence.iter("ext-link", "uri")]
        code = next((code for code in map(_code_from_url, filter(None, urls)) if code), None)
        code = code or _normalise_code(licence.get("license-type", ""))
        code = code or _code_from_text(collapse_spaces("".join(licence.itertext())))
        if code:
            return code
    if licences:
        return collapse_spaces("".join(licences[0].itertext())) or None
    for statement in meta.xpath("permissions/copyright-statement | copyright-statement"):
        code = _code_from_text(collapse_spaces("".join(statement.itertext())))
        if code:
            return code
    return None


def licence_from_metadata(metadata: dict) -> tuple[Optional[str], bool]:
    """(licence code, retracted) from a Cloud Service JSON (`license_code`, `is_retracted`) or a bulk filelist
    row (`License`, `Retracted`). "NO-CC CODE" and empty values give None: no licence stated there."""
    raw = metadata.get("license_code", metadata.get("License"))
    retracted = metadata.get("is_retracted", metadata.get("Retracted"))
    if isinstance(retracted, str):
        retracted = retracted.strip().lower() in ("yes", "y", "true", "1")
    licence = None
    if raw is not None and not _NOT_A_LICENCE.fullmatch(str(raw).strip()):
        raw = str(raw).strip()
        licence = _normalise_code(raw) or _code_from_url(raw) or raw
    return licence, bool(retracted)


# ---------------------------------------------------------------------------------------------------------------
# Bulk packages

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
