"""Quality figures of a vocabulary: how it splits held-apart text, compared with other vocabularies."""
from __future__ import annotations

import logging
from typing import Mapping, Sequence

from vocab.pretokenize import WordSplitter
from vocab.tokenizer import Tokenizer
from vocab.vocabulary import SPECIAL_TOKENS

logger = logging.getLogger(__name__)


def split_quality(tokenizer: Tokenizer, texts: Sequence[str]) -> dict:
    """WordPiece pieces per word, [UNK] rate (words that become [UNK]) and the share of words kept whole,
    over the words of `texts` as BERT's basic tokenization (with this vocabulary's settings) splits them."""
    splitter = WordSplitter(tokenizer.do_lower_case, tokenizer.strip_accents)
    words = [word for text in texts for word in splitter.words(text)]
    pieces = tokenizer.encode_batch(words)
    n = len(words)
    unk = sum(1 for ids in pieces if ids == [tokenizer.unk_id])
    whole = sum(1 for ids in pieces if len(ids) == 1 and ids[0] != tokenizer.unk_id)
    total = sum(len(ids) for ids in pieces)
    return {
        "words": n,
        "pieces": total,
        "pieces_per_word": round(total / n, 4) if n else None,
        "unk_rate": round(unk / n, 6) if n else None,
        "whole_word_rate": round(whole / n, 4) if n else None,
    }


def _content(tokens: Sequence[str]) -> set[str]:
    return {t for t in tokens if t and t not in SPECIAL_TOKENS and not (t.startswith("[unused") and t.endswith("]"))}


def overlap(ours: Sequence[str], other: Sequence[str]) -> dict:
    """Shared entries (special and [unused] slots left out), as a count and a share of each vocabulary."""
    a, b = _content(ours), _content(other)
    shared = len(a & b)
    return {
        "shared": shared,
        "fraction_of_ours": round(shared / len(a), 4) if a else None,
        "fraction_of_other": round(shared / len(b), 4) if b else None,
    }


def quality_report(
    tokenizer: Tokenizer,
    heldout_texts: Sequence[str],
    heldout_source: str,
    comparisons: Mapping[str, Tokenizer],
) -> dict:
    """`heldout` quality of this vocabulary and each comparison, and overlap with each comparison."""
    report: dict = {"heldout": {"source": heldout_source, "vocabularies": {}}, "overlap": {}}
    if heldout_texts:
        report["heldout"]["vocabularies"]["ours"] = split_quality(tokenizer, heldout_texts)
        for name, other in comparisons.items():
            report["heldout"]["vocabularies"][name] = split_quality(other, heldout_texts)
    for name, other in comparisons.items():
        report["overlap"][name] = overlap(tokenizer.tokens, other.tokens)
    for name, figures in report["heldout"]["vocabularies"].items():
        logger.info("held-apart text (%s), %s vocabulary: %.4f pieces/word, [UNK] rate %.6f, %.1f%% words whole",
                    heldout_source, name, figures["pieces_per_word"], figures["unk_rate"],
                    100 * figures["whole_word_rate"])
    for name, figures in report["overlap"].items():
        logger.info("overlap with %s: %d entries (%.1f%% of ours, %.1f%% of theirs)", name, figures["shared"],
                    100 * figures["fraction_of_ours"], 100 * figures["fraction_of_other"])
    return report
