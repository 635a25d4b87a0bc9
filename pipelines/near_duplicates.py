"""Near-duplicate removal as a Beam graph: MinHash LSH over word shingles, without any step that holds the corpus.

Fingerprints (`corpus.fingerprints`: each document's MinHash signature, rank and title, computed once) -> band
keys -> LSH buckets -> candidate pairs (the best `max_bucket_links` of each bucket, in two passes over it, so a
bucket of millions is never held; then a document's best `max_bucket_links` over all its buckets) -> pairs verified by estimated Jaccard similarity -> a verdict
for every document that a better-ranked one matches (`corpus.dedup.survivor_rank`), so each cluster keeps its
best copy. Only ids, ranks and signatures are shuffled; the documents themselves meet their verdicts later, in
`pipelines.corpus_dedup`. The decisions (band keys, bucket edges, the LSH parameters) are `corpus.dedup` and
`corpus.minhash`; `corpus.dedup.NearDuplicateConfig` holds the settings.
"""
from __future__ import annotations

import heapq
from typing import Iterator, Optional

import apache_beam as beam
import numpy as np

from corpus import dedup
from corpus.dedup import NearDuplicateConfig
from corpus.fingerprints import Fingerprint
from corpus.minhash import jaccard_estimate, lsh_parameters
from pipelines.common import GroupTagged, Removed, apply_step, counter_inc_fn
from pipelines.corpus_steps import NAMESPACE, StepTransform
from pipelines.corpus_dedup import VERDICTS, FingerprintStep

inc = counter_inc_fn(NAMESPACE)
REPORT_MEMBERS = 10  # removed copies listed per cluster in the report (all are counted)


def _signature(fingerprint: Fingerprint) -> Iterator:
    if fingerprint.signature is not None:  # a document without words has none: it matches nothing
        yield fingerprint.id, (fingerprint.rank, fingerprint.signature)


def _band_entries(item, bands: int, rows: int) -> Iterator:
    _, (rank, signature) = item
    for key in dedup.lsh_band_keys(np.frombuffer(signature, dtype=np.uint32), bands, rows):
        yield dedup.bucket_member(key, rank)  # the rank holds the id


def _bucket_pairs(item, max_links: int) -> Iterator[tuple[str, bytes]]:
    _, members = item  # the members of every bucket of one partition
    yield from dedup.partition_edges(members, max_links)


def _attach_worse_signature(item, max_links: int) -> Iterator:
    worse_id, grouped = item
    for _, signature in grouped["signature"]:
        for better_id in dedup.best_candidates(grouped["better"], max_links):
            yield better_id, (worse_id, signature)


def _verify(item, threshold: float) -> Iterator:
    """The candidate pairs of one better-ranked document, verified: its signature is found in one pass over the
    group, its pairs are compared in another (a document that thousands match is never held at once). Each
    verified pair is (worse id, (-similarity, better id)): the smallest is the worse document's best match."""
    better_id, values = item
    found = next((value for tag, value in values if tag == "signature"), None)
    if found is None:
        return
    better = np.frombuffer(found[1], dtype=np.uint32)
    for tag, value in values:
        if tag == "pending":
            worse_id, worse_signature = value
            inc("near.candidate_pairs")
            similarity = jaccard_estimate(better, np.frombuffer(worse_signature, dtype=np.uint32))
            if similarity >= threshold:
                inc("near.verified_pairs")
                yield worse_id, (-similarity, better_id)


def _with_match(item) -> Iterator[tuple[Fingerprint, Optional[tuple]]]:
    _, grouped = item
    match = next(iter(grouped["match"]), None)
    for fingerprint in grouped["fingerprint"]:
        yield Fingerprint._make(fingerprint), match


class KeepUnlessNearDuplicate(FingerprintStep):
    """(fingerprint, its best verified better-ranked match or None) -> the fingerprint, unless there is a match:
    then a verdict for its document. The outputs feed the report's clusters: `removed` (the better id, the
    removed copy) and `titles` (every document's id, whether it stays, its title)."""

    def __init__(self):
        super().__init__("near")

    def apply(self, item: tuple[Fingerprint, Optional[tuple]]):
        fingerprint, match = item
        self.side("titles", (fingerprint.id, (match is None, fingerprint.title)))
        if match is None:
            return fingerprint
        negative_similarity, better_id = match
        self.side("removed", (better_id, {"id": fingerprint.id, "similarity": round(-negative_similarity, 3),
                                          "title": fingerprint.title}))
        return Removed("duplicate")


def _cluster(item) -> Iterator[tuple]:
    """One cluster for the report: its size and its first REPORT_MEMBERS removed copies by id (a cluster of
    millions is counted in one pass, not held)."""
    kept, values = item
    size, kept_in_corpus, title = 0, False, ""

    def counted():
        nonlocal size, kept_in_corpus, title
        for tag, value in values:
            if tag == "titles":
                kept_in_corpus, title = value
            else:
                size += 1
                yield value

    members = heapq.nsmallest(REPORT_MEMBERS, counted(), key=lambda member: member["id"])
    if not size:
        return
    yield size, kept, {
        "kept": kept, "title": title, "size": size,
        # False when the copy the others matched was itself a near duplicate of a better one.
        "kept_in_corpus": kept_in_corpus, "removed": members}


class DropNearDuplicates(StepTransform):
    """Fingerprints in, the survivors' fingerprints (without signature and exact key) out: band keys -> buckets -> candidate pairs -> verified
    pairs -> verdicts. Returns (survivors' fingerprints, top clusters as one list); after it is applied,
    `verdicts` holds (id, (step, reason, sentences)) for every document it removed."""

    def __init__(self, config: NearDuplicateConfig, top: int = 20):
        super().__init__()
        self._config = config
        self._top = top
        self.verdicts = None

    def expand(self, fingerprints):
        config = self._config
        bands, rows = lsh_parameters(config.threshold, config.num_perm)
        signatures = fingerprints | "Signatures" >> beam.FlatMap(_signature)
        pairs = (
            signatures
            | "BandKeys" >> beam.FlatMap(_band_entries, bands=bands, rows=rows)
            | "Buckets" >> beam.GroupByKey()  # by partition of the band keys (`dedup.bucket_member`)
            | "CandidatePairs" >> beam.FlatMap(_bucket_pairs, max_links=config.max_bucket_links)
        )
        pending = (
            {"signature": signatures, "better": pairs}
            | "JoinWorse" >> beam.CoGroupByKey()
            | "AttachWorse" >> beam.FlatMap(_attach_worse_signature, max_links=config.max_bucket_links)
        )
        matches = (
            {"signature": signatures, "pending": pending}
            | "JoinBetter" >> GroupTagged()
            | "Verify" >> beam.FlatMap(_verify, threshold=config.threshold)
            | "BestMatch" >> beam.CombinePerKey(min)  # one match per document leaves each worker
        )
        # After this step only the id, title, sentence count and line keys are read: the signature and the
        # exact key (two thirds of a fingerprint) are not carried through the join. A fingerprint crosses it as a
        # plain tuple, which Beam encodes natively (a NamedTuple it would pickle).
        keyed = fingerprints | "KeyById" >> beam.Map(
            lambda f: (f.id, tuple(f._replace(signature=None, exact_key=""))))
        joined = (
            {"fingerprint": keyed, "match": matches}
            | "JoinMatches" >> beam.CoGroupByKey()
            | "WithMatch" >> beam.FlatMap(_with_match)
        )
        resolved = apply_step(joined, "KeepUnlessDuplicate", KeepUnlessNearDuplicate(), "removed", "titles",
                              VERDICTS, dead_letters=self.dead_letters, exclusions=self.exclusions)
        self.verdicts = resolved[VERDICTS]
        clusters = (
            {"removed": resolved.removed, "titles": resolved.titles}
            | "GroupClusters" >> GroupTagged()
            | "Cluster" >> beam.FlatMap(_cluster)
            | "TopClusters" >> beam.combiners.Top.Of(self._top, key=lambda c: (c[0], c[1]))
            | "Unwrap" >> beam.Map(lambda top: [cluster for _, _, cluster in top])
        )
        return resolved.main, clusters
