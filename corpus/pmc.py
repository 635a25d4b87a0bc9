"""PMC Open Access articles (NLM 2.x and JATS 1.x XML) -> `Document`.

`parse_jats` reads one article; the text rules (what is dropped, citations, formulas, sections) are in
`corpus.jats`, the licence rules in `corpus.licences`, and `corpus.pmc_bulk` reads the legacy bulk packages. The
rest, each a decision:

* Identity: `pmc:PMC<id>` from `article-id[@pub-id-type="pmc"|"pmcid"]`, else the metadata's PMCID, else a
  Cloud Service / bulk member name (`PMC123.2.xml`); an article without any (raw publisher JATS such as eLife's)
  is `pmc:doi:<DOI>` with `pmcid` None. Metadata for another PMCID than the article's is an error.
* Version: the metadata's, else the Cloud Service name's (`PMC123.2.xml` -> 2), else 1.
* Licence: a code ("CC BY", "CC BY-NC-ND", "CC0", "public domain") as `corpus.licences` reads it from the
  article; metadata with a licence wins.
* Retraction: PMC/NLM tag a retracted article with `related-article[@related-article-type="retraction-forward"]`
  (MEDLINE "RIN": retracted in); a retraction notice (`@article-type="retraction"`) carries "retracted-article"
  (MEDLINE "ROF": retraction of) and is not itself retracted. Metadata with a retraction flag decides.
* Named entities: NLM articles use numeric character references; a named one that the (never loaded) DTD would
  define is replaced by its character from the HTML5/MathML entity table, which holds the JATS entity sets. Any
  other (`&xxe;`) makes the article a `JatsError`: its text cannot be known.
* Safety: `xmltext.safe_parser`: no DTD or external entity is loaded (not even from the local disk), no network.
"""
from __future__ import annotations

import html.entities
import re
import threading
from dataclasses import dataclass
from typing import Optional

from lxml import etree

from corpus import identifiers
from corpus.documents import SOURCE_PMC, Document
from corpus.jats import XML_LANG, abstracts, body_paragraphs, text_of
from corpus.licences import licence_from_article, licence_from_metadata
from corpus.xmltext import collapse_spaces, localname, safe_parser


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
    """Stands in for the bytes of an archive member that `corpus.pmc_bulk.iter_bulk_archive` did not read.

    `reason`: "symlink", "hard link", "device or fifo", "absolute path", "parent path", "too large" or
    "not an article file". Passing it to `parse_jats` raises a `JatsError` with that reason, so a caller that
    treats every yielded pair as an article still accounts for it as an error record. (Defined here, beside the
    parser that refuses it, so that `corpus.pmc_bulk` depends on this module and not the other way round.)
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

    licence = licence_from_article(meta)
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
# Identifiers and dates

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
