"""Filters: sentences that are not prose, and documents with too little text.

Every threshold is a field of `FilterConfig`. The defaults were set on real text: GENIA's 1,361 gold sentences
and the 9,079 sentences of the English abstracts of the bundled PubMed sample as prose; the 642 table rows, 44
whole tables and 272 publisher citations of the bundled PMC and eLife articles as non-prose
(tests/test_corpus_filters.py asserts these figures):
- `min_letter_token_fraction` 0.5: at least half the whitespace tokens of a prose sentence contain a letter.
  The lowest GENIA sentence has 0.68; 5 of the 9,079 abstract sentences fall below ("(P < .01).",
  "Overall, only 41% patients had 5/5, 28% 3-4, 31% ≤2."), and with the other rules 61% of real table rows
  and 84% of whole tables are caught. Legends made of statistics ("*, p < 0.05; **, p < 0.01.") fall below
  too, which is intended: they are not prose.
- `max_symbol_run` 12: more than 12 tokens in a row without a letter is a flattened table or a list of
  numbers; prose enumerations of values stay under it.
- `max_sentence_tokens` 300: the longest prose sentence seen has 143 tokens; a longer "sentence" is a table
  or list flattened without punctuation, which no sentence splitter can cut.
- `max_url_only_words` 2: a URL, DOI or e-mail with at most 2 other words ("DOI: http://dx.doi.org/...",
  "Available from: https://...") says nothing a model should learn.
- reference strings: a list of "Surname Initials" names at the start of a sentence (two with punctuation,
  three without), names followed by a year, or a citation tail ("2010;132:8180-8186", or at the end of the
  sentence "82: 1015-1021" and the unpunctuated "1992 56 430 481"). On the sample no prose sentence is taken
  for a reference; 94% of the real citations have a sentence flagged after splitting (the rest are bare
  "Author Title Journal" strings without a year pattern).
- `min_document_words` 20: a title alone (14 words at the median in the sample) is not a document to learn
  discourse from; even short letter abstracts have well over 20 words.
"""
from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass
from typing import Optional

from corpus.assemble import CorpusDocument

NUMBERS_SYMBOLS, SYMBOL_RUN, TOO_LONG, URL_ONLY, REFERENCE = (
    "numbers_symbols", "symbol_run", "too_long", "url_only", "reference")
EMPTY, TOO_SHORT = "empty", "too_short"


@dataclass(frozen=True)
class FilterConfig:
    min_letter_token_fraction: float = 0.5
    max_symbol_run: int = 12
    max_sentence_tokens: int = 300
    max_url_only_words: int = 2
    drop_references: bool = True
    min_document_words: int = 20


# A whitespace token without a letter: digits, underscores, punctuation and symbols only ("0.05", "±", "[3,").
_LETTERLESS = r"(?<!\S)(?:[^\s\w]|[\d_])+(?!\S)"
_LETTERLESS_TOKEN = re.compile(_LETTERLESS)
_WORD = re.compile(r"\w+")
_URLISH = re.compile(
    r"(?:https?://|ftp://|www\.)\S+|\bdoi:\s*\S+|\b10\.\d{4,9}/\S+|[\w.+-]+@[\w-]+\.[\w.-]+", re.IGNORECASE)
# A surname: capitalised, with particles ("de Vlieg", "van der Berg") and hyphenated or multi-word parts.
_NAME = (r"(?:(?:de|del|der|den|di|da|dos|du|la|le|van|von) )*"
         r"[A-Z][a-zà-ÿ'’][^\s,.;:()\d]*(?:[ -][A-Z][a-zà-ÿ'’][^\s,.;:()\d]*)*")
# At the start of a sentence: "Kim J, Cote LJ, Kim F" (Vancouver), "Kim, J., Cote, L. J., and" (APA),
# "Kim J Cote LJ Kim F" (citations exported without punctuation: three names, since two could be prose),
# or names followed by the year ("Egmond MR, de Vlieg J (2000)").
_AUTHOR_LIST = re.compile(
    rf"^(?:{_NAME} [A-Z]{{1,3}}(?:,| and) ){{1,}}{_NAME} [A-Z]{{1,3}}\b"
    rf"|^(?:{_NAME}, (?:[A-Z]\. ?){{1,3}},? (?:&|and )?){{2,}}"
    rf"|^(?:{_NAME} [A-Z]{{1,3}} ){{3,}}"
    rf"|^(?:{_NAME} [A-Z]{{1,3}},? ){{1,}}(?:et al\.?,? )?\(?(?:1[89]|20)\d{{2}}\b")
_YEAR = re.compile(r"\b(?:1[89]|20)\d{2}[a-z]?\b")
# The end of a citation: "2010;132:8180-8186" anywhere; at the end of the sentence also "82: 1015-1021
# 11099798" (volume: pages, PMID) and, exported without punctuation, "1992 56 430 481 1406491" (year, volume,
# pages, DOI or PMID).
_CITATION_TAIL = re.compile(
    r"\b(?:1[89]|20)\d{2}[a-z]?\s*[;.]\s*\d+\s*(?:\([^)]{1,12}\))?\s*:\s*[A-Za-z]?\d+"
    r"|\b\d+\s*(?:\([^)]{1,12}\))?\s*:\s*[A-Za-z]?\d+\s*[-–]\s*[A-Za-z]?\d+\.?(?:\s+\d{7,8})?\s*$"
    r"|\b(?:1[89]|20)\d{2}\s+\d+\s+[A-Za-z]?\d+\s+[A-Za-z]?\d+(?:\s+10\.\S+)?(?:\s+\d{7,8})?\s*$")
_LEADING_NAME = re.compile(rf"{_NAME} [A-Z]{{1,3}}\b")
_ET_AL = re.compile(r"\bet al\b\.?,?\s*\(?(?:1[89]|20)\d{2}")


def sentence_problem(sentence: str, config: FilterConfig) -> Optional[str]:
    """Why a sentence is not prose (one of the reason constants), or None to keep it."""
    tokens = len(sentence.split())
    if not tokens:
        return NUMBERS_SYMBOLS
    if tokens > config.max_sentence_tokens:
        return TOO_LONG
    # The letterless tokens decide only where there are many of them: they are counted exactly (the costly
    # findall) only where a cheap upper bound on their number does not already rule out both rules.
    bound = _letterless_bound(sentence)
    if bound > config.max_symbol_run or tokens - bound < config.min_letter_token_fraction * tokens:
        letterless = len(_LETTERLESS_TOKEN.findall(sentence))
        if letterless > config.max_symbol_run and _letterless_run(config.max_symbol_run + 1).search(sentence):
            return SYMBOL_RUN
        if tokens - letterless < config.min_letter_token_fraction * tokens:
            return NUMBERS_SYMBOLS
    url = _has_url(sentence)
    if url and len(_WORD.findall(_URLISH.sub(" ", sentence))) <= config.max_url_only_words:
        return URL_ONLY
    if config.drop_references and _is_reference(sentence, url):
        return REFERENCE
    return None


# For `_letterless_bound`: ASCII letters (what \w matches but \d and "_" do not) become "a", ASCII whitespace
# (str.split()'s and \s's, "\x1c"-"\x1f" included) " ", every other byte (digits, "_", punctuation, control
# characters, bytes of non-ASCII characters) "0".
_ASCII_LETTERS = bytes(byte for byte in range(128) if chr(byte).isalpha())
_ASCII_SPACES = bytes(byte for byte in range(128) if chr(byte).isspace())
_TOKEN_CLASSES = bytes(ord("a") if byte in _ASCII_LETTERS else ord(" ") if byte in _ASCII_SPACES else ord("0")
                       for byte in range(256))
_ZERO = ord("0")


def _letterless_bound(sentence: str) -> int:
    """An upper bound on the number of `_LETTERLESS_TOKEN` matches (whitespace tokens without a letter), from
    C-speed passes over bytes instead of a regex.

    ASCII text: a letterless token starts with a byte of class "0" preceded by whitespace or the start of the
    text, and ends with one followed by whitespace or the end; distinct tokens give distinct " 0" (and "0 ")
    pairs, so either count bounds the number. Other text: a letterless token holds at least one character that
    is neither an ASCII letter nor ASCII whitespace, so at least one byte of its UTF-8 form survives deleting
    those bytes (pairs are not used there: a no-break space, say, separates tokens but is not ASCII)."""
    if sentence.isascii():
        classes = sentence.encode("ascii").translate(_TOKEN_CLASSES)
        return min(classes.count(b" 0") + (classes[0] == _ZERO), classes.count(b"0 ") + (classes[-1] == _ZERO))
    return len(sentence.encode("utf-8", "surrogatepass").translate(None, _ASCII_LETTERS + _ASCII_SPACES))


def _may_hold_url(sentence: str) -> bool:
    """A cheap test first: every URL, DOI or e-mail pattern needs one of these."""
    return "/" in sentence or "@" in sentence or "www." in sentence or "doi:" in sentence.lower()


def _has_url(sentence: str) -> bool:
    """`_may_hold_url(sentence) and _URLISH.search(sentence)`, with a sharper cheap test before the search.

    Each alternative of `_URLISH` needs one of: "://" (http, https, ftp); "www." in any case (under IGNORECASE
    only "W" matches "w", so lower() finds it); "doi:" in any case, hence a ":" and "do" in lower() ("d" and "o"
    match only "D" and "O"; "i" also matches "İ" and "ı", whose lower() is not "i", so "doi" is not required);
    "10." and a "/" (a bare DOI); "@" (an e-mail). A "/" alone, as in "mg/kg", is not enough for a search."""
    if not _may_hold_url(sentence):
        return False
    if not ("@" in sentence or "://" in sentence or ("10." in sentence and "/" in sentence)):
        lower = sentence.lower()
        if "www." not in lower and not (":" in sentence and "do" in lower):
            return False
    return _URLISH.search(sentence) is not None


@functools.lru_cache(maxsize=8)
def _letterless_run(length: int) -> re.Pattern:
    return re.compile(rf"(?:{_LETTERLESS}\s+){{{length - 1}}}{_LETTERLESS}")


def is_reference(sentence: str) -> bool:
    """A bibliography entry (or the part of one the sentence splitter left in this sentence)."""
    return _is_reference(sentence, _has_url(sentence))


def _is_reference(sentence: str, has_url: bool) -> bool:
    """`is_reference`, given `_has_url(sentence)` (`sentence_problem` has computed it already)."""
    if (_may_start_author_list(sentence) and _AUTHOR_LIST.match(sentence)) \
            or (_may_end_citation(sentence) and _CITATION_TAIL.search(sentence)):
        return True
    # The URL first: known here, while the year is a search over the whole sentence.
    return bool(has_url and _YEAR.search(sentence) and (_ET_AL.search(sentence) or _LEADING_NAME.match(sentence)))


def _may_start_author_list(sentence: str) -> bool:
    """A cheap test before `_AUTHOR_LIST.match`: False only where no alternative can match.

    Every alternative starts with a `_NAME`: particles ("de ", "van "...: a lowercase "d", "l" or "v" first, then
    left to the regex) or a capital A-Z. The first part of a name holds no whitespace, and is followed by " "
    and a capital (initials, or the next part of the name), or by ", " and a capital ("Kim, J."); so the first
    whitespace of the sentence is a " ", followed by a capital A-Z."""
    first = sentence[:1]
    if first in ("d", "l", "v"):
        return True
    if not "A" <= first <= "Z":
        return False
    space = sentence.find(" ")
    return space > 0 and "A" <= sentence[space + 1:space + 2] <= "Z"


def _may_end_citation(sentence: str) -> bool:
    r"""A cheap test before `_CITATION_TAIL.search`: False only where no alternative can match.

    The first two alternatives need a ":" (volume: pages). The third is anchored at the end (`\s*$`), and its
    last token is a number (`[A-Za-z]?\d+`, or the PMID `\d{7,8}`) or a DOI (`10\.\S+` after whitespace): the
    text without its trailing whitespace ends with a decimal digit (\d is str.isdecimal()), or its last
    whitespace token (\s and str.split() agree) starts with "10."."""
    if ":" in sentence:
        return True
    text = sentence.rstrip()
    if not text:
        return False
    return text[-1].isdecimal() or ("10." in text and text.rsplit(None, 1)[-1].startswith("10."))


def filter_sentences(document: CorpusDocument, config: FilterConfig) -> Counter:
    """Drop non-prose sentences in place (and paragraphs left empty); returns counts per reason."""
    counts: Counter = Counter()
    for paragraph in document.paragraphs:
        kept = []
        for sentence in paragraph.sentences:
            reason = sentence_problem(sentence, config)
            if reason is None:
                kept.append(sentence)
            else:
                counts[reason] += 1
        paragraph.sentences = kept
    document.paragraphs = [paragraph for paragraph in document.paragraphs if paragraph.sentences]
    return counts


def document_problem(document: CorpusDocument, config: FilterConfig) -> Optional[str]:
    """EMPTY or TOO_SHORT for a document not worth keeping, else None."""
    if not document.paragraphs:
        return EMPTY
    return size_problem(document.num_sentences(), document.num_words(), config)


def size_problem(sentences: int, words: int, config: FilterConfig) -> Optional[str]:
    """`document_problem` of a document with this many sentences and words."""
    if not sentences:
        return EMPTY
    if words < config.min_document_words:
        return TOO_SHORT
    return None
