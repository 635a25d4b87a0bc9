"""Deduplication decisions: cross-source (PubMed vs PMC), exact and near duplicates.

Every decision here is a pure function of small keys, so a Beam job can shuffle only ids and hashes and join
the verdicts back onto the documents. Which copy survives is decided by `survivor_rank`: full text first, then
the longer text, then the smaller id, so the result never depends on the order records arrive in.
"""
from __future__ import annotations

import bisect
import heapq
import hashlib
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

import numpy as np

from corpus.assemble import CorpusDocument, is_full_text
from corpus.documents import SOURCE_PMC, SOURCE_PUBMED, Document
from corpus.minhash import BAND_KEY_BYTES, MinHasher, band_keys, normalised_words, shingle_hashes

Rank = bytes  # `survivor_rank`: compared as bytes, it orders documents; `rank_id` reads the id back
_RANK_ID = 9  # a rank is 1 byte (full text or not), 8 bytes (the word count's complement), then the UTF-8 id
_MAX_WORDS = (1 << 64) - 1


@dataclass(frozen=True)
class NearDuplicateConfig:
    """Near-duplicate settings; the corpus job's flags take their defaults from here."""

    threshold: float = 0.8  # estimated Jaccard similarity of word shingles from which documents are duplicates
    shingle_size: int = 5  # words per shingle
    num_perm: int = 128  # MinHash permutations
    max_bucket_links: int = 8  # better-ranked candidates per document (from the best per bucket): bounds hot buckets
    seed: int = 1  # of the MinHash permutations: fixed, so signatures do not depend on the shuffle seed


def link_keys(document: Document) -> list[str]:
    """The keys under which a PubMed record and its PMC article meet: PMCID and PMID, whichever each side has."""
    keys = []
    if document.pmcid:
        keys.append(f"pmcid:{document.pmcid.upper()}")
    if document.pmid:
        keys.append(f"pmid:{document.pmid}")
    return keys


def cross_source_losers(members: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(loser id, winner id) for the PubMed records of one link key that have a PMC article beside them.

    `members` are (source, id) pairs. The PMC article carries the same title and abstract plus the body, so
    full text wins; with several PMC articles under one key the smallest id is named the winner.
    """
    members = sorted(set(members))
    articles = [doc_id for source, doc_id in members if source == SOURCE_PMC]
    if not articles:
        return []
    winner = articles[0]
    return [(doc_id, winner) for source, doc_id in members if source == SOURCE_PUBMED]


def survivor_rank(document: CorpusDocument) -> Rank:
    """Smaller is better: full text before abstracts, more words before fewer, then the id as tie-break."""
    return rank_of(is_full_text(document), document.num_words(), document.id)


def rank_of(full_text: bool, words: int, document_id: str) -> Rank:
    """The rank as one bytes string whose byte order is the order of (not full text, -words, id): fixed-width
    fields, then the id, whose UTF-8 bytes sort as its characters do. One small object where a tuple of three
    was several, for the millions of LSH bucket entries and candidates a run shuffles."""
    return (b"\x00" if full_text else b"\x01") + (_MAX_WORDS - words).to_bytes(8, "big") + \
        document_id.encode("utf-8")


def rank_id(rank: Rank) -> str:
    return rank[_RANK_ID:].decode("utf-8")


def exact_key(document: CorpusDocument) -> str:
    """The document's text after normalisation (case, Unicode forms, punctuation and spacing ignored), hashed."""
    digest = hashlib.blake2b(digest_size=16)
    for sentence in document.sentences():
        digest.update(" ".join(normalised_words(sentence)).encode("utf-8"))
        digest.update(b" ")
    return digest.hexdigest()


def minhash_signature(document: CorpusDocument, hasher: MinHasher, shingle_size: int) -> Optional[np.ndarray]:
    """The MinHash signature of the document's word shingles; None for a document without words."""
    words = [word for sentence in document.sentences() for word in normalised_words(sentence)]
    if not words:
        return None
    return hasher.signature(shingle_hashes(words, shingle_size))


def lsh_band_keys(signature: np.ndarray, bands: int, rows: int) -> list[bytes]:
    return list(band_keys(signature, bands, rows))


# LSH buckets are shuffled by a partition of their key: the band and the first byte of its hash (256
# partitions a band), the rest of the key travelling in each member's value. Nearly every bucket holds one
# document, and a shuffle's per-key cost (a runner's table entry and list, a key in a sort) is then paid once per
# partition instead of once per bucket; a partition's buckets are told apart in memory (`partition_edges`).
_PARTITION_BYTES = 3  # the band (2 bytes) and the first byte of its hash


def bucket_member(band_key: bytes, rank: Rank) -> tuple[bytes, bytes]:
    """(partition, value) of a document (its rank) in the bucket of `band_key`."""
    return band_key[:_PARTITION_BYTES], band_key[_PARTITION_BYTES:] + rank


def partition_edges(values: Iterable[bytes], max_links: int,
                    bucket_bytes: int = BAND_KEY_BYTES - _PARTITION_BYTES) -> Iterator[tuple[str, Rank]]:
    """Candidate pairs (worse id, better rank) among the documents that share an LSH bucket, for every bucket of
    one partition (`bucket_member` values: the bucket's key, `bucket_bytes` long, then a rank).

    Each member is paired with at most `max_links` of the best-ranked members of its bucket before it, so a
    bucket of n documents yields O(n * max_links) pairs instead of n^2, and a document is always compared with
    the bucket's best copy. (`best_candidates` then keeps a document's `max_links` best over all its buckets.)
    Two passes over the re-iterable group: the best `max_links` of each bucket in the first, each member's pairs
    in the second; what is held is that list per bucket of the partition (a partition's share of the corpus's
    buckets, a bucket of millions as its best 8), never the members.
    """
    best: dict[bytes, object] = {}  # bucket -> its best rank, or a sorted list of its best ranks once it has two
    for value in values:
        bucket, rank = value[:bucket_bytes], value[bucket_bytes:]
        top = best.get(bucket)
        if top is None:
            best[bucket] = rank
            continue
        if isinstance(top, bytes):
            if top == rank:
                continue
            top = best[bucket] = sorted((top, rank))
        elif rank not in top and (len(top) < max_links or rank < top[-1]):
            bisect.insort(top, rank)
        del top[max_links:]
    for value in values:  # a document is in a bucket once (band keys hold their band)
        bucket, rank = value[:bucket_bytes], value[bucket_bytes:]
        top = best[bucket]
        if isinstance(top, bytes):
            continue  # a bucket of one document: no pair
        for better in top:
            if better >= rank:
                break
            yield rank_id(rank), better


def bucket_edges(members: Iterable[Rank], max_links: int) -> Iterator[tuple[str, Rank]]:
    """`partition_edges` of one bucket: its members' ranks."""
    return partition_edges(members, max_links, bucket_bytes=0)


def best_candidates(candidates: Iterable[Rank], max_links: int) -> list[str]:
    """The ids of the `max_links` best-ranked of a document's candidates from all its buckets (distinct).

    A copy of a hot template shares each of its bands' buckets with thousands of others, and each bucket offers
    its best `max_links`; the best copies of the template are the same in most buckets, so this cut keeps the
    pairs worth verifying and bounds a document's pairs (and the signatures shipped for them) in all."""
    return [rank_id(rank) for rank in heapq.nsmallest(max_links, set(candidates))]
