"""Sentence splitting for biomedical text: exact character spans, fast rules by default, spaCy models on request.

`SentenceSplitter()` runs `find_boundaries`, a rule-based detector that works on the raw text (no tokenizer):
a regex finds candidate ends ("." "?" "!" plus closing quotes/brackets plus whitespace) and a few rules decide
from the word before and the token after whether each candidate ends a sentence. The rules encode what
biomedical writing does with periods: abbreviations (e.g., i.v., Fig., vs., et al., approx.), genus
abbreviations (E. coli), initials, numbers and units, enumerations ("1." starting a list item), citation
leftovers ("...cells.[12] The"), section labels ("RESULTS:") and lower-case continuation.

`SentenceSplitter(model=PATH_OR_NAME)` loads a trained spaCy pipeline (e.g. scispacy's en_core_sci_sm) and uses
its sentence boundaries instead, with every component the boundaries do not need disabled. The rules are also a
spaCy component, "biomedical_sentencizer" (`corpus.sentences_spacy`), for pipelines that want them on top of their
own tokenizer. spaCy is imported only when a model is asked for: the rules need nothing but `re`.

Whichever detector runs, sentences are exact substrings of the input, in order, trimmed of surrounding
whitespace, and together they cover every non-space character.
"""
from __future__ import annotations

import logging
import re
from itertools import islice
from typing import Iterable, Iterator, Optional

log = logging.getLogger(__name__)

Span = tuple[int, int]

# A candidate sentence end: terminal punctuation, closing quotes/brackets, an optional citation left glued to
# the period ("cells.[12] The", "cells.12,13 The"), then whitespace, and the token that follows.
_CANDIDATE_AFTER_PUNCT = r"""
    (?P<close>["'\u201d\u2019)\]}\u00bb]*)
    (?P<cite>\[\d[\d,\u2013\u2014\s-]*\]|\d{1,3}(?:[,\u2013-]\d{1,3})*)?
    \s+
    (?=(?P<next>\S+))"""
# "[.?!…][.?!…]*" rather than "[.?!…]+": a pattern that opens with a character set lets `re` skip ahead to the
# next punctuation mark in C instead of trying a match at every position (half the scanning time).
_CANDIDATE = re.compile(r"(?P<punct>[.?!\u2026][.?!\u2026]*)" + _CANDIDATE_AFTER_PUNCT, re.VERBOSE)
# The same matches in a text without "?", "!" and "…" (most texts): opening with a literal "." lets `re` skip
# ahead faster still (a character set is tested character by character, one literal is simply looked for).
_PERIOD_CANDIDATE = re.compile(r"(?P<punct>\.\.*)" + _CANDIDATE_AFTER_PUNCT, re.VERBOSE)
# A period glued to the next sentence by bad markup removal ("in the world.Non-adherence to ...",
# "(95% CI 1.1-3.8).Adequate retention", "strategies.In our approach", "life.CONCLUSIONBy extending").
_GLUED = re.compile(r"[.?!](?P<word>[A-Z][A-Za-z]+)")
_PERIOD_GLUED = re.compile(r"\.(?P<word>[A-Z][A-Za-z]+)")  # the same matches in a text without "?" and "!"
_GLUED_AFTER = re.compile(r"[a-z]{3}|..\)")
_CAPITALISED = re.compile(r"[A-Z][a-z]{2,}")
# Chinese and Japanese sentence ends need no space after them.
_CJK_STOPS = "\u3002\uff01\uff1f"
_CJK_END = re.compile(f"[{_CJK_STOPS}]+[\u300d\u300f\uff09\u201d]*(?![.,;:])")
# Blank lines separate paragraphs: always a boundary.
_PARAGRAPH = re.compile(r"\n[ \t\r\f\v]*\n\s*")
# An upper-case structured-abstract label ("RESULTS:", "MATERIALS AND METHODS:") starts a sentence even when the
# previous section did not end with a period.
# "[A-Z][A-Z]{2}" opens with a character set, which `re` skips ahead to (see _CANDIDATE); without a colon the
# pattern cannot match, so `find_boundaries` only scans texts that have one.
_LABEL = re.compile(r"[A-Z][A-Z]{2}[A-Z ]{0,40}(?=:\s)")
SECTION_LABELS = frozenset(
    """BACKGROUND INTRODUCTION OBJECTIVE OBJECTIVES AIM AIMS PURPOSE CONTEXT RATIONALE HYPOTHESIS METHODS METHOD
    DESIGN SETTING SETTINGS PARTICIPANTS PATIENTS SUBJECTS INTERVENTION INTERVENTIONS MEASUREMENTS MEASURES
    RESULTS FINDINGS CONCLUSION CONCLUSIONS INTERPRETATION SIGNIFICANCE IMPLICATIONS DISCUSSION LIMITATIONS
    SUMMARY ABSTRACT FUNDING""".split()
) | frozenset(
    {
        "MATERIALS AND METHODS", "METHODS AND MATERIALS", "PATIENTS AND METHODS", "SUBJECTS AND METHODS",
        "DESIGN AND METHODS", "METHODS AND RESULTS", "RESULTS AND CONCLUSIONS", "MAIN OUTCOME MEASURES",
        "MAIN OUTCOMES AND MEASURES", "MAIN RESULTS", "MAIN OUTCOMES", "DATA SOURCES", "STUDY SELECTION",
        "DATA EXTRACTION", "DATA SYNTHESIS", "SEARCH METHODS", "SELECTION CRITERIA", "DATA COLLECTION AND ANALYSIS",
        "WHAT IS KNOWN", "WHAT IS NEW", "CLINICAL RELEVANCE", "CLINICAL SIGNIFICANCE", "TRIAL REGISTRATION",
        "STUDY DESIGN", "CONCLUSIONS AND RELEVANCE", "EXPOSURES", "LEVEL OF EVIDENCE", "KEY WORDS", "KEYWORDS",
    }
)

# Single-word labels that lost their colon and space ("...life.CONCLUSIONBy extending...").
_GLUED_LABELS = tuple(sorted((label for label in SECTION_LABELS if " " not in label), key=len, reverse=True))

# Abbreviations that never end a sentence: the next token always continues it ("Fig. 2", "vs. WT", "Dr. Li").
_NEVER_END = frozenset(
    """e.g eg i.e ie cf Cf viz vs Vs v fig figs Fig Figs FIG FIGS eq eqs Eq Eqs ref refs Ref Refs Dr Drs Prof Mr
    Mrs Ms St Mt approx Approx ca c cit incl excl suppl Suppl tab Tab sect Sect sec Sec ch Ch vol Vol vols Vols
    Nos nos pp ed eds Ed Eds Dept Univ Inst Natl Assoc""".split()
)
# Abbreviations that only go on before a number ("Jun. 2001"); before a word they are names (the protein Jun).
_BEFORE_NUMBER = frozenset("Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec".split())
# Abbreviations that may end a sentence: they do when a sentence-starting word follows ("..., IL-6, etc. The").
_MAY_END = frozenset(
    """al resp sp spp ssp subsp var cv Co Inc Ltd Corp Jr Sr No no wt p""".split()
)
# "etc." ends its sentence whenever a capitalised word follows ("..., and other solvents etc. Table 2 lists").
_END_BEFORE_CAPITAL = frozenset({"etc"})
# Words that begin sentences far more often than they follow an abbreviation inside one.
SENTENCE_STARTERS = frozenset(
    """the this these those that there their they we our it its in a an as at by for from on of to with
    however thus therefore moreover furthermore here hence although though while whereas when after before
    since because during finally first second third similarly together taken such both all each no none
    one two three four five several many most some other another only further additionally also
    importantly interestingly notably overall conversely consequently accordingly nevertheless nonetheless
    meanwhile subsequently then collectively altogether indeed rather yet but and or if whether despite
    unlike like using based given following among within without between under over upon than what which
    who how why where recent recently previous previously current currently future results patients
    data cells mice he she his her i""".split()
)
_OPENERS = "([{\"'\u201c\u2018\u00ab"
# Lower-case words that still start a sentence in biomedical text: gene/protein/molecule names with a capital
# or digit after the first letter (p53, mRNA, cDNA, iNOS, pH, c-Myc) and Greek-letter names (α-synuclein).
_LOWER_BIO_START = re.compile(r"[a-z]{1,4}[A-Z0-9]|[a-z]+-[A-Z0-9]|[\u03b1-\u03c9]")
_PANEL_LABEL = re.compile(r"[a-z][.)]?\s+[A-Z]")
# How far back an unclosed "(" or "[" still holds a candidate end inside it (longer means a missing bracket).
_BRACKET_REACH = 200
# Longest word looked at; bounds every backward search so that time stays linear in the text.
_WORD_REACH = 64
# After these (or at a sentence or line start) "1." or "(b)." labels a list item instead of ending a sentence.
_LIST_OPENERS = ":;\n"
_SPACE = re.compile(r"\s")
_NON_SPACE = re.compile(r"\S")
_INNER_DOT = re.compile(r"[A-Za-z]\.[A-Za-z]")
_CITATION = re.compile(r"\[\d[\d,\u2013-]*\][.,;:]?")
_ENUMERATOR = re.compile(r"\(?(?:\d{1,2}|[a-zA-Z]|[ivx]{1,4}|[IVX]{1,4})\)?")
_DOTTED = re.compile(r"(?:[A-Za-z]{1,2}\.)+[A-Za-z]{1,2}")
# Function words before a lone capital mark it as an initial ("by J. Smith"), not a symbol ("vitamin C.").
_BEFORE_INITIAL = frozenset("by and of from with to for in et dr prof mr mrs ms".split())


def find_boundaries(text: str) -> list[int]:
    """Offsets where `text` is cut into sentences (sorted, unique, 0 < offset < len(text)).

    A cut may fall on the whitespace between two sentences; `spans_from_boundaries` trims it away.
    """
    cuts: set[int] = set()
    sentence_start = 0
    periods_only = "?" not in text and "!" not in text and "\u2026" not in text
    for match in (_PERIOD_CANDIDATE if periods_only else _CANDIDATE).finditer(text):
        if _is_boundary(text, match, sentence_start):
            cuts.add(match.end("cite") if match.group("cite") else match.end("close"))
            sentence_start = match.end()  # where "next" starts
    for match in (_PERIOD_GLUED if periods_only else _GLUED).finditer(text):
        if _is_glued_boundary(text, match):
            cuts.add(match.start("word"))
    if not text.isascii() and any(stop in text for stop in _CJK_STOPS):  # (isascii() takes no scan)
        cuts.update(match.end() for match in _CJK_END.finditer(text))
    if "\n" in text:
        cuts.update(match.end() for match in _PARAGRAPH.finditer(text))
    if ":" in text:
        for match in _LABEL.finditer(text):
            label_at = _label_start(match)
            if label_at is not None and text[label_at - 1 : label_at].isspace():
                cuts.add(label_at)
    cuts.discard(0)
    cuts.discard(len(text))
    return sorted(cuts)


def _is_glued_boundary(text: str, match: re.Match) -> bool:
    at = match.start("word")
    word = match.group("word")
    if not _GLUED_AFTER.fullmatch(text, max(at - 4, 0), at - 1):
        return False  # only after a lower-case word or a closing bracket ("cells.In", "(P < 0.05).The")
    if not (
        _CAPITALISED.fullmatch(word)
        or word.lower() in SENTENCE_STARTERS
        or any(word[len(label) : len(label) + 1].isupper() and word.startswith(label) for label in _GLUED_LABELS)
    ):
        return False  # "Tris.HCl", "Ca.CaM": chemistry, not two sentences
    word_start = _word_start(text, at)
    next_end = _next_space(text, at)
    # Dots between letters elsewhere in the token make it an identifier or a reference
    # ("Common.EditSubmissionSteps.Transform", "J.Steroid Biochem.Mol.Biol.57"), not two sentences.
    if _INNER_DOT.search(text, word_start, at - 1) or _INNER_DOT.search(text, at, next_end):
        return False
    return not _inside_brackets(text, word_start, at - 1, at)


def _is_boundary(text: str, match: re.Match, sentence_start: int) -> bool:
    # Called for every candidate (most of them end a sentence): the groups are read once, and each rule's
    # cheap precondition is tested before its regex.
    punct, closed, cite, next_token = match.groups()
    punct_at = match.start()  # where "punct" starts
    word_start = _word_start(text, punct_at)
    word = text[word_start:punct_at].lstrip(_OPENERS)
    bracketed = next_token[0] in _OPENERS
    following = next_token.lstrip(_OPENERS) or next_token
    first = following[0]
    period = punct == "."

    if cite and cite[0] != "[" and not (len(word) >= 3 and word.isalpha() and word.islower()):
        return False  # digits glued to a period after a number or abbreviation: "1.5 mg", "No.12", "Fig.3"
    if first.islower():
        # Lower case continues the sentence ("e.g. cells", "E. coli strains"), except gene and molecule names
        # that start lower case (p53, mRNA, anti-TNF) and figure panel labels ("b Density of ...").
        return period and _ordinary_word(word) and _starts_lower_case_sentence(text, match.end())
    if first in ",;:%/)]}-\u2013" or (next_token[0] == "[" and _CITATION.fullmatch(next_token)):
        return False  # "...past time?" [28]. These": the citation closes the sentence before it
    if _inside_brackets(text, sentence_start, punct_at, punct_at + len(punct) + len(closed)):
        return False  # "(Max. 93 years; Min. 67 years)", "[Smith et al., Nat. Chem. Biol. 2017]"
    if not period or cite:
        return True  # "?", "!" and "cells.[12]" end a sentence before anything but lower case
    if word in _NEVER_END:
        return False
    if word in _BEFORE_NUMBER:
        return not first.isdigit()
    if word in _END_BEFORE_CAPITAL:
        return first.isupper()
    if word in _MAY_END or ("." in word and _DOTTED.fullmatch(word)):
        return following.rstrip(",;:").lower() in SENTENCE_STARTERS
    if len(word) == 1 and word.isupper():
        # A lone capital is an initial ("by J. Smith", "Citrus sinensis (L.) Osbeck") or a symbol that can end
        # a sentence ("vitamin C.", "hepatitis B."); a name list or a bracket goes on after it ("A. Skillman, A.
        # Luckenbach", "Musca domestica L. (Diptera: Muscidae)").
        if closed or bracketed:
            return False
        if following.rstrip(",;:").lower() in SENTENCE_STARTERS:
            return True  # "studies A, C and D. The vaccine ..."
        return _after_ordinary_lower_word(text, word_start) and not following.endswith(",")
    if not closed and len(word) <= 6 and _ENUMERATOR.fullmatch(word) and (
        word_start == sentence_start or _previous_non_space(text, word_start) in _LIST_OPENERS
    ):
        return False  # "2. The cells were ...", "as follows: 1. Patients ...": the number labels a list item
    return True


def _word_start(text: str, end: int) -> int:
    """Start of the whitespace-delimited word that ends at `end` (looking back at most _WORD_REACH characters)."""
    low = end - _WORD_REACH if end > _WORD_REACH else 0
    space = text.rfind(" ", low, end)
    start = space + 1 if space >= 0 else low
    # A line break or tab can only end the word after its last space: look for one there alone (most have none).
    line, tab = text.rfind("\n", start, end), text.rfind("\t", start, end)
    return max(line, tab) + 1 if line >= 0 or tab >= 0 else start


def _previous_non_space(text: str, at: int) -> str:
    """The last non-space character before `at`: "\n" if a line break comes first, "" at the start of the text."""
    at -= 1
    while at >= 0 and text[at].isspace():
        if text[at] == "\n":
            return "\n"
        at -= 1
    return text[at] if at >= 0 else ""


def _next_non_space(text: str, start: int) -> int:
    match = _NON_SPACE.search(text, start)
    return match.start() if match else len(text)


def _next_space(text: str, start: int) -> int:
    match = _SPACE.search(text, start)
    return match.start() if match else len(text)


def _inside_brackets(text: str, sentence_start: int, punct_at: int, close_end: int) -> bool:
    """Is `punct_at` inside a bracket opened shortly before it in this sentence and not closed by `close_end`?"""
    low = max(sentence_start, punct_at - _BRACKET_REACH)
    opened = text.rfind("(", low, punct_at)
    if opened >= 0 and text.find(")", opened, close_end) < 0:
        return True
    opened = text.rfind("[", low, punct_at)
    return opened >= 0 and text.find("]", opened, close_end) < 0


def _starts_lower_case_sentence(text: str, next_at: int) -> bool:
    """Can the lower-case token at `next_at` start a sentence (p53, mRNA, anti-TNF, a panel label "b FESEM")?"""
    if _LOWER_BIO_START.match(text, next_at):
        return True
    # A single-letter figure panel label followed by a capitalised word.
    return bool(_PANEL_LABEL.match(text, next_at))


def _ordinary_word(word: str) -> bool:
    """A plain word or number, not an abbreviation, initial or dotted acronym."""
    return len(word) > 1 and word not in _NEVER_END and word not in _MAY_END and not _DOTTED.fullmatch(word)


def _after_ordinary_lower_word(text: str, letter_at: int) -> bool:
    """Is the word before the capital letter at `letter_at` a lower-case content word ("vitamin", "kinase")?

    Not when it is a function word ("by J. Smith"), a capitalised name ("Smith J."), ends a clause, or when the
    letter opens the text. Of a hyphenated word only the last part counts ("NF-kappa B.").
    """
    end = letter_at
    while end > 0 and text[end - 1].isspace():
        end -= 1
    previous = text[_word_start(text, end) : end].lstrip(_OPENERS)
    if not previous or previous[-1] in ".,;:":
        return False
    previous = previous[previous.rfind("-") + 1 :]  # "NF-kappa B", "I-kappa B": the symbol follows "kappa"
    return previous[:1].islower() and previous.lower() not in _BEFORE_INITIAL


def _label_start(match: re.Match) -> Optional[int]:
    """Where a known section label ends the upper-case run `match` ("HIV RESULTS" -> "RESULTS"), if one does."""
    run = match.group()
    for offset in [0] + [i + 1 for i, char in enumerate(run) if char == " "]:
        if run[offset:] in SECTION_LABELS:
            return match.start() + offset
    return None


def spans_from_boundaries(text: str, boundaries: Iterable[int]) -> list[Span]:
    """Cut `text` at `boundaries` and trim each piece of surrounding whitespace; empty pieces are dropped."""
    spans = []
    start = 0
    for cut in [*boundaries, len(text)]:
        left, right = start, cut
        while left < right and text[left].isspace():
            left += 1
        while right > left and text[right - 1].isspace():
            right -= 1
        if right > left:
            spans.append((left, right))
        start = cut
    return spans


class SentenceSplitter:
    """Split text into sentences: exact, ordered, whitespace-trimmed substrings covering all non-space text.

    model=None uses the fast biomedical rules (`find_boundaries`, no tokenizer). model=PATH_OR_NAME loads a
    trained spaCy pipeline and uses its sentence boundaries ("senter", else "parser", else a rule sentencizer),
    with all other components disabled. Create one per process or worker and reuse it.
    """

    def __init__(self, model: Optional[str] = None, batch_size: int = 64):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.model = model
        self.batch_size = batch_size
        self._nlp = None
        if model is not None:
            from corpus import sentences_spacy  # spaCy (and what it imports) only when a model is asked for

            self._nlp = sentences_spacy.load_pipeline(model)
            self._doc_spans = sentences_spacy.doc_spans

    def split(self, text: str) -> list[str]:
        return [text[start:end] for start, end in self.split_spans(text)]

    def split_spans(self, text: str) -> list[Span]:
        """(start, end) character offsets of the sentences of `text`."""
        if self._nlp is None:
            return spans_from_boundaries(text, find_boundaries(text))
        return self._doc_spans(self._nlp(text))

    def split_batch(self, texts: Iterable[str]) -> Iterator[list[str]]:
        """Sentences of each text, in order; spaCy pipelines process the texts in batches (`nlp.pipe`)."""
        for texts_chunk, spans_chunk in self._span_batches(texts):
            for text, spans in zip(texts_chunk, spans_chunk):
                yield [text[start:end] for start, end in spans]

    def split_spans_batch(self, texts: Iterable[str]) -> Iterator[list[Span]]:
        for _, spans_chunk in self._span_batches(texts):
            yield from spans_chunk

    def _span_batches(self, texts: Iterable[str]) -> Iterator[tuple[list[str], list[list[Span]]]]:
        iterator = iter(texts)
        while chunk := list(islice(iterator, self.batch_size)):
            if self._nlp is None:
                yield chunk, [self.split_spans(text) for text in chunk]
            else:
                docs = self._nlp.pipe(chunk, batch_size=self.batch_size)
                yield chunk, [self._doc_spans(doc) for doc in docs]


def main(argv: Optional[list[str]] = None) -> int:
    """`python -m corpus.sentences [FILE ...]`: print the sentences of each file (or stdin), one per line."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m corpus.sentences",
        description="Split text into sentences (one per line, a blank line between inputs). Each FILE is one text; "
        "with no FILE, stdin is. Sentences are exact substrings of the input; line breaks inside a sentence are "
        "printed as spaces.",
    )
    parser.add_argument("files", nargs="*", help="UTF-8 text files (default: stdin)")
    parser.add_argument("--model", help="a trained spaCy pipeline (directory or package name) instead of the rules")
    parser.add_argument("--spans", action="store_true", help="print START<TAB>END<TAB>SENTENCE (character offsets)")
    args = parser.parse_args(argv)
    splitter = SentenceSplitter(model=args.model)
    texts = [open(path, encoding="utf-8").read() for path in args.files] if args.files else [sys.stdin.read()]
    for index, (text, spans) in enumerate(zip(texts, splitter.split_spans_batch(texts))):
        if index:
            print()
        for start, end in spans:
            sentence = text[start:end].replace("\r", " ").replace("\n", " ")
            print(f"{start}\t{end}\t{sentence}" if args.spans else sentence)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
