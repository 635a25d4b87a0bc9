"""Text assembly: a parsed `Document` becomes the sentences the pretraining corpus is made of.

A corpus document is a list of paragraphs (title, abstract sections, English plain-language summaries, body
paragraphs), each a list of sentences. Structure (abstract labels such as "METHODS", body section paths) is
kept beside the text, never inside it: a label is not a sentence a reader would write. Sentences never cross
a paragraph boundary, because each paragraph is split on its own.
"""
from __future__ import annotations

import functools
import pickle
import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain
from typing import Iterable, Iterator, Optional, Protocol

from corpus.documents import SOURCE_PMC, Document
from corpus.minhash import ASCII_WORD_BYTES

TITLE, ABSTRACT, SUMMARY, BODY = "title", "abstract", "summary", "body"
ENGLISH_CODES = frozenset({"eng", "en"})

# Characters that some reader would take as a line break; a sentence must stay on one line of a text shard.
_LINE_BREAK_CHARS = r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]"
_LINE_BREAKS = re.compile(_LINE_BREAK_CHARS + "+")
# One such character: a pattern that opens with a character set is searched for in C, position by position.
_LINE_BREAK = re.compile(_LINE_BREAK_CHARS)
_WORD = re.compile(r"\w+")


class Splitter(Protocol):
    """What assembly needs from `corpus.sentences.SentenceSplitter`."""

    def split_batch(self, texts: Iterable[str]) -> Iterator[list[str]]: ...


@dataclass
class Paragraph:
    kind: str  # TITLE, ABSTRACT, SUMMARY or BODY
    label: Optional[str]  # abstract section label or body section path; structure, not text
    sentences: list[str]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "label": self.label, "sentences": self.sentences}


@dataclass
class CorpusDocument:
    """A document of the corpus: the identifiers to trace it back, and its text as paragraphs of sentences."""

    id: str
    source: str
    pmid: Optional[str] = None
    pmcid: Optional[str] = None
    doi: Optional[str] = None
    year: Optional[int] = None
    article_type: Optional[str] = None
    paragraphs: list[Paragraph] = field(default_factory=list)
    language: Optional[str] = None  # set by language identification (ISO 639-1, "und" when undetermined)

    def sentences(self) -> Iterator[str]:
        for paragraph in self.paragraphs:
            yield from paragraph.sentences

    def num_sentences(self) -> int:
        return sum(len(paragraph.sentences) for paragraph in self.paragraphs)

    def num_words(self) -> int:
        return sum(map(count_words, chain.from_iterable(paragraph.sentences for paragraph in self.paragraphs)))

    def title(self) -> str:
        for paragraph in self.paragraphs:
            if paragraph.kind == TITLE:
                return " ".join(paragraph.sentences)
        return ""

    def to_bytes(self) -> bytes:
        """The document as compact bytes (its field values as plain tuples, pickled); `from_bytes` reads them
        back. Only for this job's own steps."""
        return pickle.dumps(self._fields(), protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, data: bytes) -> "CorpusDocument":
        return _corpus_document(*pickle.loads(data))  # noqa: S301 - our own bytes, within one job

    def __reduce__(self):
        # How Beam moves a document between steps (pickled): its field values, without a dataclass pickle's
        # field names and per-paragraph objects.
        return _corpus_document, self._fields()

    def _fields(self) -> tuple:
        return (self.id, self.source, self.pmid, self.pmcid, self.doi, self.year, self.article_type,
                self.language, [(p.kind, p.label, p.sentences) for p in self.paragraphs])

    def to_dict(self) -> dict:
        return {
            "id": self.id, "source": self.source, "pmid": self.pmid, "pmcid": self.pmcid, "doi": self.doi,
            "year": self.year, "article_type": self.article_type, "language": self.language,
            "paragraphs": [paragraph.to_dict() for paragraph in self.paragraphs],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "CorpusDocument":
        paragraphs = [Paragraph(p["kind"], p.get("label"), list(p["sentences"])) for p in data["paragraphs"]]
        return cls(id=data["id"], source=data["source"], pmid=data.get("pmid"), pmcid=data.get("pmcid"),
                   doi=data.get("doi"), year=data.get("year"), article_type=data.get("article_type"),
                   paragraphs=paragraphs, language=data.get("language"))


def _corpus_document(id_, source, pmid, pmcid, doi, year, article_type, language, paragraphs) -> CorpusDocument:
    """The inverse of `CorpusDocument._fields`."""
    return CorpusDocument(id=id_, source=source, pmid=pmid, pmcid=pmcid, doi=doi, year=year,
                          article_type=article_type, language=language,
                          paragraphs=[Paragraph(kind, label, sentences) for kind, label, sentences in paragraphs])


# For ASCII text: b"a" for a word character (`minhash.ASCII_WORD_BYTES` keeps it), b" " for any other byte.
_ASCII_WORD_MARKS = bytes(0x20 if byte == 0x20 else 0x61 for byte in ASCII_WORD_BYTES)


@functools.lru_cache(maxsize=1 << 16)
def count_words(text: str) -> int:
    """Words (`\\w+` runs) of a sentence. The filters, the survivor rank and the length histograms each count
    a document's words; the cache (the sentences of the last few hundred documents) lets the later ones reuse
    the first count."""
    if text.isascii():
        # Most sentences are ASCII: map word bytes to "a", the rest to " ", and count where a word starts
        # (" a", or "a" first). Same count as the regex, without a list of word strings (three times faster).
        marks = text.encode("ascii").translate(_ASCII_WORD_MARKS)
        return marks.count(b" a") + marks.startswith(b"a")
    return len(_WORD.findall(text))


def schema_problem(document: Document) -> Optional[str]:
    """Why a record read from JSON cannot be assembled (wrong types in the text fields), or None."""
    if not isinstance(document.title, str):
        return "title is not a string"
    for name, text_key in (("abstract", "text"), ("other_abstracts", "text"), ("body", "text")):
        entries = getattr(document, name)
        if not isinstance(entries, list):
            return f"{name} is not a list"
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get(text_key, ""), str):
                return f"{name} holds an entry without a text string"
    return None


def text_blocks(document: Document) -> list[tuple[str, Optional[str], str]]:
    """(kind, label, text) for every block of text of a document, in reading order.

    Other abstracts are kept only when they are English (plain-language summaries): the rest are translations
    of the abstract into the article's language, which the corpus does not want twice or in another language.
    """
    blocks: list[tuple[str, Optional[str], str]] = []
    if document.title.strip():
        blocks.append((TITLE, None, document.title))
    for section in document.abstract:
        blocks.append((ABSTRACT, section.get("label") or None, section.get("text") or ""))
    for other in document.other_abstracts:
        if (other.get("language") or "").lower() in ENGLISH_CODES:
            blocks.append((SUMMARY, other.get("type") or None, other.get("text") or ""))
    for paragraph in document.body:
        blocks.append((BODY, paragraph.get("section") or None, paragraph.get("text") or ""))
    return [(kind, label, text) for kind, label, text in blocks if text.strip()]


def assemble(document: Document, splitter: Splitter) -> tuple[CorpusDocument, Counter]:
    """The corpus document of a parsed document, and counts of what went in (paragraphs, sentences, skips)."""
    counts: Counter = Counter()
    blocks = text_blocks(document)
    skipped = sum(1 for other in document.other_abstracts
                  if (other.get("language") or "").lower() not in ENGLISH_CODES)
    if skipped:
        counts["other_language_abstracts_skipped"] += skipped
    paragraphs = []
    for (kind, label, block), sentences in zip(blocks, splitter.split_batch(text for _, _, text in blocks)):
        # Sentences are substrings of their block, and most blocks have no line break: nothing to replace.
        # Line breaks are unprintable characters, and isprintable() is a quicker first test than the search.
        if not block.isprintable() and _LINE_BREAK.search(block):
            sentences = [_LINE_BREAKS.sub(" ", sentence) for sentence in sentences]
        cleaned = [sentence for sentence in map(str.strip, sentences) if sentence]
        if cleaned:
            paragraphs.append(Paragraph(kind, label, cleaned))
            counts[f"{kind}_paragraphs"] += 1
            counts["sentences"] += len(cleaned)
    corpus_document = CorpusDocument(
        id=document.id, source=document.source, pmid=document.pmid, pmcid=document.pmcid, doi=document.doi,
        year=document.year, article_type=document.article_type, paragraphs=paragraphs)
    return corpus_document, counts


def is_full_text(document: CorpusDocument) -> bool:
    return document.source == SOURCE_PMC and any(p.kind == BODY for p in document.paragraphs)
