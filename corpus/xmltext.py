"""Safe XML parsing and markup-aware text extraction shared by the PubMed and JATS parsers."""
from __future__ import annotations

import re
from typing import Iterable, Optional

from lxml import etree

_SPACES = re.compile(r"\s+")


def safe_parser(**overrides) -> etree.XMLParser:
    """An lxml parser that never resolves entities, never loads a DTD and never touches the network.

    Create one per worker/thread and reuse it: building a parser costs more than parsing a small record.
    """
    options = dict(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )
    options.update(overrides)
    return etree.XMLParser(**options)


def localname(element) -> str:
    """Tag name without namespace ("mml:math" -> "math"); "" for comments, PIs and entities."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def collapse_spaces(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def inline_text(
    element,
    skip: Iterable[str] = (),
    blocks: Iterable[str] = (),
    replace: Optional[dict] = None,
) -> str:
    """The text of `element` as a reader sees it.

    Inline markup (`<i>`, `<sup>`, `<sub>`, `<b>`, MathML tokens) adds no space, so "Student's <i>t</i>-test"
    stays "Student's t-test" and "H<sub>2</sub>O" stays "H2O". Elements named in `skip` are dropped with
    their content (their tail text is kept); elements named in `blocks` are set off by spaces, so two
    paragraphs never glue together; `replace` maps a tag name to the text it stands for.
    """
    skip = frozenset(skip)
    blocks = frozenset(blocks)
    replace = replace or {}
    parts: list[str] = []

    def walk(node) -> None:
        name = localname(node)
        if name in replace:
            parts.append(replace[name])
            return
        block = name in blocks
        if block:
            parts.append(" ")
        if node.text:
            parts.append(node.text)
        for child in node:
            if localname(child) not in skip:
                walk(child)
            if child.tail:
                parts.append(child.tail)
        if block:
            parts.append(" ")

    walk(element)
    return collapse_spaces("".join(parts))
