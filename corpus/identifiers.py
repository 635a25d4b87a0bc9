"""PubMed and PMC identifiers: the one normaliser of PMIDs and of PMCIDs that every parser uses.

A PMID is its decimal digits ("17286860"). A PMCID always carries the "PMC" prefix ("PMC1790863") and never the
version suffix of PMC Cloud Service names and F1000-style records ("PMC1790863.1"). A value that is no identifier
gives None; what a missing identifier means is the caller's decision.

The PubMed and the PMC parser have always accepted slightly different values; the keyword options below keep
each parser's results exactly as they were, and name the differences.
"""
from __future__ import annotations

import re
from typing import Any, Optional

_PMCID = re.compile(r"(?:PMC)?(\d+)(?:\.\d+)?", re.I)
_LEADING_PMCID = re.compile(r"(?:PMC)?(\d+)")


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def pmid(value: Any, *, ascii_only: bool = False, allow_zero: bool = False) -> Optional[str]:
    """The PMID that `value` (a string, a number or None) is, surrounding whitespace removed: " 17286860 " ->
    "17286860". None unless it is all decimal digits and, unless `allow_zero`, not all zeros.

    PubMed XML is read with `ascii_only=True, allow_zero=True`; JATS article-ids and PMC metadata with the
    defaults (any Unicode decimal digits, never zero). No real record holds a value on which the two differ.
    """
    text = _text(value)
    if not text.isdigit() or (ascii_only and not text.isascii()) or not (allow_zero or text.strip("0")):
        return None
    return text


def pmcid(value: Any, *, leading: bool = False) -> Optional[str]:
    """The PMCID that `value` (a string, a number or None) is, as "PMC<digits>": "PMC1790863", "pmc1790863",
    "1790863" and versioned "PMC1790863.1" all give "PMC1790863"; None for anything else.

    `leading=True` reads the PMCID a PubMed text starts with instead: "PMC" in capitals or no prefix, anything
    after the digits ignored ("PMC3042602 [Available on 2011/1/1]" and "PMC6892426.2" -> "PMC3042602",
    "PMC6892426"). PubMed XML is read so.
    """
    text = _text(value)
    match = _LEADING_PMCID.match(text) if leading else _PMCID.fullmatch(text)
    return f"PMC{match.group(1)}" if match else None
