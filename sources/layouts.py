"""Where each download source lives and how its files are laid out: the one place to change when NCBI moves.

Everything the downloader knows about a remote layout (default base URL, which names are data files, where
checksums come from, the PMC Cloud Service's key pattern and JSON field names, the bulk packages' licence
directories) is data in a `SourceLayout`. `--layout '{"field": value}'` overrides any field from the command line.
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional

LICENCE_GROUPS = ("comm", "noncomm", "other")

# Listing styles.
APACHE_INDEX = "apache-index"  # an HTML directory index (NCBI's FTP-over-HTTPS server)
S3_LIST_V2 = "s3-list-v2"  # an S3 bucket listed with ListObjectsV2 (the PMC Cloud Service)


@dataclass(frozen=True)
class SourceLayout:
    """How one source is listed, named and verified."""

    name: str
    base_url: str
    listing: str
    data_glob: str  # fnmatch pattern of the data files' names
    # Directory index sources: the checksum sidecar is the data file's name + this suffix ("" = none expected).
    md5_sidecar_suffix: str = ".md5"
    # True: a data file without a sidecar fails. False: the sidecar is used when listed, otherwise the gzip
    # stream is read to its end as the (weaker) integrity check.
    md5_sidecar_required: bool = True
    # Files fetched along with each data file (same directory, `data_suffix` replaced by each companion suffix).
    data_suffix: str = ""
    companion_suffixes: tuple[str, ...] = ()
    # Subdirectories per licence group (pmc-bulk); empty = the base URL is one flat directory.
    licence_dirs: Mapping[str, str] = field(default_factory=dict)
    # S3 sources: key pattern of an article's XML (group "dir" = the article's folder), the metadata file's
    # suffix beside it, the listing page size and key prefix.
    article_key_pattern: str = ""
    metadata_suffix: str = ""
    page_size: int = 1000
    prefix: str = ""
    # Per-article JSON field names (PMC Cloud Service).
    field_open_access: str = "is_pmc_openaccess"
    field_licence: str = "license_code"
    field_retracted: str = "is_retracted"

    def with_overrides(self, overrides: Mapping[str, object]) -> "SourceLayout":
        """A copy with some fields replaced; unknown field names are an error (a typo must not pass silently)."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown layout field(s) {unknown}; known: {sorted(known)}")
        values = dict(overrides)
        if "companion_suffixes" in values:
            values["companion_suffixes"] = tuple(values["companion_suffixes"])
        return dataclasses.replace(self, **values)

    @property
    def article_key_regex(self) -> re.Pattern:
        return re.compile(self.article_key_pattern)


SOURCES: dict[str, SourceLayout] = {
    "pubmed-baseline": SourceLayout(
        name="pubmed-baseline",
        base_url="https://ftp.ncbi.nlm.nih.gov/pubmed/baseline/",
        listing=APACHE_INDEX,
        data_glob="*.xml.gz",
    ),
    "pubmed-updates": SourceLayout(
        name="pubmed-updates",
        base_url="https://ftp.ncbi.nlm.nih.gov/pubmed/updatefiles/",
        listing=APACHE_INDEX,
        data_glob="*.xml.gz",
    ),
    "pmc-oa": SourceLayout(
        name="pmc-oa",
        base_url="https://pmc-oa-opendata.s3.amazonaws.com/",
        listing=S3_LIST_V2,
        data_glob="*.xml",
        md5_sidecar_suffix="",
        md5_sidecar_required=False,
        article_key_pattern=r"(?P<dir>PMC\d+\.\d+)/(?P=dir)\.xml",
        data_suffix=".xml",
        metadata_suffix=".json",
    ),
    "pmc-bulk": SourceLayout(
        name="pmc-bulk",
        base_url="https://ftp.ncbi.nlm.nih.gov/pub/pmc/oa_bulk/",
        listing=APACHE_INDEX,
        data_glob="*.tar.gz",
        md5_sidecar_required=False,
        data_suffix=".tar.gz",
        companion_suffixes=(".filelist.csv", ".filelist.txt"),
        licence_dirs={"comm": "oa_comm/xml/", "noncomm": "oa_noncomm/xml/", "other": "oa_other/xml/"},
    ),
}


def get_layout(source: str, overrides_json: Optional[str] = None) -> SourceLayout:
    """The layout of `source`, with the fields given as a JSON object in `overrides_json` replaced."""
    try:
        layout = SOURCES[source]
    except KeyError:
        raise ValueError(f"unknown source {source!r}; choose one of {sorted(SOURCES)}") from None
    if overrides_json:
        overrides = json.loads(overrides_json)
        if not isinstance(overrides, dict):
            raise ValueError("--layout must be a JSON object of field: value")
        layout = layout.with_overrides(overrides)
    return layout


def licence_group(license_code: Optional[str]) -> str:
    """Map a PMC licence code ("CC BY", "CC BY-NC-ND", "CC0", "NO-CC CODE", None) to its OA group.

    NCBI's own split of the Open Access Subset: `comm` = commercial use allowed (CC0, CC BY, CC BY-SA,
    CC BY-ND), `noncomm` = a Creative Commons licence with the NonCommercial clause, `other` = no machine-readable
    Creative Commons licence (none, custom, "NO-CC CODE").
    """
    code = re.sub(r"[\s_]+", " ", (license_code or "").strip().upper()).replace("CC-", "CC ")
    if code.startswith("CC0") or code.startswith("CC BY"):
        return "noncomm" if "NC" in re.split(r"[\s\-]+", code) else "comm"
    return "other"


def parse_licences(values: Optional[list[str]]) -> tuple[str, ...]:
    """`--licence comm --licence noncomm` or `--licence comm,noncomm` -> ("comm", "noncomm"); default all."""
    if not values:
        return LICENCE_GROUPS
    chosen: list[str] = []
    for value in values:
        for item in value.split(","):
            item = item.strip().lower()
            if item == "all":
                return LICENCE_GROUPS
            if item not in LICENCE_GROUPS:
                raise ValueError(f"unknown licence group {item!r}; choose from {LICENCE_GROUPS} or 'all'")
            if item not in chosen:
                chosen.append(item)
    return tuple(chosen)
