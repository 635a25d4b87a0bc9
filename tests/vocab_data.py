"""Real text for the vocabulary tests: the PubMed sample's titles and abstracts (GENIA: tests.fixtures)."""
from __future__ import annotations

import functools
from pathlib import Path

from corpus.documents import Document
from corpus.pubmed import iter_pubmed
from tests.fixtures import PUBMED_SAMPLES


@functools.lru_cache(maxsize=1)
def pubmed_documents() -> tuple[tuple[str, ...], ...]:
    """Title and abstract paragraphs of every citation in the bundled PubMed sample that has text, as the
    project's PubMed parser reads them."""
    documents = []
    for path in PUBMED_SAMPLES:
        for record in iter_pubmed(str(path)):
            if isinstance(record, Document):
                parts = tuple(p for p in [record.title] + [a["text"] for a in record.abstract] if p)
                if parts:
                    documents.append(parts)
    return tuple(documents)


def write_corpus_shard(path: Path, documents) -> None:
    """The corpus job's text format: one sentence (here: paragraph) per line, a blank line between documents."""
    path.write_text("".join("\n".join(doc) + "\n\n" for doc in documents), encoding="utf-8")
