"""Real document sets for the corpus tests.

The bundled sample (samples/mirror) parsed by the project's own parsers, as the documents job would write it,
and copies of real records planted as the cases the corpus job must handle: an exact duplicate (upper-cased,
so only normalisation makes it equal), a near duplicate (a sentence dropped, a word changed), PubMed records of
PMC articles linked by PMID only and by PMCID only, an article whose only abstract is a real Portuguese one, and
a full-text article with a real Spanish abstract appended as a body paragraph.
"""
from __future__ import annotations

import dataclasses
import functools
import gzip
import json
from pathlib import Path
from typing import Iterable

from corpus import pmc, pubmed
from corpus.documents import SOURCE_PUBMED, Document, pubmed_file_order
from tests.fixtures import SAMPLES


@functools.lru_cache(maxsize=1)
def sample_documents() -> tuple[Document, ...]:
    """Every article of the bundled sample: PubMed (latest file wins per PMID) and the 12 PMC articles."""
    latest: dict[str, Document] = {}
    files = sorted((SAMPLES / "pubmed").glob("*/*.xml.gz"), key=lambda path: pubmed_file_order(path.name))
    for path in files:
        for item in pubmed.iter_pubmed(path):
            if isinstance(item, Document):
                latest[item.id] = item
    for path in sorted((SAMPLES / "pmc-oa-opendata").glob("*/*.xml")):
        metadata = json.loads(path.with_suffix(".json").read_text())
        document = pmc.parse_jats(path.read_bytes(), str(path), metadata=metadata)
        latest[document.id] = document
    return tuple(sorted(latest.values(), key=lambda document: document.id))


def by_id(documents: Iterable[Document]) -> dict[str, Document]:
    return {document.id: document for document in documents}


def _other_abstract(documents: Iterable[Document], language: str) -> tuple[Document, dict]:
    for document in documents:
        for other in document.other_abstracts:
            if other["language"] == language and len(other["text"]) > 400:
                return document, other
    raise LookupError(f"no {language} OtherAbstract in the sample")


def planted_documents() -> tuple[list[Document], dict[str, str]]:
    """The sample plus the planted cases; returns (documents, {case: id of the planted or affected document})."""
    documents = [dataclasses.replace(document) for document in sample_documents()]
    index = by_id(documents)
    plants: dict[str, str] = {}

    # Exact duplicate: a real abstract, upper-cased, under a new PMID.
    original = index["pubmed:31839731"]
    plants["exact_original"] = original.id
    exact = dataclasses.replace(
        original, id="pubmed:90000001", pmid="90000001", pmcid=None, title=original.title.upper(),
        abstract=[{**section, "text": section["text"].upper()} for section in original.abstract])
    plants["exact_copy"] = exact.id

    # Near duplicate: a real structured abstract with its last section's last sentence dropped and a word changed.
    original = next(d for d in documents if d.source == SOURCE_PUBMED and len(d.abstract) >= 4
                    and sum(len(s["text"].split()) for s in d.abstract) > 250)
    plants["near_original"] = original.id
    sections = [dict(section) for section in original.abstract]
    last = sections[-1]["text"]
    sections[-1]["text"] = last[: last.rstrip(".").rfind(". ") + 1] or last
    sections[0]["text"] = sections[0]["text"].replace(" the ", " this ", 1)
    near = dataclasses.replace(original, id="pubmed:90000002", pmid="90000002", pmcid=None, abstract=sections)
    plants["near_copy"] = near.id

    # Cross-source: PubMed records of two real PMC articles, one linked by PMID only, one by PMCID only.
    article = index["pmc:PMC2994229"]
    by_pmid = Document(id=f"pubmed:{article.pmid}", source=SOURCE_PUBMED, origin="planted", pmid=article.pmid,
                       title=article.title, abstract=article.abstract, language=["eng"])
    article = index["pmc:PMC3574550"]
    by_pmcid = Document(id="pubmed:90000003", source=SOURCE_PUBMED, origin="planted", pmid="90000003",
                        pmcid=article.pmcid, title=article.title, abstract=article.abstract, language=["eng"])
    plants["cross_by_pmid"], plants["cross_by_pmcid"] = by_pmid.id, by_pmcid.id

    # Not English: a real Portuguese OtherAbstract as the only abstract of an article.
    source, other = _other_abstract(documents, "por")
    portuguese = Document(id="pubmed:90000004", source=SOURCE_PUBMED, origin="planted", pmid="90000004",
                          title=other["text"].split(". ")[0] + ".", abstract=[{"label": None, "text": other["text"]}],
                          language=["por"])
    plants["portuguese"] = portuguese.id

    # A paragraph in another language inside an English full-text article: a real Spanish OtherAbstract.
    _, spanish = _other_abstract(documents, "spa")
    host = index["pmc:PMC3166277"]
    host.body = list(host.body) + [{"section": "Resumen", "text": spanish["text"]}]
    plants["spanish_paragraph_host"] = host.id
    plants["spanish_paragraph"] = spanish["text"]

    documents += [exact, near, by_pmid, by_pmcid, portuguese]
    return sorted(documents, key=lambda document: document.id), plants


def write_documents(path: Path, documents: Iterable[Document]) -> Path:
    """The documents job's format: one `Document.to_json()` per line, gzipped."""
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for document in documents:
            handle.write(document.to_json() + "\n")
    return path

