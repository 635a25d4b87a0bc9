"""Where the real data of the tests and benchmarks lies, and the one reader of the GENIA gold sentences.

GENIA dev (tests/data/genia-dev/raw/<PMID>.txt): 148 abstracts, one gold sentence per line, line 1 the title.
"""
from __future__ import annotations

import functools
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
SAMPLES = REPO / "samples" / "mirror"  # the bundled mirror sample: PubMed baseline/update files, 12 PMC articles
PUBMED_SAMPLES = sorted((SAMPLES / "pubmed").glob("*/*.xml.gz"))
GENIA_RAW = DATA / "genia-dev" / "raw"
BERT_VOCAB = DATA / "vocab" / "bert_base_uncased_vocab.txt"
SCIVOCAB = DATA / "vocab" / "scibert_scivocab_uncased_vocab.txt"


def genia_files(raw_dir: Path = GENIA_RAW) -> list[Path]:
    """The GENIA gold files in file-name (PMID) order, the order of `genia_documents`."""
    return sorted(Path(raw_dir).glob("*.txt"))


@functools.lru_cache(maxsize=None)
def genia_documents(raw_dir: Path = GENIA_RAW) -> tuple[tuple[str, ...], ...]:
    """Each abstract's gold sentences, the title first: lines stripped, blank lines dropped."""
    return tuple(
        tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        for path in genia_files(raw_dir)
    )
