"""corpus.pmc, corpus.licences and corpus.pmc_bulk on the real PMC nxml and eLife JATS fixtures: fields, text
rules, licences, archives, safety."""
from __future__ import annotations

import csv
import gzip
import io
import json
import re
import tarfile
import zlib
from pathlib import Path

import pytest

from corpus.licences import licence_from_metadata
from corpus.pmc import JatsError, JatsOptions, SkippedMember, parse_jats
from corpus.pmc_bulk import iter_bulk_archive, read_filelist
from tests.fixtures import DATA, SAMPLES

MIRROR = SAMPLES / "pmc-oa-opendata"
ELIFE = DATA / "pmc" / "elife_jats"
PMC_FILES = sorted(MIRROR.glob("PMC*/PMC*.xml"))
ELIFE_FILES = sorted(ELIFE.glob("*.xml"))
ALL_FILES = PMC_FILES + ELIFE_FILES

WITH_EVERYTHING = JatsOptions(include_captions=True, include_subarticles=True)


def pmc_path(pmcid: str) -> Path:
    return MIRROR / f"{pmcid}.1" / f"{pmcid}.1.xml"


def parse(path: Path, options: JatsOptions = JatsOptions(), metadata: dict | None = None):
    return parse_jats(path.read_bytes(), str(path), options, metadata)


def body_text(document) -> str:
    return "\n".join(paragraph["text"] for paragraph in document.body)


def sections(document) -> list[str]:
    return list(dict.fromkeys(paragraph["section"] for paragraph in document.body))


def all_texts(document) -> list[str]:
    texts = [document.title] + [entry["text"] for entry in document.abstract + document.other_abstracts]
    return texts + [paragraph["text"] for paragraph in document.body]


@pytest.mark.parametrize("path", PMC_FILES, ids=lambda path: path.name)
def test_identifiers_from_the_xml_agree_with_the_mirror_metadata(path):
    """PMCID and PMID are read from the article's XML; the mirror's JSON record (NCBI's inventory) names them
    independently, the PMID as null where PMC has none."""
    metadata = json.loads(path.with_suffix(".json").read_text())
    doc = parse(path)
    assert (doc.id, doc.pmcid) == (f"pmc:{metadata['pmcid']}", metadata["pmcid"])
    assert doc.pmid == (str(metadata["pmid"]) if metadata["pmid"] else None)
    assert doc.title and doc.body


@pytest.mark.parametrize("path", ELIFE_FILES, ids=lambda path: path.name)
def test_articles_without_pmcid_are_named_by_their_doi(path):
    doc = parse(path)
    assert doc.pmcid is None and doc.doi.startswith("10.7554/eLife.") and doc.id == f"pmc:doi:{doc.doi}"


# --- identifiers, title, abstracts --------------------------------------------------------------------------------

def test_nlm23_plos_article_ids_title_and_structured_abstract():
    doc = parse(pmc_path("PMC1790863"))
    assert (doc.id, doc.source, doc.pmcid, doc.pmid) == ("pmc:PMC1790863", "pmc", "PMC1790863", "17299597")
    assert doc.doi == "10.1371/journal.pone.0000217"
    assert doc.version == 1 and doc.year == 2007 and doc.article_type == "research-article"
    assert doc.title == "Quantifying Organismal Complexity using a Population Genetic Approach"
    assert [entry["label"] for entry in doc.abstract] == ["Background", "Methodology", "Conclusions/Significance"]
    assert doc.abstract[0]["text"].startswith("Various definitions of biological complexity have been proposed:")
    assert doc.origin == str(pmc_path("PMC1790863"))
    assert doc.language == [] and doc.other_abstracts == []


def test_bmc_structured_abstract_and_sections():
    doc = parse(pmc_path("PMC2329613"))
    assert doc.title == ("The Dutch version of the Oral Health Impact Profile (OHIP-NL): Translation, reliability "
                         "and construct validity")
    assert [entry["label"] for entry in doc.abstract] == ["Background", "Methods", "Results", "Conclusion"]
    assert doc.abstract[3]["text"] == ("In conclusion: the OHIP-NL can be considered a reliable and valid instrument "
                                       "to measure oral health-related quality of life.")
    assert sections(doc)[:3] == ["Background", "Methods / Oral Health Impact Profile",
                                 "Methods / Translation into Dutch"]


def test_unstructured_abstract_has_no_label_and_typed_abstracts_go_to_other_abstracts():
    plos = parse(pmc_path("PMC3585041"))
    assert len(plos.abstract) == 1 and plos.abstract[0]["label"] is None
    assert plos.abstract[0]["text"].startswith("Rift Valley fever (RVF) is endemic in most parts of Africa")
    assert [(other["type"], other["language"]) for other in plos.other_abstracts] == [("summary", None)]
    assert plos.other_abstracts[0]["text"].startswith("Rift Valley fever (RVF) is a mosquito-borne disease")

    oup = parse(pmc_path("PMC6398430"))
    assert [other["type"] for other in oup.other_abstracts] == ["teaser"]
    assert oup.other_abstracts[0]["text"].startswith("With data collected over a 1-year period, we detail")
    assert oup.abstract[0]["text"].startswith("Social complexity arises from the formation of social relationships")

    elife = parse(ELIFE / "elife-kitchen-sink.xml")
    assert [other["type"] for other in elife.other_abstracts] == ["executive-summary"]
    assert "eLife digest" not in elife.other_abstracts[0]["text"]  # the digest's title is not its text
    # eLife's "DOI: http://dx.doi.org/..." link paragraphs are not text
    assert [entry["text"] for entry in elife.abstract][1:] == [
        "Clinical trial registration: ISRCTN76742797 and EudraCT2004-000446-20."]
    assert not any("dx.doi.org" in text for text in all_texts(elife))


def test_inline_markup_neither_glues_nor_splits_words():
    assert parse(pmc_path("PMC3166277")).title == "Factors influencing lysis time stochasticity in bacteriophage λ"
    meeting = body_text(parse(pmc_path("PMC3363814")))
    assert "nonsurvivors (NS) (P = 0.002)." in meeting  # "(<italic>P </italic>= 0.002)"
    assert "APACHE II score on admission was 23 ± 7," in meeting
    ehp = parse(pmc_path("PMC2599765"))
    assert ehp.title.startswith("Dietary Exposure to 2,2′,4,4′-Tetrabromodiphenyl Ether (PBDE-47) Alters")
    assert "depressed plasma thyroxine (T4), but not 3,5,3′-triiodothyronine (T3)." in ehp.abstract[3]["text"]


def test_meeting_abstract_keeps_its_sections_as_body():
    doc = parse(pmc_path("PMC3363814"))
    assert doc.article_type == "abstract" and doc.pmid is None and doc.abstract == []
    assert doc.title == ("Acute respiratory distress syndrome: analysis of incidence and mortality in a university "
                         "hospital critical care unit")
    assert [p["section"] for p in doc.body] == ["Introduction", "Methods", "Results", "Conclusion"]
    assert doc.body[0]["text"].startswith("The aim was to determine the incidence of acute respiratory distress")
    # its three references are not text
    assert "Mortality for patients with ALI/ARDS have decreased over time" not in body_text(doc)


def test_elife_ids_fall_back_to_the_doi_and_editorial_and_correction_types():
    editorial = parse(ELIFE / "elife00270.xml")
    assert (editorial.id, editorial.pmcid) == ("pmc:doi:10.7554/eLife.00270", None)
    assert editorial.doi == "10.7554/eLife.00270"
    assert editorial.article_type == "editorial" and editorial.title == "Launching eLife, Part 1"
    correction = parse(ELIFE / "elife07586.xml")
    assert correction.article_type == "correction" and correction.retracted is False
    assert correction.title == "Correction: Mucosal effects for tenofovir 1% gel"
    poa = parse(ELIFE / "elife_poa_e06828.xml")  # publish-on-accept: abstract only, no body
    assert poa.body == [] and poa.abstract[0]["text"].startswith("RET can be activated in cis or trans")


# --- body text rules ----------------------------------------------------------------------------------------------

def test_numeric_citations_and_their_brackets_are_removed():
    bmc = body_text(parse(pmc_path("PMC2329613")))
    # "...disease [<xref>1</xref>]." / "... groups [<xref>7</xref>-<xref>12</xref>]."
    assert "the role of psychosocial factors in health and disease. In order to study" in bmc
    assert "oral disease-related disability in different patient groups." in bmc
    assert "Likewise, Slade & Spencer published a study" in bmc
    plos = body_text(parse(pmc_path("PMC1790863")))
    # "conclusions <xref>[2]</xref>, <xref>[3]</xref>. " and "evolution <xref>[1]</xref>–<xref>[5]</xref>."
    assert "these simple measures quickly lead to conflicting conclusions. Here we propose" in plos
    assert "how organismal complexity changes through the course of evolution. Although" in plos
    oup = body_text(parse(pmc_path("PMC7417471")))
    assert "Ruan et al. reported an increase in the thermal conductivity of polystyrene (PS)" in oup  # "et al. [158]"


def test_author_year_citations_are_removed_but_figure_references_kept():
    ehp = body_text(parse(pmc_path("PMC2599765")))
    # "(<xref>Hites 2004</xref>; <xref>Law et al. 2003</xref>)"
    assert "studies have revealed rising PBDE levels in the tissues of humans and wildlife. The chemical" in ehp
    assert "Hites 2004" not in ehp and "Law et al. 2003" not in ehp
    assert "(p = 0.002; Figure 1)" in ehp  # xref to a figure is part of the sentence
    kitchen = body_text(parse(ELIFE / "elife-kitchen-sink.xml"))
    assert "Bacteroidetes phylum (Table 1)." in kitchen
    assert "Takeuchi et al., 1999" not in kitchen


def test_citation_leftovers_are_mended():
    """The brief's cases on a minimal article: brackets, separators and fillers go with the citations."""
    article = (
        '<article><front><article-meta><article-id pub-id-type="pmc">12345</article-id></article-meta></front>'
        "<body><sec><title>Cases</title>"
        '<p>as shown [<xref ref-type="bibr" rid="b1">1</xref>, <xref ref-type="bibr" rid="b2">2</xref>-'
        '<xref ref-type="bibr" rid="b4">4</xref>].</p>'
        '<p>cells (<xref ref-type="bibr" rid="b5">Smith et al., 2001</xref>; [<xref ref-type="bibr" rid="b3">3</xref>])'
        " divide.</p>"
        '<p>mice (n = 5; <xref ref-type="bibr" rid="b3">3</xref>) and rats (reviewed in '
        '<xref ref-type="bibr" rid="b6">Jones, 2003</xref>).</p>'
        '<p><xref ref-type="bibr" rid="b6">Jones et al. (2003)</xref> showed it<sup><xref ref-type="bibr" rid="b1">1'
        '</xref>,<xref ref-type="bibr" rid="b2">2</xref></sup>, see <xref ref-type="fig" rid="f1">Figure 1</xref>.</p>'
        '<p>Amir et al. [<xref ref-type="bibr" rid="b7">7</xref>].</p>'
        '<p>[<xref ref-type="bibr" rid="b8">8</xref>]</p>'
        "</sec></body></article>"
    ).encode()
    doc = parse_jats(article, "cases.xml")
    assert doc.id == "pmc:PMC12345"
    assert [p["text"] for p in doc.body] == [
        "as shown.",
        "cells divide.",
        "mice (n = 5) and rats.",
        "Jones et al. (2003) showed it, see Figure 1.",
        "Amir et al.",
    ]
    assert {p["section"] for p in doc.body} == {"Cases"}


BRACKET_CITATION = re.compile(r"(?<![\w\]])\[\d+(?:\s*[,\u2013-]\s*\d+)*\]")


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda path: path.name)
def test_no_citation_debris_anywhere(path):
    """Property over every fixture: no markers, no empty brackets, no double spaces, no space before punctuation."""
    for document in (parse(path), parse(path, WITH_EVERYTHING)):
        for text in all_texts(document):
            assert text == text.strip() and "  " not in text and "\n" not in text
            assert not re.search("[\ue000-\uf8ff]", text), text  # no private-use citation markers left
            assert not re.search(r"[(\[][\s,;\u2013-]*[)\]]", text), text  # "()", "[]", "[, ]"
            assert not re.search(r"\s[,.;:!?](?:\s|$)", text), text
            assert not re.search(r"[(\[]\s|\s[)\]]", text), text
        for paragraph in parse(path).body:  # captions quote "F[1,12]"-like statistics; body text has no "[12]"
            assert not BRACKET_CITATION.search(paragraph["text"]), paragraph["text"]


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda path: path.name)
def test_section_titles_are_structure_not_paragraphs(path):
    document = parse(path, JatsOptions(include_subarticles=True))  # a caption may repeat a heading: not tested
    titles = {part for paragraph in document.body for part in paragraph["section"].split(" / ")}
    assert all(paragraph["text"] for paragraph in document.body)
    assert not titles & {paragraph["text"] for paragraph in document.body} - {""}


def test_inline_formulas_keep_mathml_text_once_never_tex():
    springer = parse(pmc_path("PMC7417471"))  # tex-math + mml:math + graphic alternatives
    text = body_text(springer)
    assert ("glass transition coefficient (a) value from 0.2157 to 0.6545 mm2/s, glass transition temperature "
            "(Tg) value from 90.3 to 95.0 °C and heat-resistance index (THRI) value from 184.2 to 194.3 °C.") in text
    assert "documentclass" not in text and "\\" not in text and "$" not in text
    elife = body_text(parse(ELIFE / "elife-14093-v1.xml"))  # 730 inline formulas, 44 display formulas
    assert "with divergence angle 137.5° (golden angle ϕ) as a reference." in elife
    assert "Property 1: let i and j, i<j, denote the numbers of contact spirals" in elife
    assert "\u2062" not in elife  # MathML invisible times


def test_display_formulas_are_dropped_without_gluing_words():
    plos = body_text(parse(pmc_path("PMC1790863")))  # 24 disp-formula
    assert "the average fitness is given by (Methods, Appendix A): in the diploid case" in plos
    assert "mean equilibrium fitness could be written in which" in plos


def test_tables_figures_references_and_back_matter_are_not_text():
    bmc = parse(pmc_path("PMC3166277"))
    text = body_text(bmc)
    assert "unpublished strain" not in text  # a cell of Table 3
    assert "unpublished strain" not in body_text(parse(pmc_path("PMC3166277"), WITH_EVERYTHING))
    assert "Schematic presentation of two models of holin hole formation" not in text  # Figure 1's caption
    assert "Competing interests" not in sections(bmc) and "Authors' contributions" not in sections(bmc)
    assert "The authors declare that they have no competing interests." not in text
    oup = parse(pmc_path("PMC6398430"))
    assert "FUNDING" not in sections(oup)
    assert "Vienna Science and Technology Fund" not in body_text(oup)
    plos = body_text(parse(pmc_path("PMC1790863"), WITH_EVERYTHING))
    assert "Metazoan complexity and evolution" not in plos  # the title of reference 1
    assert "We would like to thank Art Poon" not in plos  # the acknowledgements


def test_lists_boxes_and_appendices():
    elife = parse(ELIFE / "elife-14093-v1.xml")
    items = [p["text"] for p in elife.body if p["text"].startswith("the plastochron")]
    assert items == ["the plastochron, defined as the time between two successive waves of organ formations, or",
                     "the plastochron ratio, defined as the ratio between the radii of two successive co-initiation "
                     "circles."]
    kitchen = parse(ELIFE / "elife-kitchen-sink.xml")
    box = [p for p in kitchen.body if p["section"].endswith("Widespread connectivity is not dependent on meridian "
                                                            "representations")]
    assert [p["section"] for p in box] == ["Introduction / Widespread connectivity is not dependent on meridian "
                                           "representations"]
    assert box[0]["text"].startswith("Though we divided data into quadrants that represent distinct parts")
    assert box[0]["text"].endswith("are not due to overlapping representations of visual space.")
    assert not any(p["text"].startswith("Box 1") for p in kitchen.body)  # the box's label is structure too
    assert "Appendix 1 / Animal preparation" in sections(kitchen)


def test_captions_only_with_the_option():
    path = pmc_path("PMC3166277")
    plain, captioned = parse(path), parse(path, JatsOptions(include_captions=True))
    caption_sections = [s for s in sections(captioned) if s not in sections(plain)]
    # in document order: each caption follows the paragraph that holds its figure or table
    assert caption_sections == ["Figure 1", "Figure 3", "Table 2", "Figure 4", "Table 1", "Figure 2", "Table 3"]
    figure1 = [p["text"] for p in captioned.body if p["section"] == "Figure 1"]
    assert figure1[0].startswith("Schematic presentation of two models of holin hole formation. Holin monomers")
    assert [p["text"] for p in captioned.body if p["section"] == "Table 3"] == ["Bacterial strains used in this study."]
    assert not any(text in body_text(plain) for text in figure1)
    assert len(captioned.body) > len(plain.body)


def test_subarticles_excluded_by_default_and_appended_with_the_option():
    path = ELIFE / "elife-kitchen-sink.xml"
    plain, full = parse(path), parse(path, JatsOptions(include_subarticles=True))
    assert not {"Decision letter", "Author response"} & set(sections(plain))
    assert sections(full)[-2:] == ["Decision letter", "Author response"]
    assert full.body[: len(plain.body)] == plain.body
    letter = [p["text"] for p in full.body if p["section"] == "Decision letter"]
    assert letter[1].startswith("This paper reports that a bacterial sulfonolipid is able to induce colony")
    assert "This paper reports that a bacterial sulfonolipid" not in body_text(plain)


# --- licences, retraction, metadata -------------------------------------------------------------------------------

@pytest.mark.parametrize("pmcid, licence", [
    ("PMC2329613", "CC BY"),  # license/@xlink:href creativecommons.org/licenses/by/2.0
    ("PMC3574550", "CC BY-NC"),  # license-type="creative-commons" + href by-nc/3.0
    ("PMC2599765", "public domain"),  # publicdomain/mark/1.0, license-type="public-domain"
    ("PMC7417471", "CC BY"),  # license-type="OpenAccess"; the URL only in the license-p's ext-link
    ("PMC3460867", "CC BY"),  # no URL: "Creative Commons Attribution License" in the text
    ("PMC1790863", "CC BY"),  # NLM 2.3 PLoS: only a copyright-statement naming the licence
    ("PMC2994229", None),  # NPG: copyright only
])
def test_licence_from_the_article(pmcid, licence):
    assert parse(pmc_path(pmcid)).licence == licence


def test_cloud_service_json_overrides_licence_retraction_and_version():
    path = pmc_path("PMC2599765")
    metadata = json.loads(path.with_suffix(".json").read_text())
    assert parse(path, metadata=metadata).licence == "CC0"  # the JSON's license_code wins over the article's
    retracted = dict(metadata, is_retracted=True, version=3)
    doc = parse(path, metadata=retracted)
    assert (doc.retracted, doc.version, doc.licence) == (True, 3, "CC0")
    with pytest.raises(JatsError, match="metadata is for PMC1790863 but the article is PMC2599765"):
        parse(path, metadata=dict(metadata, pmcid="PMC1790863"))


def test_licence_from_metadata_normalises_both_sources():
    assert licence_from_metadata({"license_code": "CC BY-NC-ND", "is_retracted": False}) == ("CC BY-NC-ND", False)
    assert licence_from_metadata({"license_code": None, "is_retracted": True}) == (None, True)
    assert licence_from_metadata({"License": "cc-by-sa", "Retracted": "no"}) == ("CC BY-SA", False)
    assert licence_from_metadata({"License": "CC0", "Retracted": "yes"}) == ("CC0", True)
    assert licence_from_metadata({"License": "NO-CC CODE", "Retracted": "no"}) == (None, False)


def test_version_and_pmcid_from_cloud_service_names_when_the_article_has_none():
    data = (ELIFE / "elife00270.xml").read_bytes()
    doc = parse_jats(data, "s3://pmc-oa-opendata/PMC3485615.2/PMC3485615.2.xml")
    assert (doc.id, doc.pmcid, doc.version) == ("pmc:PMC3485615", "PMC3485615", 2)


def test_retraction_notice_versus_retracted_article():
    """JATS/PMC: the notice carries related-article "retracted-article" (MEDLINE ROF), the retracted article
    "retraction-forward" (MEDLINE RIN). Built from the real eLife correction notice by changing its type."""
    correction = (ELIFE / "elife07586.xml").read_bytes()
    notice = correction.replace(b'article-type="correction"', b'article-type="retraction"', 1).replace(
        b'related-article-type="corrected-article"', b'related-article-type="retracted-article"')
    doc = parse_jats(notice, "notice.xml")
    assert (doc.article_type, doc.retracted) == ("retraction", False)
    retracted = correction.replace(b'related-article-type="corrected-article"',
                                   b'related-article-type="retraction-forward"')
    assert parse_jats(retracted, "retracted.xml").retracted is True


# --- bad input and safety -----------------------------------------------------------------------------------------

def test_malformed_and_non_article_inputs_name_the_file():
    data = pmc_path("PMC3363814").read_bytes()
    with pytest.raises(JatsError, match=r"^broken\.nxml: malformed XML at line \d+, column \d+") as error:
        parse_jats(data[: len(data) // 2], "broken.nxml")
    assert error.value.origin == "broken.nxml"
    with pytest.raises(JatsError, match="root element is <html>"):
        parse_jats(b"<html><body>404</body></html>", "error.html")
    with pytest.raises(JatsError, match="no PMCID or DOI"):
        parse_jats(b"<article><front><article-meta/></front></article>", "anonymous.xml")
    with pytest.raises(JatsError, match=r"^a\.tar\.gz#x: archive member not read: symlink"):
        parse_jats(SkippedMember("x", "symlink"), "a.tar.gz#x")


@pytest.fixture
def secret(tmp_path) -> Path:
    """A local file an attacker would like read. Not a well-formed DTD: had libxml2 loaded it, the parse would
    fail with "malformed XML" rather than with the error each test expects."""
    path = tmp_path / "secret.dtd"
    path.write_text('<!ENTITY leak "TOPSECRET-4711"> <!BROKEN')
    return path


def _with_doctype(doctype: str, paragraph_extra: str = "") -> bytes:
    """The real meeting abstract with its DOCTYPE replaced and `paragraph_extra` added to its first paragraph."""
    text = pmc_path("PMC3363814").read_text(encoding="utf-8")
    text = re.sub(r"<!DOCTYPE[^>]*>", doctype, text, count=1)
    return text.replace("The aim was to determine", f"The aim {paragraph_extra} was to determine", 1).encode()


def test_external_general_entity_is_not_resolved(secret):
    data = _with_doctype(f'<!DOCTYPE article [<!ENTITY xxe SYSTEM "file://{secret}">]>', "&xxe;")
    with pytest.raises(JatsError, match="undefined entity &xxe;") as error:
        parse_jats(data, "xxe.nxml")
    assert "TOPSECRET" not in str(error.value)


def test_external_parameter_entity_is_not_loaded(secret):
    data = _with_doctype(f'<!DOCTYPE article [<!ENTITY % ext SYSTEM "file://{secret}"> %ext;]>', "&leak;")
    with pytest.raises(JatsError, match="undefined entity &leak;") as error:
        parse_jats(data, "pe.nxml")
    assert "TOPSECRET" not in str(error.value)


def test_the_dtd_named_by_the_doctype_is_never_read(tmp_path, monkeypatch, secret):
    """nxml DOCTYPEs name "JATS-archivearticle1.dtd" relative to the working directory: a file planted there
    is not loaded (with xmltext.safe_parser's collect_ids=False it is), nor one named by an absolute path."""
    (tmp_path / "JATS-archivearticle1.dtd").write_text(secret.read_text())
    monkeypatch.chdir(tmp_path)
    original = pmc_path("PMC3363814").read_bytes()
    assert b'"JATS-archivearticle1.dtd"' in original
    assert parse_jats(original, "planted.nxml") == parse_jats(original, "planted.nxml")
    absolute = _with_doctype(f'<!DOCTYPE article SYSTEM "{secret}">')
    assert parse_jats(absolute, "absolute.nxml").title.startswith("Acute respiratory distress syndrome")


def test_named_entities_of_the_jats_sets_become_characters():
    data = pmc_path("PMC3363814").read_bytes().replace(b"The aim was", b"The&nbsp;aim &alpha;&ndash;&beta; was", 1)
    doc = parse_jats(data, "entities.nxml")
    assert doc.body[0]["text"].startswith("The aim α–β was to determine")


# --- bulk packages --------------------------------------------------------------------------------------------

BULK_ARTICLES = ["PMC1790863", "PMC2329613", "PMC3363814"]


def _add(archive: tarfile.TarFile, info: tarfile.TarInfo, data: bytes = b"") -> None:
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


@pytest.fixture
def bulk_package(tmp_path) -> tuple[Path, Path]:
    """A package laid out like oa_comm_xml.PMC00Nxxxxxx.baseline.*.tar.gz, with hostile members, and its filelist."""
    path = tmp_path / "pkg" / "oa_comm_xml.PMC001xxxxxx.baseline.2024-12-18.tar.gz"
    path.parent.mkdir()
    with tarfile.open(path, "w:gz") as archive:
        folder = tarfile.TarInfo("PMC001xxxxxx")
        folder.type = tarfile.DIRTYPE
        _add(archive, folder)
        _add(archive, tarfile.TarInfo(f"PMC001xxxxxx/{BULK_ARTICLES[0]}.xml"), pmc_path(BULK_ARTICLES[0]).read_bytes())
        _add(archive, tarfile.TarInfo("../evil.nxml"), b"<article/>")
        link = tarfile.TarInfo("PMC001xxxxxx/passwd.xml")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        _add(archive, link)
        _add(archive, tarfile.TarInfo("/abs/PMC9.nxml"), b"<article/>")
        _add(archive, tarfile.TarInfo("PMC001xxxxxx/readme.txt"), b"not an article")
        for pmcid in BULK_ARTICLES[1:]:
            _add(archive, tarfile.TarInfo(f"PMC001xxxxxx/{pmcid}.xml"), pmc_path(pmcid).read_bytes())
    filelist = path.with_name(path.name.replace(".tar.gz", ".filelist.csv"))
    with filelist.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Article File", "Article Citation", "AccessionID", "LastUpdated (YYYY-MM-DD HH:MM:SS)",
                         "PMID", "License", "Retracted"])
        writer.writerow(["PMC001xxxxxx/PMC1790863.xml", "PLoS One. 2007; 2(2):e217", "PMC1790863",
                         "2024-12-18 10:00:00", "17299597", "CC BY", "no"])
        writer.writerow(["PMC001xxxxxx/PMC2329613.xml", "BMC Oral Health. 2008; 8:11", "PMC2329613",
                         "2024-12-18 10:00:00", "18405359", "CC BY-NC", "yes"])
        writer.writerow(["PMC001xxxxxx/PMC3363814.xml", "Crit Care. 2012; 16(Suppl 1):P396", "PMC3363814",
                         "2024-12-18 10:00:00", "", "CC BY", "no"])
    return path, filelist


def test_bulk_archive_is_streamed_and_hostile_members_are_reported(bulk_package, tmp_path, monkeypatch):
    archive_path, filelist = bulk_package
    monkeypatch.chdir(archive_path.parent)  # a tool that extracted would write ../evil.nxml next to pkg/
    with filelist.open("rb") as handle:
        rows = {row["Article File"]: row for row in read_filelist(handle)}
        assert not handle.closed
    assert rows["PMC001xxxxxx/PMC2329613.xml"]["LastUpdated"] == "2024-12-18 10:00:00"

    articles, skipped = {}, {}
    with archive_path.open("rb") as handle:
        for name, data in iter_bulk_archive(handle, str(archive_path)):
            if isinstance(data, SkippedMember):
                skipped[name] = data.reason
            else:
                articles[name] = parse_jats(data, f"{archive_path}#{name}", metadata=rows[name])
    assert list(articles) == [f"PMC001xxxxxx/{pmcid}.xml" for pmcid in BULK_ARTICLES]
    assert skipped == {"../evil.nxml": "parent path", "PMC001xxxxxx/passwd.xml": "symlink",
                       "/abs/PMC9.nxml": "absolute path", "PMC001xxxxxx/readme.txt": "not an article file"}
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["pkg", archive_path.name, filelist.name])
    bmc = articles["PMC001xxxxxx/PMC2329613.xml"]
    assert (bmc.id, bmc.licence, bmc.retracted) == ("pmc:PMC2329613", "CC BY-NC", True)  # the filelist row wins
    assert bmc.origin == f"{archive_path}#PMC001xxxxxx/PMC2329613.xml"
    assert articles["PMC001xxxxxx/PMC3363814.xml"].pmid is None  # an empty PMID column is no PMID


def test_truncated_archive_raises_naming_it_after_the_intact_members(bulk_package, tmp_path):
    archive_path, _ = bulk_package
    data = archive_path.read_bytes()
    for cut in (len(data) - 8, len(data) // 2):  # inside the gzip trailer / inside a member
        names = []
        with pytest.raises(JatsError) as error:
            for name, _ in iter_bulk_archive(io.BytesIO(data[:cut]), "cut.tar.gz"):
                names.append(name)
        assert error.value.origin == "cut.tar.gz" and str(error.value).startswith("cut.tar.gz: ")
        assert "truncated" in error.value.reason
        assert names == [] or names[0] == "PMC001xxxxxx/PMC1790863.xml"
    with pytest.raises(JatsError, match="not-gzip.tar.gz"):
        list(iter_bulk_archive(io.BytesIO(b"plain bytes, not gzip"), "not-gzip.tar.gz"))


def test_filelist_without_its_columns_is_an_error():
    with pytest.raises(JatsError, match="not a PMC filelist: no column AccessionID"):
        list(read_filelist(io.StringIO("Article File,Article Citation,PMID,License,Retracted,LastUpdated\n")))


# --- damaged packages and filelists: what is whole before the damage is kept, the damage is reported -----------

def _sample_tar() -> bytes:
    """An uncompressed tar of the 12 sample articles laid out like a bulk package (PMC00Nxxxxxx/PMC<id>.xml)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for path in sorted(SAMPLES.glob("pmc-oa-opendata/*/*.xml")):
            pmcid = path.name.split(".")[0]
            _add(archive, tarfile.TarInfo(f"PMC{int(pmcid[3:]) // 1_000_000:03d}xxxxxx/{pmcid}.xml"), path.read_bytes())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def sample_tar() -> tuple[bytes, list[tuple[str, int, int]]]:
    """The tar and (member name, data start, data end) of each member."""
    data = _sample_tar()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        members = [(m.name, m.offset_data, m.offset_data + m.size) for m in archive.getmembers()]
    return data, members


def read_until_error(data: bytes, origin: str = "oa_comm_xml.incr.2024-06-19.tar.gz", **kwargs):
    read = []
    with pytest.raises(JatsError) as raised:
        for name, content in iter_bulk_archive(io.BytesIO(data), origin, **kwargs):
            read.append((name, content))
    assert raised.value.origin == origin
    return read, raised.value


def test_a_package_cut_anywhere_keeps_every_whole_member(sample_tar):
    """tarfile over gzip.GzipFile lost the member(s) in the buffer that was being filled when the stream ended
    (a package cut 30 bytes before its end gave 11 of its 12 articles); every whole member is kept now."""
    tar, members = sample_tar
    packed = gzip.compress(tar)
    full = list(iter_bulk_archive(io.BytesIO(packed), "x.tar.gz"))
    assert [name for name, _ in full] == [name for name, _, _ in members] and len(full) == 12
    for cut in [*range(1, 9), 30, 300, *(len(packed) * k // 7 for k in range(1, 7))]:
        damaged = packed[:-cut]
        available = len(zlib.decompressobj(31).decompress(damaged))
        whole = sum(1 for _, _, end in members if end <= available)
        read, error = read_until_error(damaged)
        assert read == full[:whole], f"cut {cut}"
        assert whole == 12 or cut > 8  # a cut in the gzip trailer loses no member
        assert error.reason.startswith("truncated gzip stream") and f"at byte {len(damaged)} of the file" in error.reason
        assert error.reason.endswith(f"; {whole} articles read before it")


@pytest.mark.parametrize("damage, reason", [
    ("boundary", "without its end-of-archive marker"),  # a tar cut exactly between members: tarfile saw no damage
    ("mid-member", "is cut short"),
    ("header", "damaged or truncated member header"),  # tarfile stopped silently at a header with a bad checksum
    ("zeroed header", "unexpected data after the end-of-archive marker"),
])
def test_a_damaged_tar_inside_a_sound_gzip_keeps_the_members_before_it(sample_tar, damage, reason):
    tar, members = sample_tar
    seventh_header = members[6][1] - 512  # GNU format, short names: one header block per member
    if damage == "boundary":
        damaged = tar[:seventh_header]
    elif damage == "mid-member":
        damaged = tar[: members[6][2] - 100]
    else:
        edited = bytearray(tar)
        if damage == "header":
            edited[seventh_header + 100] ^= 0x33  # the mode field: the header checksum no longer matches
        else:
            edited[seventh_header : seventh_header + 512] = bytes(512)
        damaged = bytes(edited)
    full = list(iter_bulk_archive(io.BytesIO(gzip.compress(tar)), "x.tar.gz"))
    read, error = read_until_error(gzip.compress(damaged))
    assert read == full[:6]
    assert reason in error.reason and error.reason.endswith("; 6 articles read before it")
    if damage == "mid-member":
        assert members[6][0] in error.reason


def test_zero_padding_concatenated_members_and_garbage_after_a_package(sample_tar):
    tar, _ = sample_tar
    packed = gzip.compress(tar)
    full = list(iter_bulk_archive(io.BytesIO(packed), "x.tar.gz"))
    notes = {}
    assert list(iter_bulk_archive(io.BytesIO(packed + bytes(4096)), "x.tar.gz", notes=notes)) == full
    assert notes == {"gzip_members": 1, "trailing_zero_bytes": 4096}
    split = len(tar) // 3 + 17  # members of a multi-member gzip (pigz, cat a.gz b.gz) split anywhere
    notes = {}
    two = gzip.compress(tar[:split]) + gzip.compress(tar[split:])
    assert list(iter_bulk_archive(io.BytesIO(two), "x.tar.gz", notes=notes)) == full
    assert notes == {"gzip_members": 2}
    read, error = read_until_error(packed + b"<html>503</html>")
    assert read == full and error.reason.startswith("unexpected data after the end of the gzip stream")


NCBI_FILELIST = (  # the real file's shape: LF line ends, text fields quoted, the last line ended
    'Article File,Article Citation,AccessionID,LastUpdated (YYYY-MM-DD HH:MM:SS),PMID,License,Retracted\n'
    'PMC001xxxxxx/PMC1790863.xml,"PLoS One. 2007 Feb 14; 2(2):e217",PMC1790863,"2024-12-18 10:00:00",17299597,'
    '"CC BY",no\n'
    'PMC002xxxxxx/PMC2329613.xml,"BMC Oral Health. 2008 Apr 10; 8:11",PMC2329613,"2024-12-18 10:00:00",18405359,'
    '"CC BY-NC",yes\n'
    'PMC003xxxxxx/PMC3363814.xml,"Crit Care. 2012 Mar 20; 16(Suppl 1):P396",PMC3363814,"2024-12-18 10:00:00",,'
    '"CC BY",no\n'
)


def test_a_filelist_cut_anywhere_is_refused_or_a_prefix_of_whole_rows():
    """A row cut inside its last field still has every field ("..., CC BY",n): only the missing newline tells."""
    data = NCBI_FILELIST.encode()
    full = list(read_filelist(io.BytesIO(data)))
    assert [row["AccessionID"] for row in full] == BULK_ARTICLES and full[2]["PMID"] == ""
    line_ends = {i + 1 for i, byte in enumerate(data) if byte == ord("\n")}
    for cut in range(1, len(data)):
        rows = []
        try:
            rows.extend(read_filelist(io.BytesIO(data[:cut])))
        except JatsError as error:
            assert cut not in line_ends and error.reason
            continue
        assert cut in line_ends and rows == full[: len(rows)]  # cut between lines: not knowable from the file
    with pytest.raises(JatsError, match=r"the last line \(4\) does not end with a newline"):
        list(read_filelist(io.BytesIO(data[:-2])))  # "...,n": seven fields, Retracted "n"
    with pytest.raises(JatsError, match="unexpected end of data"):
        list(read_filelist(io.BytesIO(data[: data.rindex(b"CC BY") + 2])))  # inside a quoted field
    tsv = data.replace(b",", b"\t").replace(b'"', b"")
    assert [r["License"] for r in read_filelist(io.BytesIO(tsv), delimiter="\t")] == ["CC BY", "CC BY-NC", "CC BY"]
    with pytest.raises(JatsError, match="does not end with a newline"):
        list(read_filelist(io.BytesIO(tsv[:-1]), delimiter="\t"))
