"""corpus.pubmed on the real PubMed fixtures: field values of known records, every DTD generation, bad input."""
from __future__ import annotations

import errno
import gzip
import http.server
import io
import os
import re
import threading
import tracemalloc
import zlib

import pytest

from corpus import pubmed, xmlrecords
from corpus.documents import Deletion, Document, RecordError
from corpus.pubmed import PubmedFileError, iter_pubmed
from tests.fixtures import DATA, SAMPLES, genia_documents, genia_files

BASELINE = SAMPLES / "pubmed" / "baseline" / "pubmed20n1015.xml.gz"
UPDATE = SAMPLES / "pubmed" / "updatefiles" / "pubmed20n1016.xml.gz"
PUBMED = DATA / "pubmed"
GENIA = DATA / "genia-dev"


def parse(source, **kwargs) -> list:
    return list(iter_pubmed(source, **kwargs))


def of_type(records, kind) -> list:
    return [r for r in records if isinstance(r, kind)]


def one(records, pmid: str, version: int = 1) -> Document:
    (doc,) = [r for r in of_type(records, Document) if r.pmid == pmid and r.version == version]
    return doc


def parse_until_error(source, **kwargs) -> tuple[list, PubmedFileError]:
    records = []
    with pytest.raises(PubmedFileError) as raised:
        for record in iter_pubmed(source, **kwargs):
            records.append(record)
    return records, raised.value


@pytest.fixture(scope="module")
def baseline() -> list:
    return parse(BASELINE)


@pytest.fixture(scope="module")
def update() -> list:
    return parse(UPDATE)


@pytest.fixture(scope="module")
def baseline_xml() -> bytes:
    return gzip.decompress(BASELINE.read_bytes())


# --- every file and DTD generation in the fixtures ------------------------------------------------------------

@pytest.mark.parametrize(
    "path, dtd, documents, deletions",
    [
        (BASELINE, "pubmed_190101.dtd", 756, 0),
        (UPDATE, "pubmed_190101.dtd", 735, 218),
        (PUBMED / "update_pubmed21n1063_sample.xml.gz", "pubmed_190101.dtd", 33, 0),
        (PUBMED / "baseline_pubmed26n1334_sample.xml.gz", "pubmed_190101.dtd", 30, 0),  # no newlines between records
        (PUBMED / "update_pubmed26n1335_sample.xml.gz", "pubmed_190101.dtd", 30, 6),
        (PUBMED / "pubmed-29768149.xml", "pubmed_190101.dtd", 1, 0),  # plain XML, efetch style
        (PUBMED / "test_current_medline.xml.gz", "pubmed_240101.dtd", 4, 0),
        (GENIA / "efetch" / "08875942.xml", "pubmed_180601.dtd", 1, 0),
    ],
)
def test_every_record_of_every_fixture_is_read(path, dtd, documents, deletions):
    raw = path.read_bytes()
    assert dtd.encode() in (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)[:400]
    records = parse(path)
    assert len(of_type(records, Document)) == documents
    assert len(of_type(records, Deletion)) == deletions
    assert of_type(records, RecordError) == []
    assert {r.origin for r in records} == {str(path)}


def test_genia_efetch_records_match_genias_own_text():
    """148 efetch files (2018 DTD); GENIA's gold text is an independent check of title and abstract text.

    The few differences are GENIA's edits (e.g. "Léger" -> "Leger", a dropped "are highlighted"), not ours.
    """
    titles = abstracts = 0
    gold_by_pmid = dict(zip((path.stem for path in genia_files()), genia_documents()))
    paths = sorted((GENIA / "efetch").glob("*.xml"))
    assert len(paths) == 148
    for path in paths:
        (doc,) = parse(path)
        assert doc.pmid == path.stem.lstrip("0") and doc.id == f"pubmed:{doc.pmid}"
        gold = gold_by_pmid[doc.pmid]
        titles += gold[0] == doc.title
        unlabelled = " ".join(s["text"] for s in doc.abstract)
        labelled = " ".join(f"{s['label']}: {s['text']}" if s["label"] else s["text"] for s in doc.abstract)
        abstracts += " ".join(gold[1:]) in (unlabelled, labelled)
    assert titles >= 134 and abstracts >= 138


# --- field values of known real records -----------------------------------------------------------------------

def test_structured_abstract_keeps_labels_as_data(baseline):
    doc = one(baseline, "31839988")
    assert [s["label"] for s in doc.abstract] == ["Objective", "Materials and methods", "Results", "Conclusions"]
    assert doc.abstract[0]["text"] == (
        "This in situ study compared the effectiveness of two toothpastes containing hydroxyapatite or 500 ppm "
        "fluoride in promoting remineralization and inhibiting caries development."
    )
    assert not any(s["text"].startswith(s["label"]) for s in doc.abstract)
    assert doc.title == (
        "Comparative efficacy of a hydroxyapatite and a fluoride toothpaste for prevention and remineralization "
        "of dental caries in children."
    )
    assert (doc.pmcid, doc.doi, doc.year, doc.language) == (
        "PMC6901576", "10.1038/s41405-019-0026-8", 2019, ["eng"])


def test_structured_abstract_2026_file():
    doc = one(parse(PUBMED / "baseline_pubmed26n1334_sample.xml.gz"), "41576520")
    assert [s["label"] for s in doc.abstract] == ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert doc.abstract[0]["text"].startswith("Pediatric chronic kidney disease (CKD) is known to affect")
    assert doc.doi == "10.1016/j.pediatrneurol.2025.12.024" and doc.pmcid is None  # doi from ArticleIdList


def test_copyright_information_is_not_abstract_text(baseline, baseline_xml):
    start = baseline_xml.index(b">31839728</PMID>")
    assert b"<CopyrightInformation>Croatian Society of Medical Biochemistry and Laboratory Medicine." in (
        baseline_xml[start : start + 6000])
    doc = one(baseline, "31839728")
    assert len(doc.abstract) > 0
    assert not any("Croatian Society" in s["text"] for s in doc.abstract)


def test_inline_markup_neither_glues_nor_splits_words(baseline):
    # "One-sided <i>t</i>-test" (pubmed_parser's known bug glued such text into "Student'st-test").
    assert "One-sided t-test of one group mean was used" in one(baseline, "31839988").abstract[1]["text"]
    assert "using inexpensive KOt-Bu to obtain" in one(baseline, "31839839").abstract[0]["text"]  # KO<i>t</i>-Bu
    bingocize = one(baseline, "31839849").abstract[0]["text"]
    assert "the health promotion program, Bingocize®, on QOL" in bingocize  # Bingocize<sup>®</sup>
    assert "(n = 36; mean age 73.63 ± 6.97)" in bingocize  # (<i>n</i> = 36; ...
    assert "p = 0.02, η p 2 = 0.15 , power" in bingocize  # MathML; the spaces are in the file
    # <b>Purpose</b>. To ... : a bold run-in heading stays a word of the text.
    assert one(baseline, "31839812").abstract[0]["text"].startswith("Purpose. To investigate the association")
    # Nested <b><i>...</i></b>: the text is kept (pubmed_parser reads one level and drops it).
    conclusions = one(baseline, "31839731").abstract[3]
    assert conclusions["label"] == "Conclusions"
    assert conclusions["text"].endswith("technical and surgical strategies. Level of evidence IV, Therapeutic Studies.")


def test_no_text_field_has_stray_whitespace(baseline, update):
    texts = [d.title for d in of_type(baseline + update, Document)]
    texts += [s["text"] for d in of_type(baseline + update, Document) for s in d.abstract + d.other_abstracts]
    assert all(t == " ".join(t.split()) for t in texts)


def test_non_english_records(baseline, update):
    chinese = one(baseline, "31840444")
    assert chinese.title == (  # "[Plastic ... addition]." in the file: NLM's brackets for a translated title
        "Plastic responses of fine root morphological traits of Castanopsis fabri and Castanopsis carlesii to "
        "short-term nitrogen addition."
    )
    assert chinese.language == ["chi"]
    assert chinese.publication_types == ["English Abstract", "Journal Article"]
    assert chinese.abstract[0]["text"].startswith("Nitrogen deposition will affect the morphology of fine roots")
    (other,) = chinese.other_abstracts
    assert (other["language"], other["type"]) == ("chi", "Publisher")
    assert other["text"].startswith("氮沉降会影响细根的形态功能性状,进而影响细根对养分的吸收")

    french = one(update, "31839376")
    assert french.title == (
        "Information around organized breast cancer screening. Do INCa and Cancer Rose meet criteria for decision aids?"
    )
    assert french.language == ["fre"]

    bilingual = one(update, "31839571")
    assert bilingual.language == ["eng", "spa"]

    portuguese_summary = one(baseline, "31839731").other_abstracts
    assert [(o["language"], o["type"]) for o in portuguese_summary] == [("por", "Publisher")]
    assert portuguese_summary[0]["text"].startswith("Relatar a técnica cirúrgica e os resultados")


def test_vernacular_title_when_there_is_no_english_title(update):
    german = one(parse(PUBMED / "baseline_pubmed26n1334_sample.xml.gz"), "41605226")
    assert german.title == (  # <ArticleTitle/> is empty in the file
        "Kommentar zu „ABDOMEN BECKEN – Das Avocado-Zeichen als Prädiktor des lokalen Lymphknotenstatus bei "
        "Rektumkarzinomen“."
    )
    assert german.language == ["ger"] and german.abstract == []
    japanese = one(update, "31839628")  # empty ArticleTitle and no VernacularTitle either
    assert (japanese.title, japanese.abstract, japanese.language) == ("", [], ["jpn"])


def test_not_available_title_gives_way_to_the_vernacular_title(baseline_xml):
    """Older records carry NLM's placeholder "[Not Available]." as ArticleTitle: real record 31840444 so edited."""
    data = edited_record(baseline_xml, "31840444", [(
        b"<ArticleTitle>[Plastic responses of fine root morphological traits of Castanopsis fabri and Castanopsis "
        b"carlesii to short-term nitrogen addition].</ArticleTitle>",
        b"<ArticleTitle>[Not Available].</ArticleTitle>")])
    (doc,) = parse(io.BytesIO(data))
    assert doc.title == "罗浮栲和米槠细根形态功能性状对短期氮添加的可塑性响应."


@pytest.mark.parametrize(
    "title, expected",
    [
        ("[Effect of X on Y].", "Effect of X on Y."),
        ("[Effect of X [a review] on Y]", "Effect of X [a review] on Y"),
        ("[A] and [B] compared.", "[A] and [B] compared."),
        ("[A] versus [B].", "[A] versus [B]."),
        ("Tracheal intubation - a new method [Retraction].", "Tracheal intubation - a new method [Retraction]."),
    ],
)
def test_translation_brackets_are_removed_only_when_they_enclose_the_title(title, expected):
    assert pubmed._strip_translation_brackets(title) == expected


def test_deleted_pmids(update):
    deletions = of_type(update, Deletion)
    assert len(deletions) == 218
    assert [d.pmid for d in deletions[:4]] == ["30834443", "31085722", "31085723", "31085724"]
    assert [d.pmid for d in deletions[-2:]] == ["31840733", "31840735"]
    assert {(d.version, d.origin) for d in deletions} == {(1, str(UPDATE))}
    update_2026 = parse(PUBMED / "update_pubmed26n1335_sample.xml.gz")
    assert [d.pmid for d in of_type(update_2026, Deletion)] == [
        "41456105", "41557076", "41616784", "41618748", "41618749", "41618779"]
    assert isinstance(update_2026[-1], Deletion)  # the DeleteCitation block follows the last article


def test_versioned_pmids(baseline):
    versions = [d for d in of_type(baseline, Document) if d.pmid == "31828225"]
    assert [(d.version, d.doi, d.pmcid) for d in versions] == [
        (2, "10.12688/wellcomeopenres.15005.2", "PMC6892426"),  # "PMC6892426.2" in the file
        (3, "10.12688/wellcomeopenres.15005.3", "PMC6892426"),
        (4, "10.12688/wellcomeopenres.15005.4", "PMC6892426"),
    ]
    assert versions[0].title.startswith("Low-density genetically diverse natural Wolbachia infections")
    assert versions[2].title.startswith("Detection of diverse Wolbachia 16S rRNA sequences at low titers")
    assert {d.id for d in versions} == {"pubmed:31828225"}
    records_2021 = parse(PUBMED / "update_pubmed21n1063_sample.xml.gz")
    assert [d.version for d in of_type(records_2021, Document) if d.pmid == "32685698"] == [1, 2, 3]


def test_ids_and_retraction_notices(update):
    notice_2026 = one(parse(PUBMED / "baseline_pubmed26n1334_sample.xml.gz"), "41578200")
    assert (notice_2026.pmcid, notice_2026.doi) == ("PMC12828940", "10.1186/s12885-026-15595-1")
    assert notice_2026.publication_types == ["Journal Article", "Retraction Notice"]  # NLM's newer name
    assert (notice_2026.article_type, notice_2026.retracted) == ("retraction", False)

    notice_2019 = one(update, "31839707")
    assert notice_2019.publication_types == ["Retraction of Publication"]
    assert (notice_2019.article_type, notice_2019.retracted) == ("retraction", False)
    assert notice_2019.title == "Tracheal intubation with the rigid tube for laryngoscopy - a new method [Retraction]."
    assert notice_2019.abstract == [{"label": None, "text": "[This retracts the article DOI: 10.2147/TCRM.S190186.]."}]

    erratum = one(update, "31839787")
    assert (erratum.publication_types, erratum.article_type) == (["Published Erratum"], "correction")
    assert (erratum.pmcid, erratum.doi) == ("PMC6906964", "10.5114/ada.2019.89580")

    efetch = parse(PUBMED / "test_current_medline.xml.gz")
    assert [(d.pmid, d.pmcid, d.year) for d in efetch] == [
        ("36400559", None, 2023), ("2930949", "PMC1306303", 1985), ("11446611", "PMC4951901", 2001),
        ("28786991", "PMC5546677", 2017)]


def test_year_from_medline_date(baseline):
    xml = gzip.decompress(BASELINE.read_bytes())
    start = xml.index(b">31839731</PMID>")
    assert b"<MedlineDate>2019 Sep-Oct</MedlineDate>" in xml[start : start + 3000]
    assert one(baseline, "31839731").year == 2019


def edited_record(xml: bytes, pmid: str, edits: list[tuple[bytes, bytes]]) -> bytes:
    """A file of one real record from `xml`, with `edits` applied to it (for cases no fixture has)."""
    start = xml.rindex(b"<PubmedArticle>", 0, xml.index(f">{pmid}</PMID>".encode()))
    record = xml[start : xml.index(b"</PubmedArticle>", start) + len(b"</PubmedArticle>")]
    for old, new in edits:
        assert old in record
        record = record.replace(old, new, 1)
    return b'<?xml version="1.0" encoding="utf-8"?>\n<PubmedArticleSet>\n' + record + b"\n</PubmedArticleSet>\n"


def test_retracted_article_flags(baseline_xml):
    """No fixture has a retracted article: real record 31839988 edited the way NLM marks one."""
    by_type = edited_record(baseline_xml, "31839988", [(
        b'<PublicationType UI="D016428">Journal Article</PublicationType>',
        b'<PublicationType UI="D016428">Journal Article</PublicationType>'
        b'<PublicationType UI="D016441">Retracted Publication</PublicationType>')])
    by_link = edited_record(baseline_xml, "31839988", [(
        b"</MedlineJournalInfo>",
        b'</MedlineJournalInfo><CommentsCorrectionsList><CommentsCorrections RefType="RetractionIn">'
        b'<RefSource>Journal. 2020;1:1.</RefSource><PMID Version="1">1</PMID></CommentsCorrections>'
        b"</CommentsCorrectionsList>")])
    for data in (by_type, by_link):
        (doc,) = parse(io.BytesIO(data))
        assert (doc.pmid, doc.retracted, doc.article_type) == ("31839988", True, None)


def test_doi_falls_back_to_elocation_id(baseline_xml):
    data = edited_record(baseline_xml, "31839988", [
        (b'<ArticleId IdType="doi">10.1038/s41405-019-0026-8</ArticleId>', b"")])
    (doc,) = parse(io.BytesIO(data))
    assert doc.doi == "10.1038/s41405-019-0026-8"  # <ELocationID EIdType="doi" ValidYN="Y">


def test_2016_medline_citation_set():
    """No fixture is an old MedlineCitationSet file: real MedlineCitation records (GENIA efetch) wrapped in one,
    with a DeleteCitation, and for the PMC article the `OtherID Source="NLM"` that such files carry instead of
    PubmedData (its PMCID taken from the efetch file's ArticleIdList)."""
    citations = []
    for name in ("08875942.xml", "08920867.xml"):
        text = (GENIA / "efetch" / name).read_bytes()
        citations.append(text[text.index(b"<MedlineCitation ") : text.index(b"</MedlineCitation>") + 18])
    citations[1] = citations[1].replace(
        b"</MedlineCitation>", b'<OtherID Source="NLM">PMC2192863</OtherID></MedlineCitation>')
    data = (
        b'<?xml version="1.0"?>\n<!DOCTYPE MedlineCitationSet PUBLIC "-//NLM//DTD Medline Citation, 1st January, '
        b'2016//EN" "http://www.nlm.nih.gov/databases/dtd/nlmmedlinecitationset_160101.dtd">\n<MedlineCitationSet>\n'
        + b"\n".join(citations)
        + b'\n<DeleteCitation>\n<PMID Version="1">8875000</PMID>\n</DeleteCitation>\n</MedlineCitationSet>\n'
    )
    records = parse(io.BytesIO(data), origin="medline16n0812.xml")
    first, second, deletion = records
    expected = parse(GENIA / "efetch" / "08875942.xml", origin="medline16n0812.xml")[0]
    assert first == expected  # same fields as the PubmedArticle form of the record
    assert first.title == "Signal transduction by DR3, a death domain-containing receptor related to TNFR-1 and CD95."
    assert (second.pmid, second.pmcid) == ("8920867", "PMC2192863")
    assert deletion == Deletion(pmid="8875000", origin="medline16n0812.xml", version=1)


BOOK = b"""<?xml version="1.0" encoding="utf-8"?>
<PubmedArticleSet>
<PubmedBookArticle>
  <BookDocument>
    <PMID Version="1">20301295</PMID>
    <ArticleIdList><ArticleId IdType="bookaccession">NBK1116</ArticleId></ArticleIdList>
    <Book>
      <Publisher><PublisherName>University of Washington, Seattle</PublisherName></Publisher>
      <BookTitle book="gene">GeneReviews<sup>\xc2\xae</sup></BookTitle>
      <PubDate><Year>1993</Year></PubDate>
      <Medium>Internet</Medium>
    </Book>
    <LocationLabel Type="chapter">Cystic Fibrosis</LocationLabel>
    <ArticleTitle book="gene" part="cf">Cystic <i>Fibrosis</i></ArticleTitle>
    <Language>eng</Language>
    <PublicationType UI="D016454">Review</PublicationType>
    <Abstract>
      <AbstractText Label="CLINICAL CHARACTERISTICS">Cystic fibrosis (CF) affects the <i>CFTR</i> gene.</AbstractText>
      <AbstractText Label="DIAGNOSIS/TESTING">Sweat chloride &#8805; 60 mmol/L.</AbstractText>
      <CopyrightInformation>Copyright \xc2\xa9 1993-2024, University of Washington, Seattle.</CopyrightInformation>
    </Abstract>
  </BookDocument>
  <PubmedBookData>
    <History><PubMedPubDate PubStatus="pubmed"><Year>2010</Year><Month>3</Month><Day>20</Day></PubMedPubDate></History>
    <PublicationStatus>ppublish</PublicationStatus>
    <ArticleIdList><ArticleId IdType="pubmed">20301295</ArticleId></ArticleIdList>
  </PubmedBookData>
</PubmedBookArticle>
<PubmedBookArticle>
  <BookDocument>
    <PMID Version="1">20821847</PMID>
    <ArticleIdList><ArticleId IdType="bookaccession">NBK22183</ArticleId></ArticleIdList>
    <Book>
      <Publisher><PublisherName>National Center for Biotechnology Information (US)</PublisherName></Publisher>
      <BookTitle book="helpeutils">Entrez Programming Utilities Help</BookTitle>
      <PubDate><Year>2010</Year></PubDate>
      <ELocationID EIdType="doi" ValidYN="Y">10.0000/example.book</ELocationID>
    </Book>
    <Language>eng</Language>
    <PublicationType UI="D016454">Review</PublicationType>
  </BookDocument>
</PubmedBookArticle>
</PubmedArticleSet>
"""


def test_pubmed_book_article():
    """No fixture has a book: two records written after the DTD's BookDocument / Book / PubmedBookData layout."""
    chapter, book = parse(io.BytesIO(BOOK), origin="books.xml")
    assert (chapter.id, chapter.version, chapter.year) == ("pubmed:20301295", 1, 1993)
    assert chapter.title == "Cystic Fibrosis"  # the chapter's ArticleTitle, markup removed
    assert chapter.abstract == [
        {"label": "CLINICAL CHARACTERISTICS", "text": "Cystic fibrosis (CF) affects the CFTR gene."},
        {"label": "DIAGNOSIS/TESTING", "text": "Sweat chloride ≥ 60 mmol/L."},
    ]
    assert (chapter.language, chapter.publication_types) == (["eng"], ["Review"])
    assert book.title == "Entrez Programming Utilities Help"  # no ArticleTitle: the BookTitle
    assert (book.doi, book.year, book.abstract) == ("10.0000/example.book", 2010, [])


# --- damaged records: reported, and the rest of the file still parsed ----------------------------------------

def record_starts(xml: bytes) -> list[int]:
    return [m.start() for m in re.finditer(rb"<PubmedArticle>", xml)]


def test_malformed_record_in_the_middle_fails_alone(tmp_path, baseline, baseline_xml):
    starts = record_starts(baseline_xml)
    victim = baseline_xml[starts[100] : starts[101]]
    broken = victim.replace(b"</ArticleTitle>", b"</ArticleTitel>", 1)  # a mismatched end tag
    path = tmp_path / "pubmed20n1015.xml.gz"
    path.write_bytes(gzip.compress(baseline_xml.replace(victim, broken), compresslevel=1))

    records = parse(path)
    (error,) = of_type(records, RecordError)
    assert (error.origin, error.index, error.offset) == (str(path), 100, starts[100])
    assert "malformed XML" in error.reason and "ArticleTitel" in error.reason
    assert error.snippet.startswith("<PubmedArticle> <MedlineCitation")
    expected = [(d.pmid, d.version) for d in of_type(baseline, Document)]
    del expected[100]
    assert [(d.pmid, d.version) for d in of_type(records, Document)] == expected


def test_record_that_lost_its_end_tag_fails_alone(baseline, baseline_xml):
    starts = record_starts(baseline_xml)
    damaged = baseline_xml[: starts[6]].rstrip()
    damaged = damaged[: damaged.rindex(b"</PubmedArticle>")] + baseline_xml[starts[6] :]
    records = parse(io.BytesIO(damaged), origin="cut.xml")
    (error,) = of_type(records, RecordError)
    assert (error.index, error.offset) == (5, starts[5])
    assert len(of_type(records, Document)) == 755


def test_well_formed_record_without_pmid_is_an_error(baseline_xml):
    data = edited_record(baseline_xml, "31839988", [(b'<PMID Version="1">31839988</PMID>', b"")])
    (error,) = parse(io.BytesIO(data), origin="x.xml")
    assert isinstance(error, RecordError) and "no valid PMID" in error.reason and error.index == 0


def test_junk_before_the_first_record_is_reported_not_parsed(baseline_xml):
    start = record_starts(baseline_xml)[0]
    data = baseline_xml[:start] + b"<Unknown>text</Unknown>" + baseline_xml[start:]
    records = parse(io.BytesIO(data), origin="x.xml")
    assert isinstance(records[0], RecordError) and records[0].reason == xmlrecords.NOT_A_RECORD
    assert records[0].offset == start and records[0].snippet == "<Unknown>text</Unknown>"
    assert len(of_type(records, Document)) == 756


def test_oversized_record_is_reported_and_skipped(monkeypatch, baseline, baseline_xml):
    starts = record_starts(baseline_xml)
    sizes = [b - a for a, b in zip(starts, starts[1:])]
    limit = sorted(sizes)[-3]  # the two largest records exceed it
    monkeypatch.setattr(pubmed, "MAX_RECORD_BYTES", limit)
    monkeypatch.setattr(xmlrecords, "CHUNK_BYTES", 4096)
    records = parse(BASELINE)
    errors = of_type(records, RecordError)
    assert len(errors) == 2 and all("larger than" in e.reason for e in errors)
    assert {e.offset for e in errors} == {starts[i] for i, size in enumerate(sizes) if size > limit}
    assert len(of_type(records, Document)) == 754


def test_cutting_unread_elements_changes_no_field(monkeypatch):
    """Authors, MeSH terms, history and references are cut before parsing; every fixture record gives the same
    Document as when the whole record is parsed."""
    paths = [BASELINE, UPDATE, *sorted(PUBMED.glob("*.xml*")), *sorted((GENIA / "efetch").glob("*.xml"))[:20]]
    cut = [parse(path) for path in paths]
    monkeypatch.setattr(pubmed, "_UNREAD_ELEMENTS", [])
    assert [parse(path) for path in paths] == cut


@pytest.mark.parametrize(
    "record, expected",
    [
        (b"<R><AuthorList CompleteYN='Y'><Author/></AuthorList><T>x</T></R>", b"<R><T>x</T></R>"),
        (b"<R><ReferenceList><Reference/><ReferenceList><Reference/></ReferenceList></ReferenceList><T/></R>",
         b"<R><T/></R>"),  # nested: cut to the outer end tag
        (b"<R><AuthorList/><T>x</T><AuthorList><A/></AuthorList></R>", b"<R><AuthorList/><T>x</T></R>"),
        (b"<R><ReferenceList><R/><ReferenceList/></ReferenceList><T/></R>",  # an empty one inside: end not clear
         b"<R><ReferenceList><R/><ReferenceList/></ReferenceList><T/></R>"),
        (b"<R><AuthorList><A/><T>x</T></R>", b"<R><AuthorList><A/><T>x</T></R>"),  # no end tag: left to the parser
        (b"<R><AuthorList><A/></AuthorList><History/><T/><History><D/></History></R>", b"<R><History/><T/></R>"),
    ],
)
def test_unread_elements_are_cut_only_where_their_end_is_clear(record, expected):
    assert pubmed._without_unread_elements(record) == expected


@pytest.mark.parametrize("chunk", [997, 4099])
def test_records_cut_across_read_chunks(monkeypatch, chunk, update):
    monkeypatch.setattr(xmlrecords, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(xmlrecords, "MAX_PROLOG_BYTES", chunk)
    assert parse(UPDATE) == update
    compact = PUBMED / "update_pubmed26n1335_sample.xml.gz"  # 15 kB records, no newlines between them
    monkeypatch.undo()
    expected = parse(compact)
    monkeypatch.setattr(xmlrecords, "CHUNK_BYTES", chunk)
    assert parse(compact) == expected


# --- file-level failures -------------------------------------------------------------------------------------

def test_truncated_gzip_names_the_file_after_the_records_before_the_cut(tmp_path, baseline):
    path = tmp_path / "pubmed20n1015.xml.gz"
    path.write_bytes(BASELINE.read_bytes()[: BASELINE.stat().st_size // 2])
    records, error = parse_until_error(path)
    assert error.origin == str(path) and str(path) in str(error) and "truncated gzip" in error.reason
    read = [(d.pmid, d.version) for d in of_type(records, Document)]
    assert 300 < len(read) < 450
    assert read == [(d.pmid, d.version) for d in of_type(baseline, Document)][: len(read)]
    assert of_type(records, RecordError) == []  # the cut record is part of the file error, not a record error


def test_gzip_without_its_trailer_fails_after_all_records(tmp_path):
    path = tmp_path / "pubmed20n1016.xml.gz"
    path.write_bytes(UPDATE.read_bytes()[:-8])  # CRC and size missing
    records, error = parse_until_error(path)
    assert len(of_type(records, Document)) == 735 and len(of_type(records, Deletion)) == 218
    assert "truncated gzip" in error.reason


def test_truncated_plain_xml(baseline_xml):
    starts = record_starts(baseline_xml)
    records, error = parse_until_error(io.BytesIO(baseline_xml[: starts[10] + 500]), origin="cut.xml")
    assert len(of_type(records, Document)) == 10
    (partial,) = of_type(records, RecordError)
    assert (partial.index, partial.offset) == (10, starts[10])
    assert error.origin == "cut.xml" and "ends before </PubmedArticleSet>" in error.reason


# --- damage costs nothing before it, whatever the file's size ------------------------------------------------

SMALL_GZ = [PUBMED / "test_current_medline.xml.gz", PUBMED / "baseline_pubmed26n1334_sample.xml.gz",
            PUBMED / "update_pubmed21n1063_sample.xml.gz"]  # 12-73 kB: the whole file fits one read
RECORD_END = re.compile(rb"</(?:PubmedArticle|PubmedBookArticle|DeleteCitation)>")


def decompressible(data: bytes) -> int:
    """How many bytes of XML zlib itself gets out of a (damaged) gzip prefix: every record within them must be kept."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    return len(decompressor.decompress(data))


def complete_records(xml: bytes, available: int) -> int:
    return sum(1 for end in RECORD_END.finditer(xml) if end.end() <= available)


@pytest.mark.parametrize("path", SMALL_GZ + [BASELINE], ids=lambda p: p.name)
def test_a_gzip_cut_anywhere_keeps_every_complete_record_before_the_cut(path):
    """A small file cut in its trailer used to yield none of its records (the decompression error came during
    the first read, before any record was handed on); now every record before the cut is kept, for any size."""
    data = path.read_bytes()
    xml = gzip.decompress(data)
    full = parse(io.BytesIO(data), origin="cut.xml.gz")
    assert of_type(full, RecordError) == [] and len(full) == len(RECORD_END.findall(xml))
    cuts = [*range(1, 9), 9, 20, 100] + [len(data) * k // 6 for k in range(1, 6)]  # bytes cut off the end
    for cut in cuts:
        damaged = data[:-cut]
        records, error = parse_until_error(io.BytesIO(damaged), origin="cut.xml.gz")
        kept = complete_records(xml, decompressible(damaged))
        assert records == full[:kept], f"cut {cut}"
        assert kept == len(full) or cut > 8  # a cut in the 8-byte trailer loses no record
        assert error.origin == "cut.xml.gz" and error.reason.startswith("truncated gzip stream")
        assert f"at byte {len(damaged)} of the file" in error.reason
        assert f"; {kept} records read before it" in error.reason and error.records == kept


@pytest.mark.parametrize("tail, cut_record", [
    (b"\n</PubmedArticleSet", False),  # the root's end tag cut
    (b"\n<PubmedArt", False),  # the next record's start tag cut
    (b"", False),
    (None, True),  # the last record itself cut
])
def test_the_last_complete_record_before_damage_is_kept_and_a_cut_one_reported(tail, cut_record):
    path = PUBMED / "test_current_medline.xml.gz"
    xml = gzip.decompress(path.read_bytes())
    full = parse(path, origin="x.xml.gz")
    last_end = list(RECORD_END.finditer(xml))[-1].end()
    prefix = xml[: last_end - 10] if cut_record else xml[:last_end] + tail
    damaged = gzip.compress(prefix)[:-8]  # the stream ends exactly after `prefix`, without its trailer
    records, error = parse_until_error(io.BytesIO(damaged), origin="x.xml.gz")
    if cut_record:
        last_start = xml.rindex(b"<PubmedArticle>")
        assert records == full[:-1] and error.records == len(full) - 1
        assert error.reason.endswith(f"the record at decompressed byte {last_start} is cut there")
    else:
        assert records == full and error.records == len(full)
    assert of_type(records, RecordError) == []


def test_concatenated_gzip_members_are_read_as_one_stream(baseline_xml, baseline):
    """`cat a.gz b.gz`, pigz and bgzip write several members; the XML may be split anywhere between them."""
    split = [0, 1000, len(baseline_xml) // 3, 2 * len(baseline_xml) // 3 + 7, len(baseline_xml)]
    data = b"".join(gzip.compress(baseline_xml[a:b]) for a, b in zip(split, split[1:]))
    notes = {}
    assert parse(io.BytesIO(data), origin=str(BASELINE), notes=notes) == baseline
    assert notes == {"gzip_members": 4}


@pytest.mark.parametrize("path", [SMALL_GZ[0], BASELINE], ids=lambda p: p.name)
def test_zero_padding_after_the_gzip_stream_is_skipped_and_noted(path):
    data = path.read_bytes()
    full = parse(path, origin="padded.xml.gz")
    for padding in (1, -len(data) % 4096 or 4096, 10240):  # a byte, up to the next block, a tape record
        notes = {}
        assert parse(io.BytesIO(data + bytes(padding)), origin="padded.xml.gz", notes=notes) == full
        assert notes == {"gzip_members": 1, "trailing_zero_bytes": padding}
    notes = {}  # zero padding between members (a padded file concatenated with another) is skipped too
    xml = gzip.decompress(data)
    two = gzip.compress(xml[:5000]) + bytes(512) + gzip.compress(xml[5000:])
    assert parse(io.BytesIO(two), origin="padded.xml.gz", notes=notes) == full
    assert notes == {"gzip_members": 2, "trailing_zero_bytes": 512}


@pytest.mark.parametrize("path", [SMALL_GZ[0], BASELINE], ids=lambda p: p.name)
@pytest.mark.parametrize("tail, reason", [
    (b"<html>garbage after the end</html>", "unexpected data after the end of the gzip stream"),
    (bytes(100) + b"junk", "unexpected data after the end of the gzip stream"),  # zeros, then not zeros
    (b"\x1f", "unexpected data after the end of the gzip stream"),
    (b"\x1f\x8b\x08\x00 half a member", "corrupt gzip stream"),
])
def test_data_after_the_gzip_stream_is_reported_after_every_record(path, tail, reason):
    data = path.read_bytes()
    full = parse(path, origin="x.xml.gz")
    records, error = parse_until_error(io.BytesIO(data + tail), origin="x.xml.gz")
    assert records == full
    assert error.reason.startswith(reason) and error.records == len(RECORD_END.findall(gzip.decompress(data)))
    garbage_at = len(data) + len(tail) - len(tail.lstrip(b"\0"))
    if reason.startswith("unexpected"):
        assert f"at byte {garbage_at} of the file" in error.reason


def test_a_bad_crc_is_reported_after_every_record():
    path = SMALL_GZ[0]
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF  # the CRC32 of the member
    full = parse(path, origin="x.xml.gz")
    records, error = parse_until_error(io.BytesIO(bytes(data)), origin="x.xml.gz")
    assert records == full and "incorrect data check" in error.reason


def test_corrupt_deflate_data_keeps_every_record_decompressed_before_it(baseline):
    """zlib raises in the middle of a read: what that read had decompressed before the bad byte is not lost."""
    data = BASELINE.read_bytes()
    xml = gzip.decompress(data)
    full = parse(io.BytesIO(data), origin="x.xml.gz")
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    available = len(decompressor.decompress(data[: len(data) // 2]))
    for position in range(len(data) // 2, len(data)):  # the first byte whose damage zlib rejects at once
        trial = decompressor.copy()
        try:
            trial.decompress(bytes([data[position] ^ 0x55]) + data[position + 1 : position + 64])
        except zlib.error:
            break
        available += len(decompressor.decompress(data[position : position + 1]))
    damaged = data[:position] + bytes([data[position] ^ 0x55]) + data[position + 1 :]
    records, error = parse_until_error(io.BytesIO(damaged), origin="x.xml.gz")
    kept = complete_records(xml, available)
    assert kept > 300 and records[:kept] == full[:kept]
    assert error.reason.startswith("corrupt gzip stream")
    assert position <= int(re.search(r"at byte (\d+) of the file", error.reason).group(1)) < position + 64
    # The read that failed covered up to 1 MiB of XML (~140 records): without the byte-wise salvage they were lost.
    assert error.records >= kept > complete_records(xml, available // xmlrecords.CHUNK_BYTES * xmlrecords.CHUNK_BYTES)


class FailingFile(io.RawIOBase):
    """A file object whose reads fail after `limit` bytes, as a network file system's may."""

    def __init__(self, data: bytes, limit: int):
        self._data, self._limit, self._position = data, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._position >= self._limit:
            raise OSError(errno.EIO, "Input/output error")
        size = min(len(buffer), self._limit - self._position)
        buffer[:size] = self._data[self._position : self._position + size]
        self._position += size
        return size


@pytest.mark.parametrize("gzipped", [True, False])
def test_a_read_error_keeps_the_records_before_it(gzipped, baseline_xml):
    path = SMALL_GZ[1]
    data = path.read_bytes() if gzipped else gzip.decompress(path.read_bytes())
    full = parse(io.BytesIO(data), origin="x.xml")
    records, error = parse_until_error(FailingFile(data, len(data) - 100), origin="x.xml")
    assert records and records == full[: len(records)] and len(records) >= len(full) - 1
    assert error.reason.startswith("read failed (") and "Input/output error" in error.reason


HTML_ERROR_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n"
    b"<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>\n"
)


@pytest.mark.parametrize(
    "data, reason",
    [
        (HTML_ERROR_PAGE, "unknown root element <html>"),
        (gzip.compress(HTML_ERROR_PAGE), "unknown root element <html>"),
        (b"", "empty file"),
        (b"PK\x03\x04 a zip archive", "not XML"),
        (b"\x1f\x8b\x08\x00 not really gzip data", "corrupt gzip"),
        ((DATA / "pmc" / "elife_jats").glob("*.xml").__next__().read_bytes(), "unknown root element <article>"),
        (b'<?xml version="1.0" encoding="ISO-8859-1"?><PubmedArticleSet></PubmedArticleSet>', "unsupported encoding"),
        (b"<PubmedArticleSet></PubmedArticleSet><PubmedArticleSet>", "unexpected content after the root element"),
    ],
)
def test_not_a_pubmed_file(data, reason):
    records, error = parse_until_error(io.BytesIO(data), origin="download/pubmed20n0001.xml.gz")
    assert records == []
    assert reason in error.reason and str(error).startswith("download/pubmed20n0001.xml.gz: ")


def test_empty_sets_are_valid():
    for data in (b"<PubmedArticleSet/>", b"<?xml version='1.0'?>\n<PubmedArticleSet>\n</PubmedArticleSet>\n<!--x-->"):
        assert parse(io.BytesIO(data)) == []


def test_missing_file():
    with pytest.raises(PubmedFileError, match="cannot open"):
        parse("/nonexistent/pubmed20n0001.xml.gz")


def test_gzip_is_detected_by_content_not_name(tmp_path, update):
    misnamed = tmp_path / "pubmed20n1016.xml"
    misnamed.write_bytes(UPDATE.read_bytes())
    plain = tmp_path / "pubmed20n1016.xml.gz"
    plain.write_bytes(gzip.decompress(UPDATE.read_bytes()))
    for path in (misnamed, plain):
        assert parse(path, origin=str(UPDATE)) == update


def test_beam_file_object(update):
    """The documents job hands over what Beam's FileSystems.open returns, undecompressed."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(str(UPDATE), compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        assert parse(handle, origin=str(UPDATE)) == update
    with open(UPDATE, "rb") as handle:
        assert parse(handle) == update  # origin defaults to the file object's name
        assert not handle.closed  # the caller's file stays open


# --- safety: no DTD, no external entity, no network ----------------------------------------------------------

@pytest.fixture
def fifo_watch(tmp_path):
    """A named pipe and a flag that turns true if anything opens it for reading (which a DTD load would do)."""
    fifo = tmp_path / "secret.dtd"
    os.mkfifo(fifo)
    opened = threading.Event()
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            try:
                descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # succeeds only while a reader has it open
            except OSError as error:
                assert error.errno == errno.ENXIO
                stop.wait(0.005)
                continue
            opened.set()
            os.write(descriptor, b'<!ENTITY secret "SECRET-FROM-FIFO">')
            os.close(descriptor)
            return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    yield fifo, opened
    stop.set()
    thread.join(5)


def test_fifo_watch_detects_a_reader(fifo_watch):
    fifo, opened = fifo_watch
    descriptor = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert opened.wait(5)
    finally:
        os.close(descriptor)


@pytest.fixture
def http_requests():
    """A server on 127.0.0.1 that would serve a DTD defining the secret entity; yields (base URL, requests)."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY secret "SECRET-FROM-HTTP">')

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()


def test_external_dtds_and_entities_are_never_loaded(tmp_path, fifo_watch, http_requests, baseline_xml):
    fifo, opened = fifo_watch
    base_url, requests = http_requests
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("SECRET-FROM-FILE")
    starts = record_starts(baseline_xml)
    records = baseline_xml[starts[0] : starts[3]]
    with_entity = records.replace(b"<ArticleTitle>", b"<ArticleTitle>&secret;&file;", 1)
    prologs = [
        f'<!DOCTYPE PubmedArticleSet SYSTEM "{base_url}/pubmed.dtd">',
        f'<!DOCTYPE PubmedArticleSet SYSTEM "{fifo}">',
        f'<!DOCTYPE PubmedArticleSet SYSTEM "file://{fifo}">',
        f'<!DOCTYPE PubmedArticleSet [<!ENTITY file SYSTEM "file://{secret_file}">'
        f'<!ENTITY % remote SYSTEM "{base_url}/param.dtd"> %remote;]>',
    ]
    for prolog in prologs:
        data = b'<?xml version="1.0"?>\n' + prolog.encode() + b"\n<PubmedArticleSet>\n"
        for body in (records, with_entity):
            parsed = parse(io.BytesIO(data + body + b"</PubmedArticleSet>\n"), origin="evil.xml")
            assert "SECRET" not in repr(parsed)
            if body is records:
                assert len(of_type(parsed, Document)) == 3
            else:  # the record that uses the undeclared entity fails alone
                (error, _, _) = parsed
                assert isinstance(error, RecordError) and "Entity 'secret' not defined" in error.reason
    # A DOCTYPE smuggled in front of the first record is reported, never handed to the parser.
    smuggled = b"<PubmedArticleSet>" + f'<!DOCTYPE x SYSTEM "{fifo}">'.encode() + records + b"</PubmedArticleSet>"
    parsed = parse(io.BytesIO(smuggled), origin="evil.xml")
    assert isinstance(parsed[0], RecordError) and len(of_type(parsed, Document)) == 3
    assert requests == [] and not opened.is_set()


# --- memory ---------------------------------------------------------------------------------------------------

class RepeatedRecords(io.RawIOBase):
    """A PubMed file of the real records of `xml` repeated `times`, produced on the fly (never held whole)."""

    def __init__(self, xml: bytes, times: int):
        first, last = xml.index(b"<PubmedArticle>"), xml.rindex(b"</PubmedArticleSet>")
        body = memoryview(xml)[first:last]
        self._parts = iter([memoryview(xml)[:first], *[body] * times, memoryview(xml)[last:]])
        self._current = memoryview(b"")
        self.size = first + (last - first) * times + len(xml) - last

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._current:
            self._current = next(self._parts, None)
            if self._current is None:
                return 0
        size = min(len(buffer), len(self._current))
        buffer[:size] = self._current[:size]
        self._current = self._current[size:]
        return size


@pytest.mark.slow
def test_memory_is_flat_in_file_size(baseline_xml):
    peaks = {}
    for times in (1, 5):
        stream = RepeatedRecords(baseline_xml, times)
        tracemalloc.start()
        try:
            count = sum(1 for _ in iter_pubmed(io.BufferedReader(stream), origin="repeated.xml"))
            peaks[times] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert count == 756 * times
    big = RepeatedRecords(baseline_xml, 5).size
    assert big > 28_000_000
    assert peaks[5] < peaks[1] + (1 << 20)  # 5x the input, same memory (one read chunk of slack)
    assert peaks[5] < big / 8
