"""Real text for the vocabulary tests: GENIA dev abstracts and the PubMed sample's titles and abstracts."""
from __future__ import annotations

import functools
import gzip
from pathlib import Path

from lxml import etree

from corpus.xmltext import inline_text, safe_parser

REPO = Path(__file__).resolve().parent.parent
GENIA_RAW = REPO / "tests" / "data" / "genia-dev" / "raw"
PUBMED_SAMPLES = sorted((REPO / "samples" / "mirror" / "pubmed").glob("*/*.xml.gz"))
SCIVOCAB = REPO / "tests" / "data" / "vocab" / "scibert_scivocab_uncased_vocab.txt"
BERT_VOCAB = REPO / "tests" / "data" / "vocab" / "bert_base_uncased_vocab.txt"


@functools.lru_cache(maxsize=1)
def genia_documents() -> tuple[tuple[str, ...], ...]:
    """148 GENIA abstracts, each a tuple of gold sentences (the title first)."""
    return tuple(
        tuple(line for line in path.read_text(encoding="utf-8").split("\n") if line.strip())
        for path in sorted(GENIA_RAW.glob("*.txt"))
    )


@functools.lru_cache(maxsize=1)
def pubmed_documents() -> tuple[tuple[str, ...], ...]:
    """Title and abstract paragraphs of every citation in the bundled PubMed sample that has text."""
    documents = []
    for path in PUBMED_SAMPLES:
        with gzip.open(path) as handle:
            # collect_ids=False makes lxml try to fetch the DOCTYPE's DTD (refused: no_network) on these files.
            root = etree.parse(handle, safe_parser(collect_ids=True)).getroot()
        for article in root.iter("PubmedArticle"):
            parts = [inline_text(node) for node in article.iter("ArticleTitle", "AbstractText")]
            parts = [part for part in parts if part]
            if parts:
                documents.append(tuple(parts))
    return tuple(documents)


def write_corpus_shard(path: Path, documents) -> None:
    """The corpus job's text format: one sentence (here: paragraph) per line, a blank line between documents."""
    path.write_text("".join("\n".join(doc) + "\n\n" for doc in documents), encoding="utf-8")
