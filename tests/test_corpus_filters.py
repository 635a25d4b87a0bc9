"""The prose filters on real text: the figures behind corpus/filters.py's documented defaults.

Prose: GENIA's gold sentences and the English abstracts of the bundled PubMed sample. Non-prose: the table rows
and whole tables, and the reference lists, of the bundled PMC articles and the eLife fixtures, read with lxml
the way a parser that failed to drop them would flatten them.
"""
from __future__ import annotations

import functools
import re
from lxml import etree

from corpus import filters
from corpus.assemble import ABSTRACT, BODY, TITLE, CorpusDocument, Paragraph
from corpus.sentences import SentenceSplitter
from corpus.xmltext import collapse_spaces, localname, safe_parser
from tests.corpus_data import sample_documents
from tests.fixtures import DATA, SAMPLES, genia_documents

CONFIG = filters.FilterConfig()
SPLITTER = SentenceSplitter()
JATS_FILES = sorted((SAMPLES / "pmc-oa-opendata").glob("*/*.xml")) + \
    sorted((DATA / "pmc" / "elife_jats").glob("*.xml"))


def problems(sentences) -> list:
    return [filters.sentence_problem(sentence, CONFIG) for sentence in sentences]


def flattened(element) -> str:
    """Every text node of the element, space-separated (so "<surname>Lee</surname><given-names>Y</given-names>"
    does not glue), without the spaces that puts before punctuation: "Lee Y, Kim J (2010) Title. J 3: 1-9"."""
    text = collapse_spaces(" ".join(element.itertext()))
    text = re.sub(r"\s+([,.;:)\]])", r"\1", text)
    return re.sub(r"([(\[])\s+", r"\1", text)


@functools.lru_cache(maxsize=1)
def jats_non_prose() -> dict[str, list[str]]:
    rows, tables, citations = [], [], []
    for path in JATS_FILES:
        root = etree.fromstring(path.read_bytes(), safe_parser())
        for element in root.iter():
            name = localname(element)
            if name == "table":
                cells = [" ".join(flattened(c) for c in row if localname(c) in ("td", "th"))
                         for row in element.iter() if localname(row) == "tr"]
                cells = [cell for cell in cells if cell.strip()]
                rows += cells
                if cells:
                    tables.append(" ".join(cells))
            elif name == "mixed-citation":
                citations.append(flattened(element))
    return {"rows": rows, "tables": tables, "citations": citations}


def test_prose_is_kept():
    genia = [sentence for abstract in genia_documents() for sentence in abstract]
    assert problems(genia) == [None] * len(genia)
    english = [d for d in sample_documents() if d.source == "pubmed" and d.language == ["eng"]]
    sentences = [s for d in english for section in d.abstract for s in SPLITTER.split(section["text"])]
    assert len(sentences) > 9_000
    flagged = [s for s, problem in zip(sentences, problems(sentences)) if problem]
    assert len(flagged) / len(sentences) < 0.002, flagged  # measured 5 of 9,079: fragments like "(P < .01)."
    assert not [s for s in flagged if filters.is_reference(s)]


def test_tables_are_removed():
    data = jats_non_prose()
    rows, tables = problems(data["rows"]), problems(data["tables"])
    assert len(data["rows"]) > 500 and len(data["tables"]) > 40
    assert sum(p is not None for p in rows) / len(rows) > 0.55  # measured 0.61: the rest are text cells
    assert sum(p is not None for p in tables) / len(tables) > 0.8  # measured 0.84
    assert {filters.NUMBERS_SYMBOLS, filters.SYMBOL_RUN, filters.TOO_LONG} <= set(tables)


def test_reference_strings_are_removed_after_splitting():
    citations = jats_non_prose()["citations"]
    assert len(citations) > 250
    caught = [c for c in citations if any(p == filters.REFERENCE for p in problems(SPLITTER.split(c)))]
    assert len(caught) / len(citations) > 0.9  # measured 0.94


def test_short_non_prose_and_kept_numeric_prose():
    assert filters.sentence_problem("DOI: http://dx.doi.org/10.7554/eLife.00013.006", CONFIG) == filters.URL_ONLY
    assert filters.sentence_problem("Available from: https://www.who.int/publications", CONFIG) == filters.URL_ONLY
    assert filters.sentence_problem("*, p < 0.05; **, p < 0.01; ***, p < 0.001.", CONFIG) == filters.NUMBERS_SYMBOLS
    assert filters.sentence_problem(
        "Kim J, Cote LJ, Kim F, Yuan W, Shull KR, Huang J. Graphene oxide sheets at interfaces.", CONFIG) \
        == filters.REFERENCE
    assert filters.sentence_problem("J Am Chem Soc. 2010;132:8180-8186.", CONFIG) == filters.REFERENCE
    kept = ["Data are available at https://github.com/example/tool under the MIT licence.",
            "Smith et al. (2005) found that IL-2 (10 ng/ml) increased proliferation 2.5-fold (p < 0.05).",
            "The IC50 was 2.5 +/- 0.3 microM (n = 3)."]
    assert problems(kept) == [None] * len(kept)
    assert filters.sentence_problem(" ".join(["12.5"] * 20) + " mg", CONFIG) == filters.SYMBOL_RUN
    assert filters.sentence_problem(" ".join(["word"] * 301), CONFIG) == filters.TOO_LONG


def test_documents_too_short_or_empty():
    title_only = CorpusDocument("pubmed:1", "pubmed", paragraphs=[Paragraph(TITLE, None, [genia_documents()[0][0]])])
    assert filters.document_problem(title_only, CONFIG) == filters.TOO_SHORT
    assert filters.document_problem(CorpusDocument("pubmed:2", "pubmed"), CONFIG) == filters.EMPTY
    abstract = list(genia_documents()[0])
    document = CorpusDocument("pubmed:3", "pubmed", paragraphs=[
        Paragraph(TITLE, None, abstract[:1]), Paragraph(ABSTRACT, None, abstract[1:]),
        Paragraph(BODY, "Table 1", ["0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1.0 1.1 1.2 1.3 1.4"])])
    counts = filters.filter_sentences(document, CONFIG)
    assert counts == {filters.SYMBOL_RUN: 1} and [p.kind for p in document.paragraphs] == [TITLE, ABSTRACT]
    assert filters.document_problem(document, CONFIG) is None
