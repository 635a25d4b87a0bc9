"""The text of a JATS article (NLM 2.x, JATS 1.x) as a reader reads it: titles, abstracts, body paragraphs.

Decisions for pretraining text (docs/pmc.md gives the reasons); `corpus.pmc` documents them for users:

* Dropped with their content: references, tables, display formulas, figures (their captions are kept with
  `captions=True`), supplementary material, footnotes, glossaries and definition lists, `object-id`, and back
  matter except appendices. Appendices are the authors' prose (extended methods, derivations) and are kept.
  Body sections that hold back matter (BMC's "Competing interests", OUP's "FUNDING"...) are dropped too.
* Section, box and list labels and titles are structure: they make the section path, never a paragraph. A
  paragraph holding a list, box or quote is split around it; each list item is its own paragraph.
* Inline formulas: the MathML token text, once; a TeX-only formula only when it is plain (`$$a$$`, `{T}_{g}`).
  No placeholder token: "[formula]" would become one of the most frequent words of the corpus.
* Citations and footnote markers go with the brackets, separators and filler words they leave behind; an
  author-year citation that is part of the sentence ("<xref>Smith et al. (2001)</xref> showed") stays.
"""
from __future__ import annotations

import re
from typing import Iterator, Optional

from corpus.xmltext import collapse_spaces, localname

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

SectionPath = tuple[str, ...]

# Elements whose content is not text of the paragraph they sit in.
_DROPPED = frozenset({
    "ref-list", "table-wrap", "table-wrap-group", "table", "array", "disp-formula", "disp-formula-group", "fig",
    "fig-group", "graphic", "inline-graphic", "media", "supplementary-material", "chem-struct-wrap", "fn",
    "fn-group", "ack", "glossary", "def-list", "preformat", "code", "notes", "object-id", "processing-meta",
    "floats-group", "sub-article", "response", "kwd-group", "alt-title", "sec-meta", "label", "title",
    "funding-group", "permissions", "annotation", "annotation-xml",
})
# Containers of paragraphs: a paragraph holding one is split around it.
_CONTAINERS = frozenset({
    "p", "sec", "app", "app-group", "boxed-text", "list", "list-item", "disp-quote", "statement", "speech",
    "verse-group", "question", "answer", "explanation", "caption", "body", "abstract", "trans-abstract",
})
_SECTIONS = frozenset({"sec", "app", "app-group", "boxed-text"})
_FLOATS = frozenset({"fig", "fig-group", "table-wrap", "table-wrap-group"})
_FORMULAS = frozenset({"inline-formula", "alternatives", "math", "tex-math"})
# Marker elements that take no text: citations, footnote and affiliation markers.
_MARKER_XREFS = frozenset({"bibr", "fn", "table-fn", "aff", "corresp", "author-notes"})

_LETTER = re.compile(r"[^\W\d_]")  # an author-year citation has letters, a numbered one none
_DOI_PARAGRAPH = re.compile(r"DOI:\s*(?:https?://\S+|10\.\S+)", re.I)


def text_of(element) -> str:
    """The clean text of a title-like element (article title, label): inline markup without gluing or splitting
    words, citation and footnote markers removed."""
    return _Text.of(element)


class _Text:
    """Collects the text of one paragraph as a reader sees it, with citations marked for removal.

    Inline markup adds no space ("H<sub>2</sub>O" -> "H2O"). Citations are appended as private-use markers and
    resolved by `_clean_citations` once the whole paragraph is known, since what must go with them (brackets,
    separators) only shows in the assembled text.
    """

    __slots__ = ("parts", "authors")

    def __init__(self):
        self.parts: list[str] = []
        self.authors: list[str] = []

    @classmethod
    def of(cls, element) -> str:
        """The cleaned text of `element`'s content (a title, label or caption title)."""
        text = cls()
        text.content(element)
        return text.result()

    def content(self, element) -> None:
        if element.text:
            self.parts.append(element.text)
        for child in element:
            self.child(child)
            if child.tail:
                self.parts.append(child.tail)

    def child(self, element) -> None:
        name = localname(element)
        if not name:
            return
        if name in _DROPPED:
            self.parts.append(" ")  # "given by <disp-formula/> where" must not glue "by" and "where"
        elif name == "xref":
            self.xref(element)
        elif name in _FORMULAS:
            self.parts.append(_formula_text(element))
        elif name in _CONTAINERS or name in ("break", "td", "th", "term", "def"):
            self.parts.append(" ")
            self.content(element)
            self.parts.append(" ")
        else:
            self.content(element)

    def xref(self, element) -> None:
        kind = element.get("ref-type")
        if kind not in _MARKER_XREFS:
            self.content(element)
            return
        text = "".join(element.itertext())
        if kind == "bibr" and _LETTER.search(text):
            self.authors.append(text)
            self.parts.append(f"{_AUTHOR_OPEN}{len(self.authors) - 1}{_AUTHOR_CLOSE}")
        else:
            self.parts.append(_CITE)

    def result(self) -> str:
        text = collapse_spaces("".join(self.parts))
        if _CITE in text or _AUTHOR_OPEN in text:
            text = _clean_citations(text, self.authors)
        return _tidy(text)


def _formula_text(element) -> str:
    """MathML token text of an inline formula; a plain TeX alternative only when there is no MathML."""
    math = next((e for e in element.iter() if localname(e) == "math"), None)  # iter() starts with element
    if math is not None:
        return _INVISIBLE_OPERATORS.sub("", _mathml_text(math))
    tex = next((e for e in element.iter() if localname(e) == "tex-math"), None)
    if tex is not None:
        return _plain_tex("".join(tex.itertext()))
    return _Text.of(element)


_INVISIBLE_OPERATORS = re.compile("[\u2061-\u2064]")  # function application, invisible times/separator/plus


def _mathml_text(element) -> str:
    name = localname(element)
    if name in ("annotation", "annotation-xml", "mspace", "mglyph", "none", "mprescripts") or not name:
        return ""
    children = "".join(_mathml_text(child) for child in element)
    if name == "mfenced":  # its fences are attributes, not text
        separators = element.get("separators", ",").strip()
        parts = [_mathml_text(child) for child in element]
        joined = (separators[:1] if len(parts) > 1 else "").join(parts)
        return element.get("open", "(") + joined + element.get("close", ")")
    return (element.text or "").strip() + children


_TEX_DOCUMENT = re.compile(r"\\begin\{document\}(.*?)\\end\{document\}", re.S)
_TEX_STYLE = re.compile(r"\\(?:text|mathrm|mathit|mathbf|mathsf|mathtt|rm|it|bf|mbox)\b")


def _plain_tex(tex: str) -> str:
    match = _TEX_DOCUMENT.search(tex)
    body = (match.group(1) if match else tex).strip().strip("$").strip()
    body = re.sub(r"^\\[(\[]|\\[)\]]$", "", body)
    body = _TEX_STYLE.sub("", body)
    if "\\" in body:
        return ""  # TeX commands: no faithful plain text without a TeX renderer
    return re.sub(r"[{}^_]", "", body)


# --- citations ----------------------------------------------------------------------------------------------------

_CITE = "\ue000"  # a citation or footnote marker, always removed
_AUTHOR_OPEN, _AUTHOR_CLOSE = "\ue001", "\ue002"  # an author-year citation (index into _Text.authors)
_AUTHOR = re.compile(f"{_AUTHOR_OPEN}(\\d+){_AUTHOR_CLOSE}")
_REMOVED = "\ue003"  # where citations were cut out; goes with the space before it: "time (3)-based" -> "time-based"
_SEPARATOR = r"(?:[,;\u2013\u2014\u2212-]|\band\b|&)"
# Patterns start with a literal or a rare character class where they can: re skips ahead to those quickly.
_RUN = re.compile(f"{_CITE}(?: ?{_SEPARATOR}? ?{_CITE})*")
_DOUBLE_STOP = re.compile(r"(?<!\.)\.\.(?!\.)")
_GROUP = re.compile(r"([(\[])([^()\[\]]*)([)\]])")
_FILLER = re.compile(
    r"(?:[\s,.:]|\b(?:see|e\.?g|i\.?e|cf|for|a|an|the|review|reviews|reviewed|in|and|also|refs?|references?|"
    r"therein|as|previously|recently|examples?|described|discussed|summari[sz]ed|by|of)\b)*",
    re.I,
)


def _strip_item(item: str) -> str:
    """One `;`-separated item of a bracketed group, without its citations; "" when nothing else is left."""
    item = _RUN.sub("", _AUTHOR.sub(_CITE, item)).replace(_REMOVED, "").strip(" ,;:\u2013\u2014-")
    return "" if _FILLER.fullmatch(item) else item


def _clean_group(match: re.Match) -> str:
    opening, content, closing = match.groups()
    if _CITE not in content and _AUTHOR_OPEN not in content:
        return match.group(0)
    kept = [item for item in map(_strip_item, content.split(";")) if item]
    return f"{opening}{'; '.join(kept)}{closing}" if kept else _REMOVED


def _clean_citations(text: str, authors: list[str]) -> str:
    """Remove citation markers with the brackets and separators they leave; keep narrative author-year ones."""
    while _CITE in text or _AUTHOR_OPEN in text:  # innermost brackets first: "(Smith, 2001; [3])"
        cleaned = _GROUP.sub(_clean_group, text)
        if cleaned == text:
            break
        text = cleaned
    text = _RUN.sub(_REMOVED, text).replace(" " + _REMOVED, "").replace(_REMOVED, "")
    if ".." in text:
        text = _DOUBLE_STOP.sub(".", text)  # "Amir et al. [3]." -> "Amir et al."
    return _AUTHOR.sub(lambda m: authors[int(m.group(1))], text) if _AUTHOR_OPEN in text else text




# _tidy's patterns expect single spaces (see _Text.result).
_EMPTY_BRACKETS = re.compile(r"[(\[][ ,;]*[)\]]")
_SPACE_INSIDE_OPEN = re.compile(r"([(\[]) ")
_SEPARATOR_BEFORE_CLOSE = re.compile(r"[ ,;:]+([)\]])")
_SEPARATOR_CLOSE = re.compile(r"(?<=[ ,;:])[)\]]")  # finds what _SEPARATOR_BEFORE_CLOSE fixes, faster
_SPACE_BEFORE_PUNCT = re.compile(r" ([,.;:!?])(?= |$)")
_COMMA_BEFORE_STOP = re.compile(r", ?([.;:!?])(?= |$)")


def _tidy(text: str) -> str:
    """Mend, in single-spaced text, the punctuation that removed markup or citations left behind.

    The tests before the rewrites are cheap guards: most paragraphs need none of them.
    """
    if "(" in text or "[" in text:
        text = _EMPTY_BRACKETS.sub("", text)
        text = _SPACE_INSIDE_OPEN.sub(r"\1", text)
        if _SEPARATOR_CLOSE.search(text):
            text = _SEPARATOR_BEFORE_CLOSE.sub(r"\1", text)
    if "  " in text:  # where something between two spaces was removed
        text = collapse_spaces(text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    if "," in text:
        text = _COMMA_BEFORE_STOP.sub(r"\1", text)
    return text.strip()


# --- paragraphs and sections --------------------------------------------------------------------------------------

class _Flow:
    """Walks block-level content and yields (section path, paragraph text) in document order."""

    def __init__(self, captions: bool = False, drop_back_matter: bool = True):
        self.captions_wanted = captions
        self.drop_back_matter = drop_back_matter

    def paragraphs(self, element, path: SectionPath) -> Iterator[tuple[SectionPath, str]]:
        """The paragraphs of `element`: its own inline text, split around the containers inside it."""
        text = _Text()
        captions: list[tuple[SectionPath, str]] = []
        if element.text:
            text.parts.append(element.text)
        for child in element:
            name = localname(child)
            if name in _CONTAINERS:
                yield from self._emit(path, text.result())
                text = _Text()
                yield from self.block(child, path)
            elif name in _FLOATS:
                if self.captions_wanted:
                    captions.extend(self.captions(child))  # after the sentence the figure interrupts
            else:
                text.child(child)
            if child.tail:
                text.parts.append(child.tail)
        yield from self._emit(path, text.result())
        yield from captions

    @staticmethod
    def _emit(path: SectionPath, paragraph: str) -> Iterator[tuple[SectionPath, str]]:
        if paragraph and not _DOI_PARAGRAPH.fullmatch(paragraph):
            yield path, paragraph

    def block(self, element, path: SectionPath) -> Iterator[tuple[SectionPath, str]]:
        if localname(element) in _SECTIONS:
            title = _section_title(element)
            if self.drop_back_matter and _is_back_matter(element, title):
                return
            path = path + (title,) if title else path
        yield from self.paragraphs(element, path)

    def captions(self, element) -> Iterator[tuple[SectionPath, str]]:
        """A figure's or table's caption (title and paragraphs) under the section named by its label."""
        if localname(element) in ("fig-group", "table-wrap-group"):
            for child in element:
                if localname(child) in _FLOATS:
                    yield from self.captions(child)
            return
        label = element.find("label")
        label = _Text.of(label) if label is not None else ""
        section = label.rstrip(".:") or ("Table" if localname(element) == "table-wrap" else "Figure")
        for caption in element.iterfind("caption"):
            title = caption.find("title")
            if title is not None:
                yield from self._emit((section,), _Text.of(title))
            yield from self.paragraphs(caption, (section,))


# Body sections that hold back matter (BMC, OUP): not prose about biomedicine.
_BACK_MATTER_SEC_TYPES = frozenset({
    "display-objects", "supplementary-material", "COI-statement", "funding-information", "data-availability",
    "author-contributions", "acknowledgements", "ethics-statement", "abbreviations",
})
_BACK_MATTER_TITLE = re.compile(
    r"(?:competing|conflicts?\s+of|declaration\s+of(?:\s+competing)?)\s+interests?(?:\s+statement)?|"
    r"authors?['’]?\s+contributions?|acknowledge?ments?|funding(?:\s+(?:information|statement|sources?))?|"
    r"pre-?publication\s+history|(?:list\s+of\s+)?abbreviations(?:\s+used)?|"
    r"(?:data\s+)?availability\s+of\s+(?:data|supporting\s+data)(?:\s+and\s+materials?)?|"
    r"data\s+availability(?:\s+statement)?|consent\s+for\s+publication|"
    r"ethics\s+approval(?:\s+and\s+consent\s+to\s+participate)?|additional\s+files?|"
    r"supplementary\s+(?:material|information|data)|electronic\s+supplementary\s+material|"
    r"(?:financial\s+)?disclosures?",
    re.I,
)


def _is_back_matter(element, title: str) -> bool:
    return element.get("sec-type") in _BACK_MATTER_SEC_TYPES or bool(_BACK_MATTER_TITLE.fullmatch(title))


def _section_title(element) -> str:
    """The title of a section, appendix or box: `title`, else a box's caption title, else a box's label."""
    title = element.find("title")
    if title is None:
        title = element.find("caption/title")
    if title is None and localname(element) == "boxed-text":
        title = element.find("label")
    return _Text.of(title).rstrip(".:") if title is not None else ""


_MAIN_ABSTRACT_TYPES = frozenset({None, "", "abstract", "main", "normal", "structured"})


def abstracts(meta, language: Optional[str]) -> tuple[list[dict], list[dict]]:
    """From `article-meta`: the main abstract as [{"label", "text"}] (one entry per paragraph; a structured
    abstract's section titles are the labels) and typed (graphical, teaser, summary, executive-summary...) or
    translated abstracts as [{"language", "type", "text"}], their paragraphs joined by a space."""
    flow = _Flow(drop_back_matter=False)  # a structured abstract's "Funding" section is abstract text
    main: list[dict] = []
    others: list[dict] = []
    for element in meta:
        name = localname(element)
        if name not in ("abstract", "trans-abstract"):
            continue
        paragraphs = list(flow.paragraphs(element, ()))
        kind = element.get("abstract-type")
        if name == "abstract" and kind in _MAIN_ABSTRACT_TYPES:
            main += [{"label": " / ".join(path) or None, "text": text} for path, text in paragraphs]
        elif paragraphs:
            others.append({
                "language": element.get(XML_LANG) or language,
                "type": kind or name,
                "text": " ".join(text for _, text in paragraphs),
            })
    return main, others


def body_paragraphs(root, captions: bool = False, subarticles: bool = False) -> Iterator[tuple[str, str]]:
    """(section path "Title / Subtitle" or "", paragraph) in document order: the body, appendices, boxes kept in
    floats-group, figure and table captions (`captions`, under "Figure 1" etc.) and sub-articles (`subarticles`,
    e.g. eLife decision letters, under their own title)."""
    for path, text in _article_parts(root, _Flow(captions), subarticles):
        yield " / ".join(path), text


def _article_parts(root, flow: _Flow, subarticles: bool) -> Iterator[tuple[SectionPath, str]]:
    for part in root:
        name = localname(part)
        if name == "body":
            yield from flow.paragraphs(part, ())
        elif name == "back":
            for child in part:
                if localname(child) in ("app-group", "app"):
                    yield from flow.block(child, ())
        elif name == "floats-group":
            for child in part:
                if localname(child) == "boxed-text":
                    yield from flow.block(child, ())
                elif localname(child) in _FLOATS and flow.captions_wanted:
                    yield from flow.captions(child)
        elif name in ("sub-article", "response") and subarticles:
            yield from _subarticle(part, (), flow)


def _subarticle(element, path: SectionPath, flow: _Flow) -> Iterator[tuple[SectionPath, str]]:
    title = element.find("front-stub/title-group/article-title")
    if title is None:
        title = element.find("front/article-meta/title-group/article-title")
    name = _Text.of(title) if title is not None else ""
    path = path + ((name or element.get("article-type") or localname(element)),)
    for part in element:
        if localname(part) == "body":
            yield from flow.paragraphs(part, path)
        elif localname(part) in ("sub-article", "response"):
            yield from _subarticle(part, path, flow)
