"""The corpus job's benchmark decontamination step (`--exclude-benchmark DIR`), thin glue around
`corpus.contamination`.

The launcher reads the benchmark files once (through `evaluation`'s layouts and readers, on Beam's FileSystems:
local or gs://), checks them (a bad file is a one-line error before anything runs) and writes the index of their
PMIDs and n-gram hashes to `OUTPUT/contamination/index.npz`; each worker process loads it once (`setup`), so the
job graph stays small whatever the benchmark's size. The step is a `CorpusStep` after language identification and
before deduplication: `decontaminate.in = out + removed.pmid + removed.text`, removed documents go to the job's
`removed/` list like every other step's, and every matched document is a line of
`OUTPUT/contamination/part-*.jsonl`. Counters: `decontaminate.matched.<pmid|text>` (documents),
`decontaminate.match.<task>.<split>.<pmid|text|sentences>`, `decontaminate.sentences_removed` (or
`decontaminate.sentences_matched` in report mode), `sentences.removed.contamination` (the sentence scope).
"""
from __future__ import annotations

from typing import NamedTuple

from apache_beam.io.filesystems import FileSystems

from corpus import contamination, filters
from corpus.assemble import CorpusDocument
from corpus.contamination import BY_PMID, BY_TEXT, DOCUMENT, REPORT, DecontaminationConfig
from evaluation.files import FileAccess
from evaluation.tasks import DataError
from pipelines.common import Removed, WriteJsonLines, apply_step, read_bytes, write_atomically
from pipelines.corpus_steps import CorpusStep, StepTransform

CONTAMINATION_DIR = "contamination"
CONTAMINATION = "contamination"  # the tag of the matched documents' records
INDEX_FILE = "index.npz"
BEAM_FILES = FileAccess(read_bytes, FileSystems.exists)


class IndexFile(NamedTuple):
    path: str
    digest: str


def read_benchmarks(directories, splits, ngram: int, flag: str) -> contamination.Index:
    """The index of the benchmarks' `splits` (local or gs://); a bad or missing file exits with one line naming
    `flag`."""
    try:
        return contamination.build_index(directories, splits, ngram, BEAM_FILES)
    except (DataError, FileNotFoundError) as error:
        raise SystemExit(f"error: {flag}: {error}") from None


def write_index(path: str, index: contamination.Index) -> IndexFile:
    """The index as one file for the workers to load (`contamination.load_index`), with its digest."""
    data = index.to_bytes()
    write_atomically(path, data)
    return IndexFile(path, contamination.index_digest(data))


def remove_contamination_files(output: str) -> None:
    """An earlier run's lists and index, which this run would not all replace (or would leave when it has no
    --exclude-benchmark)."""
    old = [m.path for result in FileSystems.match([f"{output}/{CONTAMINATION_DIR}/*"]) for m in result.metadata_list]
    if old:
        FileSystems.delete(old)


class DecontaminateDoFn(CorpusStep):
    """CorpusDocument -> itself, itself without the sentences that carry the match, or `Removed(pmid|text)`."""

    def __init__(self, index: IndexFile, config: DecontaminationConfig, filter_config: filters.FilterConfig):
        super().__init__("decontaminate")
        self._index_file = index
        self._config = config
        self._filters = filter_config
        self._index = None

    def setup(self) -> None:
        self._index = contamination.load_index(self._index_file.path, self._index_file.digest, read_bytes)

    def apply(self, document: CorpusDocument):
        index, config = self._index, self._config
        match = contamination.judge(document.pmid, list(document.sentences()), index, config.min_matches)
        if match is None:
            return document
        for kind, sources in ((BY_PMID, match.pmid_sources), (BY_TEXT, match.text_sources)):
            if sources:
                self.inc(f"decontaminate.matched.{kind}")
            for source in sources:
                self.inc(contamination.counter_name(index.sources[source], kind))
        for sources in match.sentences.values():
            for source in sources:
                self.inc(contamination.counter_name(index.sources[source], "sentences"))
        if config.mode == REPORT:
            self.inc("decontaminate.sentences_matched", len(match.sentences))
            return self._listed(document, match, "reported", 0, document)
        if config.scope == DOCUMENT:
            return self._listed(document, match, "removed", document.num_sentences(), Removed(match.kind))
        removed = contamination.remove_matched(document, match)
        self.inc("sentences.removed.contamination", removed)
        if filters.document_problem(document, self._filters):  # left empty or too short: it goes
            return self._listed(document, match, "removed", removed + document.num_sentences(),
                                Removed(match.kind))
        return self._listed(document, match, "sentences_removed", removed, document)

    def _listed(self, document: CorpusDocument, match, action: str, sentences: int, outcome):
        if action != "reported":
            self.inc("decontaminate.sentences_removed", sentences)
        self.side(CONTAMINATION, contamination.record(document.id, document.pmid, match, self._index, action,
                                                      sentences))
        return outcome


class Decontaminate(StepTransform):
    """Documents -> the documents that hold no excluded benchmark example (or, in report mode, all of them);
    `matches` holds the records of the matched documents after it is applied."""

    def __init__(self, index: IndexFile, config: DecontaminationConfig, filter_config: filters.FilterConfig):
        super().__init__()
        self._index = index
        self._config = config
        self._filters = filter_config
        self.matches = None

    def expand(self, documents):
        result = apply_step(documents, "Judge", DecontaminateDoFn(self._index, self._config, self._filters),
                            CONTAMINATION, dead_letters=self.dead_letters, exclusions=self.exclusions)
        self.matches = result[CONTAMINATION]
        return result.main


class WriteContamination(WriteJsonLines):
    """Matched documents' records -> `contamination/part-SSSSS-of-NNNNN.jsonl` (one JSON object a line)."""

    def __init__(self, output: str):
        super().__init__(f"{output}/{CONTAMINATION_DIR}/part", ".jsonl")
