"""Writing the corpus: a seeded shuffle into text shards and their documents shards, where the documents meet
their verdicts, with length histograms.

Every document's entry carries a key from (seed, id) (`corpus.shards`); the shard count follows from the total
text size and `shard_size_bytes`. One GroupByKey by shard brings each shard its entries, the ids the dedup steps
removed from it and the boilerplate lines to drop from its documents (`pipelines.corpus_dedup`): the only
shuffle of the documents in the whole job. The shard's writer drops the removed, applies the line removal to
the rest (`RemoveLinesDoFn`, which may still remove a document left too short) and writes them in key order as
`text/part-SSSSS-of-NNNNN.txt` (one sentence per line, a blank line between documents) and
`documents/part-SSSSS-of-NNNNN.jsonl.gz` (the same documents with their ids, sentences and first line), each
atomically. A shard that draws no document is still written (empty), so the shard set is always complete. The
length histograms are counted as the shards are written, where each document is decoded anyway.
"""
from __future__ import annotations

import logging
from typing import Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from corpus import shards
from corpus.stats import merge_histograms
from pipelines.common import (DEAD_LETTERS, EXCLUSIONS, CountedStep, GroupTagged, WriteJsonLines, atomic_output,
                              counter_inc_fn)
from pipelines.corpus_steps import NAMESPACE, SOURCES, StepTransform

LOG = logging.getLogger(__name__)
inc = counter_inc_fn(NAMESPACE)
REMOVED_DIR = "removed"


# --- Shuffle and write --------------------------------------------------------------------------------------------

ENTRY, REMOVED, DROP_LINE = "entry", "removed", "drop_line"  # the tags of a shard's grouped values


class WriteShardDoFn(beam.DoFn):
    """(shard index, its (tag, value) pairs) -> the text shard and its documents shard, each streamed to a
    temporary name and renamed; the shard's summary is the main output, and `finish`'s outputs (the lines it
    removed, dead letters, exclusions) are passed on. Two passes over the values: the first gathers the ids
    removed from the shard and the lines to drop (a shard's share of the verdicts), the second its other entries
    (compressed documents), held to be put in order; then `finish` judges each as it is written, so at most one
    document is decoded at a time."""

    def __init__(self, output: str, finish: CountedStep):
        self._output = output
        self._finish = finish

    def setup(self) -> None:
        self._finish.setup()

    def process(self, item, num_shards: int) -> Iterator:
        index, values = item
        removed, drop = set(), {}
        for tag, value in values:
            if tag == REMOVED:
                removed.add(value)
            elif tag == DROP_LINE:
                drop.setdefault(value[0], set()).add(value[1])
        entries = shards.in_order(value for tag, value in values
                                  if tag == ENTRY and value[1] not in removed)  # value[1]: `shards.Entry.id`
        outputs = []  # what `finish` sends to its other outputs, passed on once the shard is written

        def finished() -> Iterator[shards.Entry]:
            for entry in entries:
                for output in self._finish.process((entry, frozenset(drop.get(entry.id, ())))):
                    if isinstance(output, beam.pvalue.TaggedOutput):
                        outputs.append(output)
                    else:
                        yield output

        text_name = shards.shard_name(index, num_shards, ".txt")
        documents_name = shards.shard_name(index, num_shards, ".jsonl.gz")
        with atomic_output(f"{self._output}/{shards.TEXT_DIR}/{text_name}") as text_file, \
                atomic_output(f"{self._output}/{shards.DOCUMENTS_DIR}/{documents_name}") as documents_file:
            summary = shards.write_shard(finished(), text_name, text_file, documents_file)
        yield from outputs
        inc("written.documents", summary.documents)
        inc("written.sentences", summary.sentences)
        inc("written.text_bytes", summary.text_bytes)
        for source in SOURCES:
            inc(f"written.documents.{source}", summary.by_source.get(source, 0))
        yield {"shard": text_name, "documents": summary.documents, "sentences": summary.sentences,
               "bytes": summary.text_bytes, "histograms": summary.histograms}


class WriteCorpus(StepTransform):
    """(entries, removed, lines to drop) -> shards of about `shard_size_bytes`, in the seeded order of the
    entries' keys; returns (the shard summaries as one sorted list, the length histograms of all written
    documents). `finish`'s `lines` output is in `lines` after it is applied, its dead letters and exclusions in
    `dead_letters` and `exclusions`.

    - entries: (id, `shards.Entry` tuple): plain primitives and the packed document, which Beam encodes without
      pickling;
    - removed: (id, anything) of each document not to write;
    - lines to drop: (id, line key) pairs, for `finish`;
    - finish: a `CountedStep` over (entry, the frozenset of its line keys) that returns the entry to write or
      removes it (the corpus job's `RemoveLinesDoFn`).

    The shard count comes from `total_bytes`, a one-number PCollection of the text's size computed upstream
    (the corpus job sums it over the fingerprints), and the shard of a removed id or a line from `seed`, as
    `corpus.shards.shuffle_key` gives its entry's key."""

    def __init__(self, output: str, shard_size_bytes: int, total_bytes, seed: int, finish: CountedStep):
        super().__init__()
        self._output = output
        self._shard_size = shard_size_bytes
        self._total_bytes = total_bytes
        self._seed = seed
        self._finish = finish
        self.lines = None

    def expand(self, inputs):
        entries, removed, drop_lines = inputs
        seed = self._seed
        num_shards = beam.pvalue.AsSingleton(
            self._total_bytes | "ShardCount" >> beam.Map(shards.shard_count, self._shard_size))

        def shard_of(document_id: str, n: int) -> int:
            return shards.shard_index(shards.shuffle_key(seed, document_id), n)

        # Every shard index gets a value, so a shard that draws no document is still written (empty).
        every_shard = (
            entries.pipeline
            | "Once" >> beam.Create([None])
            | "EveryShard" >> beam.FlatMap(lambda _, n: [(i, None) for i in range(n)], n=num_shards))
        self._finish.record_exclusions = True
        written = (
            {
                ENTRY: entries | "AssignEntries" >> beam.Map(
                    lambda item, n: (shards.shard_index(item[1][0], n), item[1]), n=num_shards),
                REMOVED: removed | "AssignRemoved" >> beam.Map(
                    lambda item, n: (shard_of(item[0], n), item[0]), n=num_shards),
                DROP_LINE: drop_lines | "AssignLines" >> beam.Map(
                    lambda item, n: (shard_of(item[0], n), item), n=num_shards),
                "shard": every_shard,
            }
            | "GroupShards" >> GroupTagged()
            | "WriteShard" >> beam.ParDo(WriteShardDoFn(self._output, self._finish), num_shards=num_shards)
            .with_outputs(DEAD_LETTERS, EXCLUSIONS, "lines", main="summaries")
        )
        self.dead_letters.append(written[DEAD_LETTERS])
        self.exclusions.append(written[EXCLUSIONS])
        self.lines = written.lines
        summaries = written.summaries | "Summaries" >> beam.combiners.ToList()
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
