"""The document record every stage after parsing speaks, and NLM's rules for choosing between versions.

A `Document` is one article from PubMed (title + abstracts) or PMC (title + abstracts + body). It is written
as one JSON object per line by the documents job; `to_json`/`from_json` are the only (de)serialisers.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any, Optional

SOURCE_PUBMED = "pubmed"
SOURCE_PMC = "pmc"
# A lone UTF-16 surrogate: valid in a JSON string (`"\\ud800"`) and in a Python str, but not text; it cannot be
# encoded as UTF-8, so it would crash whichever later step first writes or hashes the text.
_SURROGATE = re.compile("[\ud800-\udfff]")
# How a lone surrogate gets into what json.loads reads from UTF-8 bytes: a "\udXXX" escape (the hex digits in
# either case), or the three UTF-8-style bytes of one, which json.loads decodes with "surrogatepass".
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD]")
_ENCODED_SURROGATE = re.compile(b"\xed[\xa0-\xbf]")


def unencodable_text(value: Any, path: str = "") -> Optional[str]:
    """Where a JSON-like value holds a string that is not valid Unicode text (a lone surrogate), as a path such
    as `body[3].text`; None when every string can be written as UTF-8. Strings are checked where they enter a
    job (a JSON line, a metadata file), so that bad text is a dead letter there, not a crash three steps later.
    The walk keeps its own stack (depth-first, in document order: a key before its value), so any nesting that
    json.loads accepts is walked to the end."""
    stack = [(value, path)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return path or "value"
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                where = f"{path}.{key}" if path else str(key)
                stack.append((item, where))
                if isinstance(key, str):
                    stack.append((key, where))
        elif isinstance(value, (list, tuple)):
            stack.extend((value[index], f"{path}[{index}]") for index in range(len(value) - 1, -1, -1))
    return None


def may_hold_unencodable_text(line: bytes | bytearray | str) -> bool:
    """False only where `unencodable_text(json.loads(line))` certainly returns None: a cheap test on the raw line,
    so that parsing need not walk every string of nearly every line. That takes UTF-8 bytes (the encoding
    `json.loads` detects; in UTF-16 or UTF-32, or in a str, a surrogate may be anywhere) without a surrogate
    escape or encoded surrogate (see `_SURROGATE_ESCAPE`; "\\\\ud800", an escaped backslash, is taken for one,
    which only costs the walk)."""
    if not isinstance(line, (bytes, bytearray)) or json.detect_encoding(line) not in ("utf-8", "utf-8-sig"):
        return True
    return bool((b"\\u" in line and _SURROGATE_ESCAPE.search(line))
                or (b"\xed" in line and _ENCODED_SURROGATE.search(line)))


@dataclass
class Document:
    """One article. Text fields hold clean text: markup removed, whitespace collapsed, nothing glued."""

    id: str  # "pubmed:<PMID>" or "pmc:<PMCID>"
    source: str  # SOURCE_PUBMED or SOURCE_PMC
    origin: str  # the input file (and archive member) the record came from
    pmid: Optional[str] = None
    pmcid: Optional[str] = None  # always with its "PMC" prefix
    doi: Optional[str] = None
    version: Optional[int] = None  # PubMed PMID@Version, PMC article version
    title: str = ""
    # [{"label": "BACKGROUND" | None, "text": ...}]: one entry per AbstractText / abstract section.
    abstract: list = field(default_factory=list)
    # [{"language": "ger", "type": "Publisher", "text": ...}]: PubMed OtherAbstract, JATS trans-abstract.
    other_abstracts: list = field(default_factory=list)
    # [{"section": "Methods / Cell culture" | "", "text": ...}]: one entry per paragraph; empty for PubMed.
    body: list = field(default_factory=list)
    language: list = field(default_factory=list)  # ISO 639 codes as the source gives them ("eng", "en")
    publication_types: list = field(default_factory=list)
    # PMC @article-type ("research-article", "retraction", "correction", ...); for PubMed derived from the
    # publication types: "retraction" (a retraction notice), "correction" (an erratum) or None.
    article_type: Optional[str] = None
    licence: Optional[str] = None
    retracted: bool = False  # the article itself has been retracted
    year: Optional[int] = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def __reduce__(self):
        # How Beam moves a document between steps (pickled): its field values in order, without the field names
        # a dataclass pickle repeats in every document.
        return Document, tuple(getattr(self, name) for name in _FIELDS)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "Document":
        known = _field_names(cls)
        if data.keys() <= known:  # the usual case: nothing to drop, the same arguments without a copy
            return cls(**data)
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_json(cls, line: str) -> "Document":
        return cls.from_dict(json.loads(line))


_FIELDS = tuple(f.name for f in dataclasses.fields(Document))


@functools.cache
def _field_names(cls: type) -> frozenset:
    return frozenset(f.name for f in dataclasses.fields(cls))


@dataclass(frozen=True)
class Deletion:
    """A `DeleteCitation` entry: the PMID is removed by the update file `origin`."""

    pmid: str
    origin: str
    version: Optional[int] = None


@dataclass(frozen=True)
class RecordError:
    """A record that could not be parsed; the rest of its file still is."""

    origin: str
    reason: str
    index: Optional[int] = None  # ordinal of the record in its file
    offset: Optional[int] = None  # byte offset in the (decompressed) file
    snippet: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "record", **dataclasses.asdict(self)}


_PUBMED_FILE = re.compile(r"pubmed(\d{2})n(\d{4})")


def pubmed_file_order(origin: str) -> tuple[int, int]:
    """The position of a PubMed file in NLM's sequence: (year, number) from `pubmedYYnNNNN.xml.gz`.

    Update files continue the baseline's numbering, so sorting by this key is NLM's processing order.
    Files that do not follow the naming scheme sort first, i.e. any named file supersedes them.
    """
    matches = _PUBMED_FILE.findall(origin.rsplit("/", 1)[-1])
    if not matches:
        return (0, 0)
    year, number = matches[-1]
    return (int(year), int(number))
