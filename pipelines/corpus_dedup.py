"""The corpus job's deduplication: exact duplicates, near duplicates and boilerplate lines decided over small
fingerprints.

Each document that passed the language step is fingerprinted once (`corpus.fingerprints`: exact key, MinHash
signature, line keys, rank, title, sentence and word counts) and becomes its shard entry (`corpus.shards.Entry`: a
few numbers and the document as compressed bytes), keyed by its id. The fingerprints, not the documents, go
through the cross-source verdicts (a PubMed record whose PMC article is in the input), the exact-duplicate
groups, the near-duplicate graph (`pipelines.near_duplicates`) and the boilerplate line groups, each step seeing
the survivors of the one before; every removal becomes a verdict, and every line to drop a (document id, line
key) pair. The documents meet their verdicts where they are written (`pipelines.corpus_write`): one GroupByKey by
shard brings each shard its entries, the ids removed from it and the lines to drop, so the documents are
shuffled once in the whole job; `RemoveLinesDoFn`, the boilerplate step's last decision, runs there.

Counters keep the job's scheme (`cross_source.*`, `exact.*`, `near.*`, `boilerplate.*`, `sentences.*`), so the report's step
table balances as before; every removed document is also an exclusion record (id, step, reason) for the job's
`removed/` list. Grouped values are read in passes (Beam's are re-iterable), never held whole, so one hot key
(thousands of copies of one template, one line in millions of documents) costs bounded memory.
"""
from __future__ import annotations

import heapq
from typing import Iterator, NamedTuple

import apache_beam as beam

from corpus import boilerplate, filters, shards
from corpus.assemble import CorpusDocument
from corpus.dedup import NearDuplicateConfig
from corpus.fingerprints import Fingerprint, fingerprint, line_keys
from corpus.minhash import MinHasher
from pipelines.common import (DEAD_LETTERS, EXCLUSIONS, Removed, apply_step, counter_inc_fn, dead_letter,
                              exclusion)
from pipelines.corpus_steps import NAMESPACE, CorpusStep, StepTransform

inc = counter_inc_fn(NAMESPACE)
VERDICTS = "verdicts"  # (document id, (step, reason, sentences)) of every document a dedup step removed
FINGERPRINTS = "fingerprints"
REPORT_IDS = 10  # removed ids listed per exact-duplicate group in the report (all are counted)


class FingerprintStep(CorpusStep):
    """A dedup step over (fingerprint, what the step needs to judge it): a removed document's sentences leave
    with it (counted) and its verdict goes to the VERDICTS output, for the shard writer."""

    def removed(self, element, reason: str) -> None:
        fingerprint_, _ = element
        self.inc("sentences.dropped_with_document", fingerprint_.sentences)
        self.side(VERDICTS, (fingerprint_.id, (self.step, reason, fingerprint_.sentences)))


def _with_superseded(item) -> Iterator[tuple[Fingerprint, bool]]:
    _, grouped = item
    superseded = any(True for _ in grouped["winner"])
    for print_ in grouped["fingerprint"]:
        yield Fingerprint._make(print_), superseded


class KeepUnlessSuperseded(FingerprintStep):
    """(fingerprint, whether the document's PMC article is in the input) -> the fingerprint, or a verdict."""

    def __init__(self):
        super().__init__("cross_source")

    def apply(self, item: tuple[Fingerprint, bool]):
        print_, superseded = item
        return Removed("pubmed_in_pmc") if superseded else print_


class FingerprintDoFn(beam.DoFn):
    """CorpusDocument -> (id, its shard entry under `seed`), and its Fingerprint to the FINGERPRINTS output; the
    MinHash permutations are built once per worker. A document that cannot be fingerprinted leaves at the exact
    step (`exact.removed.error`) with a dead letter."""

    def __init__(self, config: NearDuplicateConfig, seed: int):
        self._config = config
        self._seed = seed
        self._hasher = None

    def setup(self) -> None:
        self._hasher = MinHasher(self._config.num_perm, self._config.seed)

    def process(self, document: CorpusDocument) -> Iterator:
        try:
            print_ = fingerprint(document, self._hasher, self._config.shingle_size)
        except Exception as error:  # noqa: BLE001 - one document must not fail a day-long job
            for name in ("exact.in", "exact.removed.error"):
                inc(name)
            inc("sentences.dropped_with_document", document.num_sentences())
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, dead_letter(
                NAMESPACE, "document", document.id, f"fingerprint failed: {type(error).__name__}: {error}"[:500]))
            yield beam.pvalue.TaggedOutput(EXCLUSIONS, exclusion(document.id, "exact", "error"))
            return
        yield beam.pvalue.TaggedOutput(FINGERPRINTS, print_)
        yield document.id, tuple(shards.entry(document, shards.shuffle_key(self._seed, document.id),
                                              print_.words))


class _Fingerprints:
    """Grouped fingerprints as plain tuples (as they cross a shuffle: Beam encodes a tuple natively, a NamedTuple it
    pickles, class name and all), re-iterable as Fingerprints."""

    def __init__(self, shuffled):
        self._shuffled = shuffled

    def __iter__(self) -> Iterator[Fingerprint]:
        return map(Fingerprint._make, self._shuffled)


def _resolve_exact(item) -> Iterator:
    """One group of identical documents (three passes over its fingerprints, none held): the best-ranked
    stays; every other is a verdict, and the group a report entry."""
    _, shuffled = item
    fingerprints = _Fingerprints(shuffled)
    count, best = 0, None
    for print_ in fingerprints:
        count += 1
        if best is None or print_.rank < best.rank:
            best = print_
    inc("exact.in", count)
    inc("exact.out")
    if count > 1:
        inc("exact.removed.duplicate", count - 1)
        lost_sentences = 0
        for print_ in fingerprints:
            if print_.id == best.id:
                continue
            lost_sentences += print_.sentences
            yield beam.pvalue.TaggedOutput(VERDICTS, (print_.id, ("exact", "duplicate", print_.sentences)))
            yield beam.pvalue.TaggedOutput(EXCLUSIONS, exclusion(print_.id, "exact", "duplicate"))
        inc("sentences.dropped_with_document", lost_sentences)
        first = heapq.nsmallest(REPORT_IDS, ((p.rank, p.id) for p in fingerprints if p.id != best.id))
        yield beam.pvalue.TaggedOutput("groups", {"kept": best.id, "title": best.title,
                                                  "removed_count": count - 1, "removed": [i for _, i in first]})
    yield best


class DropExactDuplicates(StepTransform):
    """Fingerprints -> the best-ranked of each group of identical documents (after normalisation); returns
    (survivors, report groups); `verdicts` holds the removed after it is applied."""

    def __init__(self):
        super().__init__()
        self.verdicts = None

    def expand(self, fingerprints):
        resolved = (
            fingerprints
            | "KeyByText" >> beam.Map(lambda p: (p.exact_key, tuple(p)))
            | "Groups" >> beam.GroupByKey()
            | "Resolve" >> beam.FlatMap(_resolve_exact).with_outputs("groups", VERDICTS, EXCLUSIONS,
                                                                     main="survivors")
        )
        self.verdicts = resolved[VERDICTS]
        self.exclusions.append(resolved[EXCLUSIONS])
        return resolved.survivors, resolved.groups


def _line_occurrences(print_: Fingerprint, seed: int) -> Iterator:
    occurrence = boilerplate.occurrence(seed, print_.id)  # one small bytes value per sentence shuffled
    for key in line_keys(print_):
        yield boilerplate.line_occurrence(key, occurrence)


def _line_losers(item, min_documents: int) -> Iterator[tuple[str, bytes]]:
    partition, occurrences = item  # the occurrences of every line of one partition
    lines, losers = boilerplate.partition_losers(partition, occurrences, min_documents)
    inc("boilerplate.lines", lines)
    yield from losers


class RemoveLinesDoFn(CorpusStep):
    """(entry, its boilerplate line keys) -> the entry of the document without those lines, unless it is left
    too short; each removed line (once per document) goes to the `lines` output for the report (`TopLines`).
    Only a document that loses lines is decoded, and it stays decoded: the shard writer applies this step to each
    document as it writes it (`pipelines.corpus_write.WriteCorpus`)."""

    def __init__(self, config: filters.FilterConfig):
        super().__init__("boilerplate")
        self._config = config

    def apply(self, item: tuple[shards.Entry, frozenset]):
        entry, keys = item
        if keys:
            document = shards.unpack(entry.document)
            removed = boilerplate.remove_lines(document, keys)
            if removed:
                self.inc("sentences.removed.boilerplate", len(removed))
                examples = {}
                for key, sentence in removed:
                    examples.setdefault(key, sentence)
                for key, sentence in sorted(examples.items()):  # once per document, for the document count
                    self.side("lines", (key, sentence))
                # Passed on decoded: its shard is being written, and would unpack it again at once.
                entry = entry._replace(sentences=document.num_sentences(), words=document.num_words(),
                                       document=document)
        problem = filters.size_problem(entry.sentences, entry.words, self._config)
        if problem:
            # Counted here: `removed` would see the entry from before its lines went.
            self.inc("sentences.dropped_with_document", entry.sentences)
            return Removed(problem)
        return entry

    def removed(self, element, reason: str) -> None:
        if reason == "error":  # apply failed before it counted what leaves
            self.inc("sentences.dropped_with_document", element[0].sentences)


class LineExample(beam.CombineFn):
    """Per line key: how many sentences were removed, and the smallest one as the example to show."""

    def create_accumulator(self):
        return 0, None

    def add_input(self, accumulator, sentence):
        count, example = accumulator
        return count + 1, sentence if example is None else min(example, sentence)

    def merge_accumulators(self, accumulators):
        count, example = 0, None
        for n, text in accumulators:
            count += n
            if text is not None:
                example = text if example is None else min(example, text)
        return count, example

    def extract_output(self, accumulator):
        return accumulator


class TopLines(beam.PTransform):
    """`RemoveLinesDoFn`'s `lines` output -> the `top` lines removed from the most documents, as one list of
    {documents, key, text} (documents counts the winner that kept it too)."""

    def __init__(self, top: int):
        super().__init__()
        self._top = top

    def expand(self, lines):
        return (
            lines
            | "PerLine" >> beam.CombinePerKey(LineExample())
            | "LineRows" >> beam.MapTuple(lambda key, value: (value[0] + 1, key.hex(), value[1]))
            | "TopLines" >> beam.combiners.Top.Of(self._top)
            | "Unwrap" >> beam.Map(lambda top: [{"documents": n, "key": key, "text": text} for n, key, text in top])
        )


class Deduplicated(NamedTuple):
    """What `DeduplicateCorpus` gives the shard writer and the report."""

    entries: beam.PCollection  # (id, `shards.Entry` tuple) of every fingerprinted document
    removed: beam.PCollection  # (id, (step, reason, sentences)) of every document a dedup step removed
    line_losers: beam.PCollection  # (id, line key): a boilerplate line to drop from that document
    exact_groups: beam.PCollection  # the top exact-duplicate groups, as one list
    near_clusters: beam.PCollection  # the near-duplicate clusters, as one list
    total_bytes: beam.PCollection  # the text bytes of the documents no dedup step removed, one number


class DeduplicateCorpus(StepTransform):
    """Documents, or (documents, cross-source verdicts from `CrossSourceVerdicts`) -> `Deduplicated`: every
    document's shard entry (shuffle keys from `seed`), and the verdicts that the shard writer applies: the
    documents superseded by their PMC article or that are exact or near duplicates, and the boilerplate lines
    (sentences in >= `min_documents` documents are kept in one, a seeded winner, and dropped from the rest);
    with the report's exact-duplicate groups and near-duplicate clusters, and the text bytes of the documents no
    dedup step removed (the shard count's basis, known from the fingerprints before the documents are
    shuffled)."""

    def __init__(self, near: NearDuplicateConfig, seed: int, min_documents: int, top: int = 20):
        super().__init__()
        self._near = near
        self._seed = seed
        self._min_documents = min_documents
        self._top = top

    def expand(self, inputs):
        from pipelines.near_duplicates import DropNearDuplicates

        documents, superseded = inputs if isinstance(inputs, tuple) else (inputs, None)
        printed = documents | "Fingerprint" >> beam.ParDo(FingerprintDoFn(self._near, self._seed)).with_outputs(
            FINGERPRINTS, DEAD_LETTERS, EXCLUSIONS, main="documents")
        self.dead_letters.append(printed[DEAD_LETTERS])
        self.exclusions.append(printed[EXCLUSIONS])
        fingerprints = printed[FINGERPRINTS]
        verdicts = []
        if superseded is not None:
            cross = apply_step(
                {"fingerprint": fingerprints | "KeyById" >> beam.Map(lambda p: (p.id, tuple(p))),
                 "winner": superseded}
                | "JoinSuperseded" >> beam.CoGroupByKey()
                | "WithSuperseded" >> beam.FlatMap(_with_superseded),
                "KeepUnlessSuperseded", KeepUnlessSuperseded(), VERDICTS,
                dead_letters=self.dead_letters, exclusions=self.exclusions)
            fingerprints = cross.main
            verdicts.append(cross[VERDICTS])
        exact = DropExactDuplicates()
        survivors, groups = fingerprints | "ExactDuplicates" >> exact
        near = DropNearDuplicates(self._near, self._top)
        survivors, clusters = survivors | "NearDuplicates" >> near
        for step in (exact, near):
            self.dead_letters += step.dead_letters
            self.exclusions += step.exclusions
        losers = (
            survivors
            | "LineKeys" >> beam.FlatMap(_line_occurrences, seed=self._seed)
            | "GroupLines" >> beam.GroupByKey()  # by partition of the line keys (`boilerplate.line_occurrence`)
            | "Losers" >> beam.FlatMap(_line_losers, min_documents=self._min_documents)
        )
        verdicts = (*verdicts, exact.verdicts, near.verdicts) | "AllVerdicts" >> beam.Flatten()
        top_groups = groups | "TopExact" >> beam.combiners.Top.Of(
            self._top, key=lambda g: (g["removed_count"], g["kept"]))
        total_bytes = (
            survivors
            | "TextBytes" >> beam.Map(lambda print_: print_.text_bytes)
            | "TotalBytes" >> beam.CombineGlobally(sum)
        )
        return Deduplicated(printed.documents, verdicts, losers, top_groups, clusters, total_bytes)
