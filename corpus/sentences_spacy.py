"""The spaCy side of sentence splitting: the "biomedical_sentencizer" component and trained-pipeline loading.

`corpus.sentences` stays free of spaCy (whose import costs seconds and a few hundred MB of memory per worker);
it imports this module only when `SentenceSplitter(model=...)` asks for a trained pipeline. Import this module
to register the component factory:

    import spacy, corpus.sentences_spacy
    nlp = spacy.blank("en"); nlp.add_pipe("biomedical_sentencizer")
"""
from __future__ import annotations

import logging
from typing import Iterable, Iterator

import numpy
import spacy
from spacy.attrs import IDX, SENT_START
from spacy.language import Language
from spacy.tokens import Doc

from corpus.sentences import Span, _next_non_space, find_boundaries, spans_from_boundaries

log = logging.getLogger(__name__)

_NOT_SENT_START = numpy.iinfo(numpy.uint64).max  # -1 in spaCy's uint64 attribute arrays


@Language.factory("biomedical_sentencizer")
def create_biomedical_sentencizer(nlp: Language, name: str) -> "BiomedicalSentencizer":
    """spaCy factory: `nlp.add_pipe("biomedical_sentencizer")` after importing this module."""
    return BiomedicalSentencizer()


class BiomedicalSentencizer:
    """spaCy component: sets `Token.is_sent_start` from `find_boundaries` run on the Doc's text.

    A sentence that would start inside a token (the tokenizer kept "cells.[12]" or "world.Non" together) starts
    at the next token instead, so spaCy's token-level sentences never break a token.
    """

    def __call__(self, doc: Doc) -> Doc:
        if not len(doc):
            return doc
        text = doc.text
        token_starts = doc.to_array(IDX).astype(numpy.int64)
        sentence_starts = [_next_non_space(text, cut) for cut in find_boundaries(text)]
        # Setting Token.is_sent_start one token at a time re-checks the whole Doc on every call (quadratic);
        # one from_array call sets them all. SENT_START is 1 for a start and -1 (as uint64) for "not a start".
        values = numpy.full((len(doc), 1), _NOT_SENT_START, dtype=numpy.uint64)
        values[0] = 1
        indices = numpy.searchsorted(token_starts, sentence_starts, side="left")
        values[indices[indices < len(doc)]] = 1
        doc.from_array([SENT_START], values)
        return doc

    def pipe(self, docs: Iterable[Doc], batch_size: int = 128) -> Iterator[Doc]:
        for doc in docs:
            yield self(doc)


def doc_spans(doc: Doc) -> list[Span]:
    text = doc.text
    return spans_from_boundaries(text, [sentence.start_char for sentence in doc.sents][1:])


# Components that set sentence boundaries, in order of preference; the first one present is used.
_BOUNDARY_COMPONENTS = ("senter", "parser", "biomedical_sentencizer", "pysbd_sentencizer", "sentencizer")


def load_pipeline(model: str) -> Language:
    # scispacy's pipelines name its tokenizer and sentencizer; importing registers them with spaCy.
    from scispacy import custom_sentence_segmenter, custom_tokenizer  # noqa: F401

    try:
        nlp = spacy.load(model)
    except OSError as error:
        raise ValueError(
            f"cannot load spaCy pipeline {model!r}: give a directory written by nlp.to_disk() or the name of an "
            f"installed pipeline package ({error})"
        ) from error
    names = nlp.component_names  # includes disabled components (a trained "senter" ships disabled)
    boundary = next((name for name in _BOUNDARY_COMPONENTS if name in names), None)
    if boundary is None:
        raise ValueError(
            f"spaCy pipeline {model!r} has no component that sets sentence boundaries "
            f"(looked for {', '.join(_BOUNDARY_COMPONENTS)}); its components: {', '.join(names) or 'none'}"
        )
    keep = {boundary} | {name for name in names if boundary in _listeners(nlp, name)}
    for name in names:
        if name in keep and name in nlp.disabled:
            nlp.enable_pipe(name)
        elif name not in keep and name not in nlp.disabled:
            nlp.disable_pipe(name)
    log.info("spaCy pipeline %s: sentence boundaries from %r, enabled %s", model, boundary, nlp.pipe_names)
    return nlp


def _listeners(nlp: Language, name: str) -> list[str]:
    """Components that listen to the shared embedding component `name` (tok2vec, transformer)."""
    component = nlp.get_pipe(name)
    return list(getattr(component, "listening_components", []) or [])
