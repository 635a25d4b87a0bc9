"""Licences of PMC articles: a licence statement, link or metadata value -> one normalised code.

The codes are "CC BY", "CC BY-NC", "CC BY-NC-ND", ..., "CC0" and "public domain". From an article's JATS
`article-meta` (`licence_from_article`): `license/@xlink:href`, `ali:license_ref`, a Creative Commons link
inside the licence text, `@license-type`, or the licence text's wording ("Creative Commons Attribution
License"); else the licence's raw text; NLM 2.x articles without a `license` only when their copyright statement
names a Creative Commons licence. From a PMC Cloud Service JSON or a bulk filelist row (`licence_from_metadata`,
which also reads their retraction flag): the stated code, normalised; "NO-CC CODE" and empty values are no
licence.
"""
from __future__ import annotations

import re
from typing import Optional

from corpus.xmltext import collapse_spaces

XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
ALI_LICENSE_REF = "{http://www.niso.org/schemas/ali/1.0/}license_ref"

_CC_URL = re.compile(r"creativecommons\.org/(licenses|publicdomain)/([a-z-]+)", re.I)
_CC_CODE = re.compile(r"cc[\s_-]*(0|zero|by(?:[\s_-]*(?:nc|nd|sa))*)(?:[\s_-]*\d(?:\.\d)?)?", re.I)
_CC_TEXT = re.compile(
    r"creative\s+commons\s+(?:attribution|by)\b((?:[\s,-]*(?:non-?\s*commercial|no-?\s*deriv\w*|share-?\s*alike))*)",
    re.I,
)
_CC0_TEXT = re.compile(r"\bCC0\b|\bCC-0\b|creative\s+commons\s+(?:zero|cc0)|public\s+domain\s+dedication", re.I)
_PUBLIC_DOMAIN_TEXT = re.compile(r"\bpublic\s+domain\b", re.I)
_NOT_A_LICENCE = re.compile(r"no[\s_-]*cc[\s_-]*code|none|", re.I)


def _code_from_url(url: str) -> Optional[str]:
    match = _CC_URL.search(url or "")
    if not match:
        return None
    kind, name = match.group(1).lower(), match.group(2).lower()
    if kind == "publicdomain":
        return "CC0" if name == "zero" else "public domain"
    return "CC " + name.upper()


def _normalise_code(value: str) -> Optional[str]:
    """"cc-by-nc" / "CC BY-NC 4.0" / "cc_by" -> "CC BY-NC"; "cc0" -> "CC0"; "public-domain" -> "public domain"."""
    value = (value or "").strip()
    match = _CC_CODE.fullmatch(value)
    if match:
        parts = re.split(r"[\s_-]+", match.group(1).upper())
        return "CC0" if parts[0] in ("0", "ZERO") else "CC " + "-".join(parts)
    if re.fullmatch(r"public[\s_-]*domain", value, re.I):
        return "public domain"
    return None


def _code_from_text(text: str) -> Optional[str]:
    match = _CC_TEXT.search(text)
    if match:
        parts = ["BY"]
        conditions = match.group(1).lower()
        parts += [code for word, code in (("commercial", "NC"), ("deriv", "ND"), ("alike", "SA")) if word in conditions]
        return "CC " + "-".join(parts)
    if _CC0_TEXT.search(text):
        return "CC0"
    match = re.search(r"\bCC[\s-]BY(?:-(?:NC|ND|SA))*\b", text)
    if match:
        return _normalise_code(match.group(0))
    if _PUBLIC_DOMAIN_TEXT.search(text):
        return "public domain"
    return None


def licence_from_article(meta) -> Optional[str]:
    """A licence code from the article's own `license` elements, else their text; from the copyright statement
    (NLM 2.x PLoS) only when it names a Creative Commons licence."""
    licences = meta.xpath("permissions/license | license")
    for licence in licences:
        urls = [licence.get(XLINK_HREF)] + [ref.text for ref in licence.iter(ALI_LICENSE_REF)]
        urls += [link.get(XLINK_HREF) for link in licence.iter("ext-link", "uri")]
        code = next((code for code in map(_code_from_url, filter(None, urls)) if code), None)
        code = code or _normalise_code(licence.get("license-type", ""))
        code = code or _code_from_text(collapse_spaces("".join(licence.itertext())))
        if code:
            return code
    if licences:
        return collapse_spaces("".join(licences[0].itertext())) or None
    for statement in meta.xpath("permissions/copyright-statement | copyright-statement"):
        code = _code_from_text(collapse_spaces("".join(statement.itertext())))
        if code:
            return code
    return None


def licence_from_metadata(metadata: dict) -> tuple[Optional[str], bool]:
    """(licence code, retracted) from a Cloud Service JSON (`license_code`, `is_retracted`) or a bulk filelist
    row (`License`, `Retracted`). "NO-CC CODE" and empty values give None: no licence stated there."""
    raw = metadata.get("license_code", metadata.get("License"))
    retracted = metadata.get("is_retracted", metadata.get("Retracted"))
    if isinstance(retracted, str):
        retracted = retracted.strip().lower() in ("yes", "y", "true", "1")
    licence = None
    if raw is not None and not _NOT_A_LICENCE.fullmatch(str(raw).strip()):
        raw = str(raw).strip()
        licence = _normalise_code(raw) or _code_from_url(raw) or raw
    return licence, bool(retracted)
