"""Writing the corpus: a seeded shuffle into text shards and their documents shards, with length histograms.

Every document's entry carries a key from (seed, id) (`corpus.shards`); the shard count follows from the total text size and
`shard_size_bytes`; each shard's documents are written in key order as `text/part-SSSSS-of-NNNNN.txt` (one
sentence per line, a blank line between documents) and `documents/part-SSSSS-of-NNNNN.jsonl.gz` (the same
documents with their ids, sentences and first line), each atomically. A shard that draws no document is still
written (empty), so the shard set is always complete. The length histograms are counted as the shards are
written, where each document is decoded anyway.
"""
from __future__ import annotations

import logging
from typing import Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from corpus import shards
from corpus.stats import merge_histograms
from pipelines.common import WriteJsonLines, atomic_output, counter_inc_fn
from pipelines.corpus_steps import NAMESPACE, SOURCES

LOG = logging.getLogger(__name__)
inc = counter_inc_fn(NAMESPACE)
REMOVED_DIR = "removed"


# --- Shuffle and write --------------------------------------------------------------------------------------------

class WriteShardDoFn(beam.DoFn):
    """(shard index, entries) -> the text shard and its documents shard, each streamed to a temporary name and
    renamed; only the shard's entries (compressed documents) are held, to put them in order."""

    def __init__(self, output: str):
        self._output = output

    def process(self, item, num_shards: int) -> Iterator[dict]:
        index, entries = item
        text_name = shards.shard_name(index, num_shards, ".txt")
        documents_name = shards.shard_name(index, num_shards, ".jsonl.gz")
        with atomic_output(f"{self._output}/{shards.TEXT_DIR}/{text_name}") as text_file, \
                atomic_output(f"{self._output}/{shards.DOCUMENTS_DIR}/{documents_name}") as documents_file:
            summary = shards.write_shard((entry for entry in entries if entry is not None), text_name,
                                         text_file, documents_file)
        inc("written.documents", summary.documents)
        inc("written.sentences", summary.sentences)
        inc("written.text_bytes", summary.text_bytes)
        for source in SOURCES:
            inc(f"written.documents.{source}", summary.by_source.get(source, 0))
        yield {"shard": text_name, "documents": summary.documents, "sentences": summary.sentences,
               "bytes": summary.text_bytes, "histograms": summary.histograms}


class WriteCorpus(beam.PTransform):
    """Shard entries (`shards.Entry` tuples: plain primitives and the packed document, which Beam encodes
    without pickling) -> shards of about `shard_size_bytes`, in the seeded order of the entries' keys; returns
    (the shard summaries as one sorted list, the length histograms of all written documents).

    The shard count comes from `total_bytes`, a one-number PCollection of the text's size computed upstream
    (the corpus job sums it over the fingerprints), so the entries go straight to their shards; a total taken
    over the entries themselves would hold every entry until it is known (a local runner keeps them all in
    memory)."""

    def __init__(self, output: str, shard_size_bytes: int, total_bytes):
        super().__init__()
        self._output = output
        self._shard_size = shard_size_bytes
        self._total_bytes = total_bytes

    def expand(self, entries):
        num_shards = beam.pvalue.AsSingleton(
            self._total_bytes | "ShardCount" >> beam.Map(shards.shard_count, self._shard_size))
        assigned = entries | "Assign" >> beam.Map(
            lambda entry, n: (shards.shard_index(shards.Entry._make(entry).key, n), entry), n=num_shards)
        # Every shard index gets an entry, so a shard that draws no document is still written (empty).
        every_shard = (
            entries.pipeline
            | "Once" >> beam.Create([None])
            | "EveryShard" >> beam.FlatMap(lambda _, n: [(i, None) for i in range(n)], n=num_shards))
        summaries = (
            (assigned, every_shard)
            | "AllEntries" >> beam.Flatten()
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(WriteShardDoFn(self._output), num_shards=num_shards)
            | "Summaries" >> beam.combiners.ToList()
        )
        return (
            summaries | "Sort" >> beam.Map(lambda rows: sorted(
                ({key: value for key, value in row.items() if key != "histograms"} for row in rows),
                key=lambda row: row["shard"])),
            summaries | "Histograms" >> beam.Map(lambda rows: merge_histograms(row["histograms"] for row in rows)),
        )


class WriteExclusions(WriteJsonLines):
    """Exclusion records (id, step, reason) -> `removed/part-SSSSS-of-NNNNN.jsonl.gz`: every document the job
    removed, and why. (The job deletes an earlier run's files before it starts.)"""

    def __init__(self, output: str):
        super().__init__(f"{output}/{REMOVED_DIR}/part", ".jsonl.gz")


def remove_exclusions(output: str) -> None:
    """An earlier run's exclusion files, which this run's (another number of them) would not all replace."""
    old = [m.path for result in FileSystems.match([f"{output}/{REMOVED_DIR}/part-*"]) for m in result.metadata_list]
    if old:
        FileSystems.delete(old)


def remove_stale_shards(output: str, num_shards: int) -> None:
    """Shards of an earlier run with another shard count would otherwise mix with this run's."""
    for folder, suffix in ((shards.TEXT_DIR, ".txt"), (shards.DOCUMENTS_DIR, ".jsonl.gz")):
        pattern = f"{output}/{folder}/part-*-of-*{suffix}"
        current = f"-of-{num_shards:05d}{suffix}"
        stale = [m.path for result in FileSystems.match([pattern]) for m in result.metadata_list
                 if not m.path.endswith(current)]
        if stale:
            LOG.info("corpus: removing %d shard(s) of an earlier run under %s", len(stale), folder)
            FileSystems.delete(stale)
