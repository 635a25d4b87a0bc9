"""The corpus job's statistics: length histograms, and the per-step table built from the job's counters.

Counter names follow one scheme, so the table needs no list of reasons: `<step>.in`, `<step>.out`,
`<step>.removed.<reason>` count documents; `sentences.in`, `sentences.removed.<reason>` and
`sentences.dropped_with_document` count sentences. Every step satisfies in = out + removed, which the tests
check, so nothing leaves the corpus uncounted.
"""
from __future__ import annotations

import bisect
from typing import Iterable, Optional

from corpus.assemble import CorpusDocument, count_words

STEPS = (
    ("read", "Read JSON lines"),
    ("assemble", "Text assembly"),
    ("filter", "Filters"),
    ("language", "Language"),
    ("cross_source", "Cross-source (PubMed in PMC)"),
    ("exact", "Exact duplicates"),
    ("near", "Near duplicates"),
    ("boilerplate", "Boilerplate lines"),
)
# With --exclude-benchmark, after language (corpus.contamination, pipelines.corpus_decontaminate).
DECONTAMINATION_STEP = ("decontaminate", "Benchmark decontamination")

# Upper bin edges (a value v falls in the first bin whose edge is >= v; the last bin is open).
SENTENCE_WORD_EDGES = (2, 4, 6, 8, 10, 12, 15, 20, 25, 30, 35, 40, 50, 60, 80, 100, 150, 300)
DOCUMENT_WORD_EDGES = (25, 50, 75, 100, 150, 200, 250, 300, 400, 500, 750, 1000, 2000, 3000, 5000, 7500,
                       10000, 20000, 50000)
HISTOGRAMS = {
    "sentence_words": SENTENCE_WORD_EDGES,
    "document_words_pubmed": DOCUMENT_WORD_EDGES,
    "document_words_pmc": DOCUMENT_WORD_EDGES,
}


def empty_histograms() -> dict[str, list[int]]:
    return {name: [0] * (len(edges) + 1) for name, edges in HISTOGRAMS.items()}


def add_document(histograms: dict[str, list[int]], document: CorpusDocument) -> None:
    """Count one written document's length and each of its sentences' lengths (in words)."""
    words = 0
    for sentence in document.sentences():
        n = count_words(sentence)
        words += n
        histograms["sentence_words"][bisect.bisect_left(SENTENCE_WORD_EDGES, n)] += 1
    name = f"document_words_{document.source}"
    if name in histograms:
        histograms[name][bisect.bisect_left(DOCUMENT_WORD_EDGES, words)] += 1


def merge_histograms(parts: Iterable[dict[str, list[int]]]) -> dict[str, list[int]]:
    merged = empty_histograms()
    for part in parts:
        for name, counts in part.items():
            merged[name] = [a + b for a, b in zip(merged[name], counts)]
    return merged


def histogram_quantile(counts: list[int], edges: tuple, q: float) -> Optional[int]:
    """The upper edge of the bin holding quantile q; None for an empty histogram or the open last bin."""
    total = sum(counts)
    running = 0
    for index, count in enumerate(counts):
        running += count
        if total and running >= q * total:
            return edges[index] if index < len(edges) else None
    return None


def step_table(counters: dict[str, int], steps: tuple = STEPS) -> list[dict]:
    """One row per step: documents in and out, removed by reason, and whether in = out + removed holds."""
    rows = []
    for step, title in steps:
        prefix = f"{step}.removed."
        removed = {name[len(prefix):]: value for name, value in sorted(counters.items())
                   if name.startswith(prefix) and value}
        documents_in, documents_out = counters.get(f"{step}.in", 0), counters.get(f"{step}.out", 0)
        rows.append({
            "step": step, "title": title, "in": documents_in, "out": documents_out, "removed": removed,
            "balanced": documents_in == documents_out + sum(removed.values()),
        })
    return rows


def sentence_table(counters: dict[str, int]) -> dict:
    prefix = "sentences.removed."
    removed = {name[len(prefix):]: value for name, value in sorted(counters.items())
               if name.startswith(prefix) and value}
    sentences_in = counters.get("sentences.in", 0)
    with_documents = counters.get("sentences.dropped_with_document", 0)
    sentences_out = counters.get("written.sentences", 0)
    return {
        "in": sentences_in, "out": sentences_out, "removed": removed, "dropped_with_document": with_documents,
        "balanced": sentences_in == sentences_out + with_documents + sum(removed.values()),
    }


def build_stats(counters: dict[str, int], aggregates: dict, config: dict, inputs: dict,
                decontamination: Optional[dict] = None) -> dict:
    """stats.json: the counters, the step and sentence tables, histograms, top lists, configuration, and the
    `decontamination` section when the run had one (`corpus.contamination.stats_section`)."""
    histograms = aggregates.get("histograms") or empty_histograms()
    steps = STEPS
    if decontamination is not None:
        after = [name for name, _ in STEPS].index("language") + 1
        steps = (*STEPS[:after], DECONTAMINATION_STEP, *STEPS[after:])
    stats = {
        "inputs": inputs,
        "config": config,
        "steps": step_table(counters, steps),
        "sentences": sentence_table(counters),
        "written": {
            "documents": counters.get("written.documents", 0),
            "sentences": counters.get("written.sentences", 0),
            "text_bytes": counters.get("written.text_bytes", 0),
            "shards": aggregates.get("shards", []),
        },
        "languages": {name[len("language.detected."):]: value for name, value in sorted(counters.items())
                      if name.startswith("language.detected.")},
        "histograms": {name: {"upper_edges": list(HISTOGRAMS[name]), "counts": counts}
                       for name, counts in histograms.items()},
        "median_sentence_words": histogram_quantile(
            histograms["sentence_words"], SENTENCE_WORD_EDGES, 0.5),
        "boilerplate_lines": aggregates.get("boilerplate_lines", []),
        "exact_duplicate_groups": aggregates.get("exact_duplicate_groups", []),
        "near_duplicate_clusters": aggregates.get("near_duplicate_clusters", []),
        "counters": counters,
    }
    if decontamination is not None:
        stats["decontamination"] = decontamination
    return stats
