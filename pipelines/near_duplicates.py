"""Near-duplicate removal as a Beam graph: MinHash LSH over word shingles, without any step that holds the corpus.

Documents -> signatures (one MinHash per document, the hasher built once per worker) -> band keys -> LSH
buckets -> candidate pairs (at most `max_bucket_links` per document per bucket, which bounds huge buckets) ->
pairs verified by estimated Jaccard similarity -> removal of every document that a better-ranked one matches
(`corpus.dedup.survivor_rank`), so each cluster keeps its best copy. Only ids, ranks and signatures are shuffled.
The decisions themselves (signatures, band keys, bucket edges, the LSH parameters) are `corpus.dedup` and
`corpus.minhash`; `corpus.dedup.NearDuplicateConfig` holds the settings.
"""
from __future__ import annotations

import logging
from typing import Iterator

import apache_beam as beam
import numpy as np

from corpus import dedup
from corpus.assemble import CorpusDocument
from corpus.dedup import NearDuplicateConfig
from corpus.minhash import MinHasher, jaccard_estimate, lsh_parameters
from pipelines.common import Removed, apply_step, counter_inc_fn
from pipelines.corpus_steps import NAMESPACE, CorpusStep, StepTransform

LOG = logging.getLogger(__name__)
inc = counter_inc_fn(NAMESPACE)


class SignatureDoFn(beam.DoFn):
    """CorpusDocument -> (id, (rank, signature bytes, title)); the hasher is built once per worker."""

    def __init__(self, config: NearDuplicateConfig):
        self._config = config
        self._hasher = None

    def setup(self) -> None:
        self._hasher = MinHasher(self._config.num_perm, self._config.seed)

    def process(self, document: CorpusDocument) -> Iterator:
        try:
            signature = dedup.minhash_signature(document, self._hasher, self._config.shingle_size)
        except Exception:  # noqa: BLE001 - the document stays, undeduplicated, rather than failing the job
            LOG.exception("no MinHash signature for %s", document.id)
            inc("near.signature_errors")
            return
        if signature is not None:
            yield document.id, (dedup.survivor_rank(document), signature.tobytes(), document.title())


def _band_entries(item, bands: int, rows: int) -> Iterator:
    doc_id, (rank, signature, _) = item
    for key in dedup.lsh_band_keys(np.frombuffer(signature, dtype=np.uint32), bands, rows):
        yield key, (rank, doc_id)


def _bucket_pairs(item, max_links: int) -> Iterator[tuple[str, str]]:
    _, members = item
    yield from dedup.bucket_edges(members, max_links)


def _attach_worse_signature(item) -> Iterator:
    worse_id, grouped = item
    for _, signature, title in grouped["signature"]:
        for better_id in grouped["better"]:
            yield better_id, (worse_id, signature, title)


def _verify(item, threshold: float) -> Iterator:
    better_id, grouped = item
    for _, better_signature, better_title in grouped["signature"]:
        better = np.frombuffer(better_signature, dtype=np.uint32)
        for worse_id, worse_signature, worse_title in grouped["pending"]:
            inc("near.candidate_pairs")
            similarity = jaccard_estimate(better, np.frombuffer(worse_signature, dtype=np.uint32))
            if similarity >= threshold:
                inc("near.verified_pairs")
                yield worse_id, (better_id, similarity, better_title, worse_title)


def _with_matches(item) -> Iterator[tuple[CorpusDocument, list]]:
    _, grouped = item
    matches = sorted(grouped["match"], key=lambda match: (-match[1], match[0]))
    for document in grouped["document"]:
        yield document, matches


class KeepUnlessNearDuplicate(CorpusStep):
    """(document, the better documents verified similar to it) -> the document, unless there is one; the
    outputs `kept` and `removed` feed the report's clusters."""

    def __init__(self):
        super().__init__("near")

    def apply(self, item: tuple[CorpusDocument, list]):
        document, matches = item
        if not matches:
            self.side("kept", (document.id, True))
            return document
        better_id, similarity, better_title, worse_title = matches[0]
        self.side("removed", (better_id, {
            "id": document.id, "similarity": round(similarity, 3), "title": worse_title,
            "kept_title": better_title}))
        return Removed("duplicate")

    def removed(self, element, reason: str) -> None:
        super().removed(element[0], reason)


def _cluster(item) -> Iterator[tuple]:
    kept, grouped = item
    removed = sorted(grouped["removed"], key=lambda member: member["id"])
    if not removed:
        return
    yield len(removed), kept, {
        "kept": kept, "title": removed[0]["kept_title"],
        # False when the copy the others matched was itself a near duplicate of a better one.
        "kept_in_corpus": bool(grouped["kept"]),
        "removed": [{k: v for k, v in member.items() if k != "kept_title"} for member in removed]}


class DropNearDuplicates(StepTransform):
    """MinHash LSH over word shingles: band keys -> buckets -> candidate pairs -> verified pairs -> removal.

    Only ids, ranks and signatures are shuffled; no step sees more than one bucket or one document's pairs.
    A document is removed when a better-ranked document is verified similar (estimated Jaccard >= threshold),
    so every cluster keeps its best copy. Returns (documents, top clusters as one list).
    """

    def __init__(self, config: NearDuplicateConfig, top: int = 20):
        super().__init__()
        self._config = config
        self._top = top

    def expand(self, documents):
        config = self._config
        bands, rows = lsh_parameters(config.threshold, config.num_perm)
        signatures = documents | "Signatures" >> beam.ParDo(SignatureDoFn(config))
        pairs = (
            signatures
            | "BandKeys" >> beam.FlatMap(_band_entries, bands=bands, rows=rows)
            | "Buckets" >> beam.GroupByKey()
            | "CandidatePairs" >> beam.FlatMap(_bucket_pairs, max_links=config.max_bucket_links)
            | "DistinctPairs" >> beam.Distinct()
        )
        pending = (
            {"signature": signatures, "better": pairs}
            | "JoinWorse" >> beam.CoGroupByKey()
            | "AttachWorse" >> beam.FlatMap(_attach_worse_signature)
        )
        matches = (
            {"signature": signatures, "pending": pending}
            | "JoinBetter" >> beam.CoGroupByKey()
            | "Verify" >> beam.FlatMap(_verify, threshold=config.threshold)
        )
        keyed = documents | "KeyById" >> beam.Map(lambda d: (d.id, d))
        resolved = (
            {"document": keyed, "match": matches}
            | "JoinMatches" >> beam.CoGroupByKey()
            | "WithMatches" >> beam.FlatMap(_with_matches)
        )
        resolved = apply_step(resolved, "KeepUnlessDuplicate", KeepUnlessNearDuplicate(), "removed", "kept",
                              dead_letters=self.dead_letters)
        clusters = (
            {"removed": resolved.removed, "kept": resolved.kept}
            | "GroupClusters" >> beam.CoGroupByKey()
            | "Cluster" >> beam.FlatMap(_cluster)
            | "TopClusters" >> beam.combiners.Top.Of(self._top, key=lambda c: (c[0], c[1]))
            | "Unwrap" >> beam.Map(lambda top: [cluster for _, _, cluster in top])
        )
        return resolved.main, clusters
