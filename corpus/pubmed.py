"""The fields of PubMed/MEDLINE XML records (`pubmedYYnNNNN.xml.gz` and efetch output) as `Document`s.

`iter_pubmed` yields one `Document` per citation, one `Deletion` per PMID in a `DeleteCitation` block and one
`RecordError` per record that cannot be parsed, then goes on with the rest of the file.

`corpus.xmlrecords` cuts the records (`<PubmedArticle>`, ...) out of the file's byte stream, so that one damaged
citation fails alone instead of costing the remaining ~30,000 of its file as with `lxml.etree.iterparse`. Here
every record is parsed on its own with one reused safe parser and dropped once its fields are read, which keeps
memory flat in file size. On the bundled files this is as fast as iterparse with clearing; cutting the big
elements a Document never reads (authors, MeSH terms, references) out of each record before parsing makes it
faster (benchmarks/parse.py).

The DOCTYPE is never handed to libxml2: records are parsed without it, so no DTD, external entity or network
fetch can ever be involved; an entity the DTD would have defined makes its record a `RecordError`.
"""
from __future__ import annotations

import os
import re
from typing import BinaryIO, Iterator, Optional, Union

from lxml import etree

from corpus import identifiers, xmlrecords
from corpus.documents import SOURCE_PUBMED, Deletion, Document, RecordError
from corpus.xmltext import collapse_spaces, safe_parser

# A citation is a few kB; the largest real ones (long author and reference lists) stay far below this. Bigger
# means no record boundary was found, i.e. a damaged file: the bytes are reported and skipped, not buffered.
MAX_RECORD_BYTES = 64 << 20

# Top-level record elements per root element. Old MEDLINE files (2016 and before) hold bare MedlineCitation.
_RECORD_TAGS = {
    "PubmedArticleSet": ("PubmedArticle", "PubmedBookArticle", "DeleteCitation"),
    "MedlineCitationSet": ("MedlineCitation", "DeleteCitation"),
}

# Publication types that make a record a notice about another article. NLM renamed "Retraction of Publication"
# to "Retraction Notice" (2026 files use the new name); CommentsCorrections RefType covers both generations.
_RETRACTION_TYPES = frozenset({"Retraction of Publication", "Retraction Notice"})
_CORRECTION_TYPES = frozenset({"Published Erratum"})
_RETRACTED_TYPES = frozenset({"Retracted Publication"})

# The big elements a Document never reads, cut from records before parsing (see _without_unread_elements),
# in the order they occur in a record. The names are no prefix of another PubMed element name.
_UNREAD_ELEMENTS = [
    (b"<" + name, b"</" + name + b">") for name in (b"AuthorList", b"MeshHeadingList", b"History", b"ReferenceList")
]
_SLASH = ord("/")
_YEAR = re.compile(r"\b(\d{4})\b")
_TOO_LARGE = "record larger than the limit of {:,} bytes (the documents job's --max-record-mb), skipped"
_NOT_AVAILABLE = "[Not Available]."  # NLM's placeholder ArticleTitle when no English title exists

Source = Union[str, "os.PathLike[str]", BinaryIO]
Record = Union[Document, Deletion, RecordError]


class PubmedFileError(Exception):
    """The file as a whole cannot be read (not gzip/XML, truncated, unknown root); records before it were yielded.

    `records`: how many records (documents, deletion blocks, record errors) were yielded before it; `offset`: the
    byte of the decompressed XML where the file failed (None when not known).
    """

    def __init__(self, origin: str, reason: str, records: Optional[int] = None, offset: Optional[int] = None):
        super().__init__(f"{origin}: {reason}")
        self.origin = origin
        self.reason = reason
        self.records = records
        self.offset = offset


class _InvalidRecord(Exception):
    """A well-formed record that lacks what every citation must have (PMID, MedlineCitation, ...)."""


def iter_pubmed(source: Source, origin: Optional[str] = None, notes: Optional[dict] = None,
                max_record_bytes: Optional[int] = None) -> Iterator[Record]:
    """Parse one PubMed XML file, plain or gzipped (detected by its magic bytes, not its name).

    `source` is a path or a binary file object (which stays open); `origin` names the file in every output
    and error (default: the path, or the file object's `name`). Raises `PubmedFileError` for file-level
    failures after yielding every record read before the failure, the last complete one included. `notes`, a
    dict, receives what is worth counting but no error once the file is read: `gzip_members` and
    `trailing_zero_bytes` (zero padding after the gzip stream, skipped). A record over `max_record_bytes` is a
    `RecordError` and is skipped without being held whole (default `MAX_RECORD_BYTES`).
    """
    max_record_bytes = MAX_RECORD_BYTES if max_record_bytes is None else max_record_bytes
    if isinstance(source, (str, os.PathLike)):
        origin = origin or os.fspath(source)
        try:
            stream = open(source, "rb")
        except OSError as exc:
            raise PubmedFileError(origin, f"cannot open: {exc}") from exc
        with stream:
            yield from _iter_stream(stream, origin, notes, max_record_bytes)
    else:
        origin = origin or str(getattr(source, "name", "") or "<stream>")
        yield from _iter_stream(source, origin, notes, max_record_bytes)


def _iter_stream(raw: BinaryIO, origin: str, notes: Optional[dict], max_record_bytes: int) -> Iterator[Record]:
    fmt = xmlrecords.RecordFormat(
        name="PubMed", record_tags=_RECORD_TAGS, max_record_bytes=max_record_bytes,
        too_large=_TOO_LARGE.format(max_record_bytes),
        error=PubmedFileError)
    parser = safe_parser()
    for index, offset, segment, problem in xmlrecords.iter_records(raw, origin, fmt, notes):
        yield from _parse_record(segment, problem, parser, origin, index, offset)


def _parse_record(
    segment: bytes, problem: Optional[str], parser, origin: str, index: int, offset: int
) -> Iterator[Record]:
    def error(reason: str) -> RecordError:
        snippet = collapse_spaces(segment[: xmlrecords.SNIPPET_CHARS * 2].decode("utf-8", "replace"))
        return RecordError(
            origin=origin, reason=reason, index=index, offset=offset, snippet=snippet[: xmlrecords.SNIPPET_CHARS])

    if problem:
        yield error(problem)
        return
    try:
        element = etree.fromstring(_without_unread_elements(segment), parser)
    except etree.XMLSyntaxError as exc:
        yield error(f"malformed XML: {exc}")
        return
    if element.tag == "DeleteCitation":
        for pmid in element.iterfind("PMID"):
            try:
                yield Deletion(pmid=_pmid(pmid), origin=origin, version=_int_attr(pmid, "Version"))
            except (_InvalidRecord, ValueError) as exc:
                yield error(f"invalid deleted PMID: {exc}")
        return
    try:
        yield _document(element, origin)
    except (_InvalidRecord, ValueError) as exc:
        yield error(f"invalid record: {exc}")


def _without_unread_elements(segment: bytes) -> bytes:
    """The record without the big elements a Document never reads (authors, references, MeSH terms, ...).

    They are half of a citation's bytes (AuthorList alone 20-40%, ReferenceList up to 40% in files since 2021)
    and parsing is the largest cost, so they are cut out before it. An element is cut from its start tag to
    its own end tag, so what is left is exactly the record without it; where that end is not clear (missing,
    or an empty <AuthorList/> inside) the element is left in place for the parser.
    """
    pieces: list[bytes] = []
    kept_from = 0
    for open_tag, close_tag in _UNREAD_ELEMENTS:
        start = segment.find(open_tag, kept_from)
        while start >= 0:
            tag_end = segment.find(b">", start)
            empty = tag_end > 0 and segment[tag_end - 1] == _SLASH  # <AuthorList/>: nothing to cut
            end = -1 if empty else _element_end(segment, open_tag, close_tag, start)
            if end < 0:
                start = segment.find(open_tag, start + 1)
                continue
            pieces.append(segment[kept_from:start])
            kept_from = end
            start = segment.find(open_tag, end)
    if not pieces:
        return segment
    pieces.append(segment[kept_from:])
    return b"".join(pieces)


def _element_end(segment: bytes, open_tag: bytes, close_tag: bytes, start: int) -> int:
    """The offset just past the end tag that closes the start tag at `start`; -1 if there is none.

    Start and end tags are counted, so nested elements of the same name are skipped; an empty element (<X/>)
    inside has no end tag, keeps the counts apart and makes the answer -1: nothing is cut rather than too much.
    """
    end = segment.find(close_tag, start)
    while end >= 0:
        end += len(close_tag)
        if segment.count(open_tag, start, end) == segment.count(close_tag, start, end):
            return end
        end = segment.find(close_tag, end)
    return -1


def _document(element, origin: str) -> Document:
    if element.tag == "PubmedBookArticle":
        return _book_document(element, origin)
    # One pass over the children of the three levels instead of a path search per field: extraction would
    # otherwise cost as much as parsing.
    record = _children(element)
    citation = element if element.tag == "MedlineCitation" else _first(record, "MedlineCitation")
    if citation is None:
        raise _InvalidRecord("no MedlineCitation")
    head = _children(citation)
    article_element = _first(head, "Article")
    if article_element is None:
        raise _InvalidRecord("no Article")
    article = _children(article_element)
    pmid_element = _first(head, "PMID")
    pmid = _pmid(pmid_element)
    publication_types = [t for p in article.get("PublicationTypeList", ()) for t in _texts(p)]
    ref_types = {c.get("RefType") for r in head.get("CommentsCorrectionsList", ()) for c in r}
    pubmed_data = _first(record, "PubmedData")
    ids = _article_ids(pubmed_data.find("ArticleIdList") if pubmed_data is not None else None)
    journal = _first(article, "Journal")
    return Document(
        id=f"pubmed:{pmid}",
        source=SOURCE_PUBMED,
        origin=origin,
        pmid=pmid,
        pmcid=identifiers.pmcid(ids.get("pmc"), leading=True) or _pmcid_from_other_ids(head.get("OtherID", ())),
        doi=ids.get("doi") or _elocation_doi(article.get("ELocationID", ())),
        version=_int_attr(pmid_element, "Version") or 1,
        title=_title(_first(article, "ArticleTitle"), _first(article, "VernacularTitle")),
        abstract=_abstract(_first(article, "Abstract")),
        other_abstracts=_other_abstracts(head.get("OtherAbstract", ())),
        language=_texts(article.get("Language", ())),
        publication_types=publication_types,
        article_type=_article_type(publication_types, ref_types),
        retracted=bool(_RETRACTED_TYPES.intersection(publication_types)) or "RetractionIn" in ref_types,
        year=_year(_pub_date(journal)) or _year(_first(article, "ArticleDate")),
    )


def _book_document(element, origin: str) -> Document:
    """A `PubmedBookArticle`: a book or chapter (BookDocument with its Book, ids also in PubmedBookData)."""
    record = _children(element)
    book_document = _first(record, "BookDocument")
    if book_document is None:
        raise _InvalidRecord("no BookDocument")
    document = _children(book_document)
    book_element = _first(document, "Book")
    if book_element is None:
        raise _InvalidRecord("no Book")
    book = _children(book_element)
    pmid_element = _first(document, "PMID")
    pmid = _pmid(pmid_element)
    book_data = _first(record, "PubmedBookData")
    ids = _article_ids(book_data.find("ArticleIdList") if book_data is not None else None)
    ids.update(_article_ids(_first(document, "ArticleIdList")))
    publication_types = _texts(document.get("PublicationType", ()))
    title = _title(_first(document, "ArticleTitle"), _first(document, "VernacularTitle"))
    return Document(
        id=f"pubmed:{pmid}",
        source=SOURCE_PUBMED,
        origin=origin,
        pmid=pmid,
        pmcid=identifiers.pmcid(ids.get("pmc"), leading=True),
        doi=ids.get("doi") or _elocation_doi(book.get("ELocationID", ())),
        version=_int_attr(pmid_element, "Version") or 1,
        title=title or _title(_first(book, "BookTitle"), None),
        abstract=_abstract(_first(document, "Abstract")),
        language=_texts(document.get("Language", ())),
        publication_types=publication_types,
        article_type=_article_type(publication_types, set()),
        retracted=bool(_RETRACTED_TYPES.intersection(publication_types)),
        year=_year(_first(book, "PubDate")),
    )


def _children(element) -> dict[str, list]:
    """The element's children grouped by tag, in document order."""
    children: dict[str, list] = {}
    for child in element:
        children.setdefault(child.tag, []).append(child)
    return children


def _first(children: dict[str, list], tag: str):
    found = children.get(tag)
    return found[0] if found else None


def _pmid(element) -> str:
    text = element.text if element is not None else None
    pmid = identifiers.pmid(text, ascii_only=True, allow_zero=True)
    if pmid is None:
        raise _InvalidRecord(f"no valid PMID ({(text or '').strip()!r})")
    return pmid


def _int_attr(element, name: str) -> Optional[int]:
    value = element.get(name)
    return int(value) if value else None


def _inline_text(element) -> str:
    """The element's text as a reader sees it. PubMed titles and abstracts contain only inline markup (i, b,
    sup, sub, u, MathML), which adds no space and hides no text: the text is all text nodes joined, so
    "Student's <i>t</i>-test" stays "Student's t-test" and "H<sub>2</sub>O" stays "H2O"."""
    if len(element):
        return collapse_spaces("".join(element.itertext()))
    return collapse_spaces(element.text or "")


def _texts(elements) -> list[str]:
    return [text for text in (collapse_spaces(e.text or "") for e in elements) if text]


def _title(title_element, vernacular_element) -> str:
    """The English title without NLM's translation brackets; the vernacular title when there is no English one."""
    title = _inline_text(title_element) if title_element is not None else ""
    if title and title != _NOT_AVAILABLE:
        return _strip_translation_brackets(title)
    return _inline_text(vernacular_element) if vernacular_element is not None else ""


def _strip_translation_brackets(title: str) -> str:
    """"[Titre traduit]." -> "Titre traduit." ; "[A] and [B]." stays as it is (its brackets enclose no title)."""
    if not title.startswith("["):
        return title
    close = len(title) - (2 if title.endswith("].") else 1)
    if title[close] != "]":
        return title
    depth = 0
    for char in title[:close]:
        depth += (char == "[") - (char == "]")
        if depth == 0:
            return title  # the opening bracket closes before the end
    return title[1:close] + title[close + 1 :]


def _abstract(abstract_element) -> list[dict]:
    """[{"label", "text"}] per AbstractText; CopyrightInformation is not part of the abstract."""
    if abstract_element is None:
        return []
    sections = []
    for section in abstract_element:
        if section.tag != "AbstractText":
            continue
        text = _inline_text(section)
        if text:
            sections.append({"label": section.get("Label") or None, "text": text})
    return sections


def _other_abstracts(other_abstracts) -> list[dict]:
    """OtherAbstract (translations, plain-language summaries) kept apart from the abstract, with their language."""
    others = []
    for other in other_abstracts:
        text = " ".join(s["text"] for s in _abstract(other))
        if text:
            others.append({"language": other.get("Language"), "type": other.get("Type"), "text": text})
    return others


def _article_ids(id_list) -> dict[str, str]:
    ids: dict[str, str] = {}
    if id_list is not None:
        for article_id in id_list.iterfind("ArticleId"):
            value = (article_id.text or "").strip()
            if value:
                ids.setdefault(article_id.get("IdType", ""), value)
    return ids


def _pmcid_from_other_ids(other_ids) -> Optional[str]:
    """Old MEDLINE files carry the PMCID only as `OtherID Source="NLM"` ("PMC3042602 [Available on ...]")."""
    for other_id in other_ids:
        text = (other_id.text or "").strip()
        if other_id.get("Source") == "NLM" and text.startswith("PMC"):
            return identifiers.pmcid(text, leading=True)
    return None


def _elocation_doi(locations) -> Optional[str]:
    for location in locations:
        if location.get("EIdType") == "doi" and location.get("ValidYN", "Y") == "Y" and location.text:
            return location.text.strip()
    return None


def _article_type(publication_types: list[str], ref_types: set) -> Optional[str]:
    if _RETRACTION_TYPES.intersection(publication_types) or "RetractionOf" in ref_types:
        return "retraction"
    if _CORRECTION_TYPES.intersection(publication_types) or "ErratumFor" in ref_types:
        return "correction"
    return None


def _year(date_element) -> Optional[int]:
    """Year of a PubDate/ArticleDate: its Year, else the first year in MedlineDate ("1998 Dec-1999 Jan")."""
    if date_element is None:
        return None
    year = date_element.findtext("Year") or ""
    if year.isascii() and year.isdigit():
        return int(year)
    match = _YEAR.search(year or date_element.findtext("MedlineDate") or "")
    return int(match.group(1)) if match else None


def _pub_date(journal):
    issue = journal.find("JournalIssue") if journal is not None else None
    return issue.find("PubDate") if issue is not None else None
