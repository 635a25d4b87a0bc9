"""Writing the corpus: a seeded shuffle into text shards and their documents shards, with length histograms.

Every document gets a key from (seed, id) (`corpus.shards`); the shard count follows from the total text size and
`shard_size_bytes`; each shard's documents are written in key order as `text/part-SSSSS-of-NNNNN.txt` (one
sentence per line, a blank line between documents) and `documents/part-SSSSS-of-NNNNN.jsonl.gz` (the same
documents with their ids, sentences and first line), each atomically. A shard that draws no document is still
written (empty), so the shard set is always complete.
"""
from __future__ import annotations

import json
import logging
from typing import Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from corpus import shards
from corpus.stats import add_document, empty_histograms, merge_histograms
from pipelines.common import counter_inc_fn, write_atomically
from pipelines.corpus_steps import NAMESPACE, SOURCES

LOG = logging.getLogger(__name__)
inc = counter_inc_fn(NAMESPACE)
REMOVED_DIR = "removed"


# --- Shuffle and write --------------------------------------------------------------------------------------------

class WriteShardDoFn(beam.DoFn):
    """(shard index, documents) -> the text shard and its documents shard, each written atomically."""

    def __init__(self, output: str):
        self._output = output

    def process(self, item, num_shards: int) -> Iterator[dict]:
        index, entries = item
        documents = [entry for entry in entries if entry is not None]
        text_name = shards.shard_name(index, num_shards, ".txt")
        text, jsonl, count = shards.render_shard(documents, text_name)
        write_atomically(f"{self._output}/{shards.TEXT_DIR}/{text_name}", text)
        write_atomically(f"{self._output}/{shards.DOCUMENTS_DIR}/{shards.shard_name(index, num_shards, '.jsonl.gz')}",
                         jsonl)
        sentences = sum(document.num_sentences() for _, document in documents)
        inc("written.documents", count)
        inc("written.sentences", sentences)
        inc("written.text_bytes", len(text))
        for source in SOURCES:
            inc(f"written.documents.{source}", sum(1 for _, d in documents if d.source == source))
        yield {"shard": text_name, "documents": count, "sentences": sentences, "bytes": len(text)}


class WriteCorpus(beam.PTransform):
    """Seeded shuffle into shards of about `shard_size_bytes`; returns the shard summaries as one sorted list."""

    def __init__(self, output: str, seed: int, shard_size_bytes: int):
        super().__init__()
        self._output = output
        self._seed = seed
        self._shard_size = shard_size_bytes

    def expand(self, documents):
        seed, shard_size = self._seed, self._shard_size
        keyed = documents | "ShuffleKey" >> beam.Map(lambda d: (shards.shuffle_key(seed, d.id), d))
        num_shards = beam.pvalue.AsSingleton(
            keyed
            | "Bytes" >> beam.Map(lambda entry: shards.text_bytes(entry[1]))
            | "TotalBytes" >> beam.CombineGlobally(sum)
            | "ShardCount" >> beam.Map(shards.shard_count, shard_size))
        assigned = keyed | "Assign" >> beam.Map(
            lambda entry, n: (shards.shard_index(entry[0], n), entry), n=num_shards)
        # Every shard index gets an entry, so a shard that draws no document is still written (empty).
        every_shard = (
            documents.pipeline
            | "Once" >> beam.Create([None])
            | "EveryShard" >> beam.FlatMap(lambda _, n: [(i, None) for i in range(n)], n=num_shards))
        return (
            (assigned, every_shard)
            | "AllEntries" >> beam.Flatten()
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(WriteShardDoFn(self._output), num_shards=num_shards)
            | "Summaries" >> beam.combiners.ToList()
            | "Sort" >> beam.Map(lambda rows: sorted(rows, key=lambda row: row["shard"]))
        )


class WriteExclusions(beam.PTransform):
    """Exclusion records (id, step, reason) -> `removed/part-SSSSS-of-NNNNN.jsonl.gz`: every document the job
    removed, and why. (The job deletes an earlier run's files before it starts.)"""

    def __init__(self, output: str):
        super().__init__()
        self._output = output

    def expand(self, exclusions):
        return (
            exclusions
            | "ToJson" >> beam.Map(lambda row: json.dumps(row, ensure_ascii=False, sort_keys=True))
            | "Write" >> beam.io.WriteToText(f"{self._output}/{REMOVED_DIR}/part", file_name_suffix=".jsonl.gz",
                                             shard_name_template="-SSSSS-of-NNNNN")
        )


class LengthHistograms(beam.CombineFn):
    def create_accumulator(self):
        return empty_histograms()

    def add_input(self, accumulator, document):
        add_document(accumulator, document)
        return accumulator

    def merge_accumulators(self, accumulators):
        return merge_histograms(accumulators)

    def extract_output(self, accumulator):
        return accumulator


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
