"""Boilerplate lines: sentences repeated across many documents are kept in one document only (C4-style).

TFDS's C4 builder keys every line, picks one page per line by hash and removes the line from every other
page. Here the line is a sentence, the key ignores case, spacing, punctuation and the digits of years and
volume numbers ("(c) 2015 Elsevier Ltd. All rights reserved." and "© 2016 Elsevier Ltd All rights reserved"
share one key), and only sentences found in at least `min_documents` documents are touched, so a sentence two
related papers share is not treated as boilerplate. The winner is the document with the smallest seeded hash
of its id: deterministic for a seed, and spread over the corpus rather than always the same source.
"""
from __future__ import annotations

import hashlib
import re
from typing import Iterable, Iterator, Optional

from corpus.assemble import CorpusDocument
from corpus.minhash import normalised_words

_DIGITS = re.compile(r"\d+")
_ASCII_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= byte <= 0x39 else byte for byte in range(256))


KEY_BYTES = 8  # a line key is this many bytes of a BLAKE2b digest


def line_key(sentence: str) -> Optional[bytes]:
    """The boilerplate key of a sentence, or None when it has no words to compare."""
    return key_of_words(normalised_words(sentence.replace("©", "(c)")))


def key_of_words(words: list[str]) -> Optional[bytes]:
    """The line key of a sentence's normalised words (digits count as one, so years and grant numbers vary)."""
    return key_of_text(" ".join(words)) if words else None


def key_of_text(joined_words: str) -> bytes:
    """`key_of_words` of the words joined by single spaces."""
    return key_of_utf8(joined_words.encode("utf-8"))


def key_of_utf8(joined_words: bytes) -> bytes:
    r"""`key_of_text` of the joined words' UTF-8 bytes. ASCII (most sentences) goes 2x faster than the regex: there
    `\d` is 0-9, and with every digit made "0" the runs of "0" are the runs of digits, each shortened to one "0"."""
    if joined_words.isascii():
        text = joined_words.translate(_ASCII_DIGITS_AS_ZERO)
        while b"00" in text:
            text = text.replace(b"00", b"0")
    else:
        text = _DIGITS.sub("0", joined_words.decode("utf-8")).encode("utf-8")
    return hashlib.blake2b(text, digest_size=KEY_BYTES).digest()


def document_line_keys(document: CorpusDocument) -> set[bytes]:
    """The distinct line keys of a document (a sentence repeated inside one document counts once)."""
    keys = (line_key(sentence) for sentence in document.sentences())
    return {key for key in keys if key is not None}


def winner_order(seed: int, document_id: str) -> bytes:
    return hashlib.blake2b(f"{seed}:{document_id}".encode("utf-8"), digest_size=8).digest()


def occurrence(seed: int, document_id: str) -> bytes:
    """A document's entry in a line's group: its winner order (8 bytes), then its UTF-8 id. As bytes, these
    sort as (order, id) pairs do, and one is a single small object."""
    return winner_order(seed, document_id) + document_id.encode("utf-8")


# Line groups are shuffled by a partition of their key, its first 2 bytes (65,536 partitions), the rest of the
# key travelling in each occurrence's value: nearly every line is in one document, and a shuffle's per-key cost
# is then paid once per partition instead of once per sentence (`corpus.dedup` does the same for LSH buckets).
_PARTITION_BYTES = 2


def line_occurrence(key: bytes, occurrence_: bytes) -> tuple[bytes, bytes]:
    """(partition, value) of a document's `occurrence` of the line with this key."""
    return key[:_PARTITION_BYTES], key[_PARTITION_BYTES:] + occurrence_


def partition_losers(partition: bytes, values: Iterable[bytes], min_documents: int,
                     rest_bytes: int = KEY_BYTES - _PARTITION_BYTES) -> tuple[int, Iterator[tuple[str, bytes]]]:
    """(number of lines found in at least `min_documents` documents, an iterator of (document id, line key) to
    remove) for one partition's `line_occurrence` values.

    A line stays in its smallest occurrence (winner order, then id) and goes from the others; nothing is removed
    below `min_documents`. `values` is iterated twice (a Beam grouped value can be) and the losers come from the
    second pass: what is held is a count and a winner per line of the partition (a line in millions of documents
    as one), never the occurrences.
    """
    lines: dict[bytes, object] = {}  # line -> its one occurrence, or [count, winner] once it has two
    for value in values:
        line, occurrence_ = value[:rest_bytes], value[rest_bytes:]
        state = lines.get(line)
        if state is None:
            lines[line] = occurrence_
        elif isinstance(state, bytes):
            lines[line] = [2, min(state, occurrence_)]
        else:
            state[0] += 1
            if occurrence_ < state[1]:
                state[1] = occurrence_
    repeated = {line: state[1] for line, state in lines.items()
                if not isinstance(state, bytes) and state[0] >= min_documents}
    del lines

    def losers() -> Iterator[tuple[str, bytes]]:
        if not repeated:
            return
        for value in values:
            line, occurrence_ = value[:rest_bytes], value[rest_bytes:]
            winner = repeated.get(line)
            if winner is not None and occurrence_ != winner:
                yield occurrence_[8:].decode("utf-8"), partition + line

    return len(repeated), losers()


def losing_documents(occurrences: Iterable[bytes], min_documents: int) -> tuple[int, Iterator[str]]:
    """(number of documents, ids to remove the line from) for one line's `occurrence` values (two passes)."""
    count = sum(1 for _ in occurrences)
    _, losers = partition_losers(b"", occurrences, min_documents, rest_bytes=0)
    return count, (document_id for document_id, _ in losers)


def remove_lines(document: CorpusDocument, keys: set[bytes]) -> list[tuple[bytes, str]]:
    """Drop the sentences whose key is in `keys` (in place); returns (key, sentence) for each one dropped."""
    removed = []
    for paragraph in document.paragraphs:
        kept = []
        for sentence in paragraph.sentences:
            key = line_key(sentence)
            if key is not None and key in keys:
                removed.append((key, sentence))
            else:
                kept.append(sentence)
        paragraph.sentences = kept
    document.paragraphs = [paragraph for paragraph in document.paragraphs if paragraph.sentences]
    return removed
