"""What the corpus job's dedup steps need from one document, computed in one pass over its words.

A `Fingerprint` holds a document's exact-duplicate key, its MinHash signature, its distinct boilerplate line
keys, its survivor rank, its sentence and word counts, its size in a text shard and its title. It is small next
to the document (a PMC article's is a few hundredths of it), so the dedup graph (exact duplicates, near
duplicates, boilerplate lines) moves fingerprints, and the documents meet their verdicts once, in their shard.
Each key is the one `corpus.dedup` and `corpus.boilerplate` define (the tests check it), from words normalised
once per sentence instead of once per step, as UTF-8 bytes.
"""
from __future__ import annotations

import hashlib
from typing import NamedTuple, Optional

from corpus import boilerplate
from corpus.assemble import CorpusDocument, is_full_text
from corpus.dedup import Rank, rank_of
from corpus.minhash import MinHasher, normalised_word_bytes, shingle_hashes
from corpus.shards import text_bytes


class Fingerprint(NamedTuple):  # a tuple: pickled compactly, it travels through every dedup shuffle
    id: str
    rank: Rank
    sentences: int
    words: int  # `CorpusDocument.num_words`, counted once for the rank and the shard entry
    text_bytes: int  # the document's size in a text shard (`corpus.shards.text_bytes`)
    title: str
    exact_key: str
    signature: Optional[bytes]  # uint32 MinHash values; None for a document without words
    line_keys: bytes  # the distinct `boilerplate` line keys, sorted, end to end (KEY_BYTES each)


def fingerprint(document: CorpusDocument, hasher: MinHasher, shingle_size: int) -> Fingerprint:
    """The document's fingerprint: `dedup.exact_key`, `dedup.minhash_signature` and
    `boilerplate.document_line_keys` of the document, computed together."""
    exact = hashlib.blake2b(digest_size=16)
    all_words: list[bytes] = []
    line_keys = set()
    sentences = 0
    for sentence in document.sentences():
        sentences += 1
        # Words as UTF-8 bytes: what the exact key, the line key and the word hashes are made of.
        words = normalised_word_bytes(sentence)
        joined = b" ".join(words)
        exact.update(joined)
        exact.update(b" ")
        all_words += words
        # A line key normalises "©" as "(c)" first; other sentences' words are the same either way.
        if "©" in sentence:
            key = boilerplate.line_key(sentence)
            if key is not None:
                line_keys.add(key)
        elif words:
            line_keys.add(boilerplate.key_of_utf8(joined))
    signature = hasher.signature(shingle_hashes(all_words, shingle_size)).tobytes() if all_words else None
    num_words = document.num_words()
    return Fingerprint(document.id, rank_of(is_full_text(document), num_words, document.id), sentences, num_words,
                       text_bytes(document), document.title(), exact.hexdigest(), signature,
                       b"".join(sorted(line_keys)))


def line_keys(print_: Fingerprint) -> list[bytes]:
    """The fingerprint's line keys, one by one."""
    keys, size = print_.line_keys, boilerplate.KEY_BYTES
    return [keys[start:start + size] for start in range(0, len(keys), size)]
