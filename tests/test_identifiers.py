"""corpus.identifiers: the PMID and PMCID normaliser shared by the PubMed and PMC parsers."""
from __future__ import annotations

import pytest

from corpus import identifiers


@pytest.mark.parametrize("value, expected", [
    ("PMC1790863", "PMC1790863"),
    ("pmc1790863", "PMC1790863"),  # PMC Cloud Service names and metadata in lower case
    ("1790863", "PMC1790863"),  # JATS article-id pub-id-type="pmc" holds the bare number
    ("PMC1790863.1", "PMC1790863"),  # versioned Cloud Service name / F1000-style record
    (" PMC1790863\n", "PMC1790863"),
    (1790863, "PMC1790863"),  # a number in a metadata JSON
    ("", None),
    ("   ", None),
    (None, None),
    ("PMC", None),
    ("PMC1790863 [Available on 2011/1/1]", None),  # a whole value must be the id
    ("PMC1790863.", None),
    ("PMC1790863.1.2", None),
    ("PMCPMC1790863", None),
    ("doi:10.1371/journal.pone.0000217", None),
])
def test_pmcid(value, expected):
    assert identifiers.pmcid(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("PMC3042602 [Available on 2011/1/1]", "PMC3042602"),  # old MEDLINE OtherID Source="NLM"
    ("PMC6892426.2", "PMC6892426"),  # PubmedData ArticleId IdType="pmc" of a versioned record
    ("PMC1790863", "PMC1790863"),
    ("1790863", "PMC1790863"),
    (" PMC1790863 ", "PMC1790863"),
    ("pmc1790863", None),  # PubMed writes the prefix in capitals
    ("", None),
    (None, None),
    ("PMC", None),
    ("[PMC1790863]", None),
])
def test_leading_pmcid_as_pubmed_writes_it(value, expected):
    assert identifiers.pmcid(value, leading=True) == expected


@pytest.mark.parametrize("value, expected", [
    ("17286860", "17286860"),
    (" 17286860 ", "17286860"),
    ("17286860\n", "17286860"),
    (17286860, "17286860"),  # a number in a metadata JSON
    ("0017286860", "0017286860"),  # kept as written
    ("", None),
    ("   ", None),
    (None, None),
    ("0", None),
    ("000", None),
    ("PMC1790863", None),
    ("17286860.1", None),
    ("1728 6860", None),
    ("-17286860", None),
    ("\uff11\uff17", "\uff11\uff17"),  # fullwidth digits: str.isdigit() takes them (JATS and metadata rule)
])
def test_pmid(value, expected):
    assert identifiers.pmid(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("17286860", "17286860"),
    (" 17286860 ", "17286860"),
    ("0", "0"),  # a PMID element "0" has always made a record
    ("", None),
    (None, None),
    ("\uff11\uff17", None),
    ("17286860a", None),
])
def test_pmid_as_pubmed_reads_it(value, expected):
    assert identifiers.pmid(value, ascii_only=True, allow_zero=True) == expected
