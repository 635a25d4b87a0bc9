"""The corpus job on the bundled sample: throughput (MB/s and documents/s per core) and where its time goes.

- Input: the bundled sample (samples/mirror: PubMed 2020 baseline/update subsets and 12 PMC articles) parsed by
  the project's parsers, written as the documents job writes it; or --input, the documents job's output.
- Steps: each step's pure function (the per-document work of the job, no Beam) over the same documents in one
  process, in the job's order, each step fed with the previous step's output. MB/s counts the UTF-8 text of the
  documents' titles, abstracts and body paragraphs.
- Whole job: `python -m pipelines.corpus` on the DirectRunner in one process (one core); --workers N adds a
  multi-process run (its per-core figure divides by N). The same job on 20 documents measures the fixed cost
  (start-up, pipeline construction, one pass through ~80 transforms); the rate beyond it is what a larger input
  would see on this runner. The gap between the steps and that rate is Beam's per-element cost (encoding,
  shuffles) on the DirectRunner.
- Decontamination (`--exclude-benchmark`): the step's pure function over the documents the language step keeps,
  against the bundled BLURB files' index padded with random hashes to --index-entries (BLURB's dev and test sets
  make ~2-3 million), as a share of the steps above; and the whole job with the bundled BLURB files excluded
  against the same job without.
- Comparison: our MinHash signatures (vectorised NumPy over CRC-32 shingle hashes) against datasketch's
  `MinHash.update_batch`, the library a user would pick, on the same shingles of the same documents.
"""
from __future__ import annotations

import argparse
import glob
import gzip
import logging
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Sequence

from corpus import boilerplate, dedup, filters, langid, shards
from corpus.assemble import assemble, text_blocks
from corpus.documents import Document
from corpus.minhash import MinHasher, lsh_parameters, normalised_words, shingle_hashes
from corpus.sentences import SentenceSplitter

BLURB_DIRECTORIES = (Path(__file__).resolve().parent.parent / "tests" / "data" / "blurb",
                     Path(__file__).resolve().parent.parent / "tests" / "data" / "blurb_data")
FIXED_COST_DOCUMENTS = 20  # a run this small is all start-up and per-stage cost
log = logging.getLogger("benchmarks.corpus")


def sample_lines() -> list[str]:
    """The bundled sample as the documents job writes it (latest PubMed version per PMID, PMC articles):
    the same set the corpus tests use."""
    from tests.corpus_data import sample_documents

    return [document.to_json() for document in sample_documents()]


def read_lines(patterns: Sequence[str]) -> list[str]:
    lines = []
    for path in sorted({match for pattern in patterns for match in glob.glob(pattern)}):
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            lines += [line for line in handle if line.strip()]
    if not lines:
        raise SystemExit(f"error: --input {patterns} matches no document")
    return lines


class Timer:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    def run(self, name: str, step: Callable):
        start = time.perf_counter()
        result = step()
        self.seconds[name] = time.perf_counter() - start
        return result


def padded_index(entries: int):
    """The bundled BLURB files' dev and test index, padded with random 64-bit hashes to `entries` entries."""
    import numpy as np

    from corpus import contamination

    index = contamination.build_index([str(path) for path in BLURB_DIRECTORIES], ["dev", "test"], 13)
    extra = max(0, entries - index.hashes.size)
    random = np.random.RandomState(0).randint(0, np.iinfo(np.uint64).max, size=extra, dtype=np.uint64)
    hashes = np.concatenate([index.hashes, random])
    owners = np.concatenate([index.owners, np.zeros(extra, np.uint32)])
    order = np.argsort(hashes, kind="stable")
    return contamination.Index(index.ngram, index.sources, index.guids, index.example_source, index.example_pmid,
                               hashes[order], owners[order], index.missing)


def time_steps(lines: list[str], index=None) -> tuple[dict[str, float], int, int, float]:
    """Seconds per step over the documents (one process); also (documents, text bytes) of the input, and the
    seconds of decontamination against `index` after the language step (0 without an index)."""
    timer = Timer()
    splitter = SentenceSplitter()
    identifier = langid.LanguageIdentifier()
    filter_config, language_config = filters.FilterConfig(), langid.LanguageConfig()
    hasher = MinHasher(128, seed=1)
    bands, rows = lsh_parameters(0.8, 128)

    documents = timer.run("read (JSON -> Document)", lambda: [Document.from_json(line) for line in lines])
    text_bytes = sum(len(text.encode("utf-8")) for d in documents for _, _, text in text_blocks(d))

    def cross_source():
        groups = defaultdict(list)
        for document in documents:
            for key in dedup.link_keys(document):
                groups[key].append((document.source, document.id))
        losers = {loser for members in groups.values() for loser, _ in dedup.cross_source_losers(members)}
        return [d for d in documents if d.id not in losers]

    kept = timer.run("cross-source dedup", cross_source)
    assembled = timer.run("assembly + sentence splitting", lambda: [assemble(d, splitter)[0] for d in kept])

    def apply_filters():
        out = []
        for document in assembled:
            filters.filter_sentences(document, filter_config)
            if filters.document_problem(document, filter_config) is None:
                out.append(document)
        return out

    filtered = timer.run("filters", apply_filters)
    english = timer.run("language (CLD2)", lambda: [
        d for d in filtered if langid.judge_document(d, identifier, language_config)[0]])
    decontamination = 0.0
    if index is not None:  # timed apart: the table's steps are the job's without --exclude-benchmark
        from corpus import contamination

        start = time.perf_counter()
        for document in english:
            contamination.judge(document.pmid, list(document.sentences()), index)
        decontamination = time.perf_counter() - start

    def exact():
        best = {}
        for document in english:
            key = dedup.exact_key(document)
            if key not in best or dedup.survivor_rank(document) < dedup.survivor_rank(best[key]):
                best[key] = document
        return list(best.values())

    unique = timer.run("exact duplicates", exact)
    timer.run("near duplicates (MinHash + LSH keys)", lambda: [
        dedup.lsh_band_keys(signature, bands, rows) for signature in
        (dedup.minhash_signature(d, hasher, 5) for d in unique) if signature is not None])

    def boilerplate_lines():
        holders = defaultdict(list)
        for document in unique:
            for key in boilerplate.document_line_keys(document):
                holders[key].append(boilerplate.occurrence(0, document.id))
        removals = defaultdict(set)
        for key, occurrences in holders.items():
            for document_id in boilerplate.losing_documents(occurrences, 3)[1]:
                removals[document_id].add(key)
        for document in unique:
            if document.id in removals:
                boilerplate.remove_lines(document, removals[document.id])

    timer.run("boilerplate lines", boilerplate_lines)
    timer.run("shard files (text + gzipped JSON)", lambda: shards.render_shard(
        [(shards.shuffle_key(0, d.id), d) for d in unique], "part-00000-of-00001.txt"))
    return timer.seconds, len(documents), text_bytes, decontamination


def compare_minhash(lines: list[str], rounds: int) -> tuple[float, float]:
    """Seconds for our signatures and for datasketch's on the same 5-word shingles (best of `rounds`)."""
    from datasketch import MinHash

    splitter = SentenceSplitter()
    word_lists = []
    for line in lines:
        document = assemble(Document.from_json(line), splitter)[0]
        word_lists.append([w for s in document.sentences() for w in normalised_words(s)])
    word_lists = [words for words in word_lists if len(words) >= 5]
    hasher = MinHasher(128, seed=1)

    def ours():
        for words in word_lists:
            hasher.signature(shingle_hashes(words, 5))

    def theirs():
        for words in word_lists:
            minhash = MinHash(num_perm=128, seed=1)
            minhash.update_batch([" ".join(words[i:i + 5]).encode("utf-8") for i in range(len(words) - 4)])

    def best(function):
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        return min(times)

    return best(ours), best(theirs)


def write_input(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(line if line.endswith("\n") else line + "\n" for line in lines)
    return path


def time_job(input_glob: str, extra: list[str]) -> float:
    from pipelines import corpus as job

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        job.run(["--input", input_glob, "--output", out, *extra])
        return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", action="append", default=[], metavar="GLOB",
                        help="documents job output to use instead of the bundled sample (local files)")
    parser.add_argument("--workers", type=int, default=0,
                        help="also run the job multi-process with this many DirectRunner workers")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds of the MinHash comparison")
    parser.add_argument("--index-entries", type=int, default=3_000_000,
                        help="n-gram hashes in the decontamination index, the bundled BLURB files' padded with "
                             "random ones (default: %(default)s, about BLURB's dev and test sets)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    lines = read_lines(args.input) if args.input else sample_lines()
    index = padded_index(args.index_entries)
    seconds, documents, text_bytes, decontamination = time_steps(lines, index)
    megabytes = text_bytes / 1e6
    total = sum(seconds.values())
    print(f"input: {documents:,} documents, {megabytes:.2f} MB of text")
    print(f"{'step (pure functions, one process)':42s} {'seconds':>8s} {'share':>6s} {'MB/s':>8s}")
    for name, value in seconds.items():
        print(f"{name:42s} {value:8.3f} {value / total:6.1%} {megabytes / value:8.2f}")
    print(f"{'all steps':42s} {total:8.3f} {1:6.0%} {megabytes / total:8.2f}  ({documents / total:,.0f} documents/s)")
    print(f"decontamination, {index.hashes.size:,}-entry index    {decontamination:8.3f} "
          f"{decontamination / total:6.1%} {megabytes / decontamination:8.2f}  (with --exclude-benchmark; share "
          "of all steps above)")

    ours, theirs = compare_minhash(lines, args.rounds)
    print(f"MinHash signatures, 128 permutations: ours {ours:.3f} s, datasketch {theirs:.3f} s "
          f"-> ours is {theirs / ours:.1f}x as fast")

    with tempfile.TemporaryDirectory() as folder:
        path = write_input(Path(folder) / "docs-00000-of-00001.jsonl.gz", lines)
        small = write_input(Path(folder) / "small-00000-of-00001.jsonl.gz", lines[:FIXED_COST_DOCUMENTS])
        small_bytes = sum(len(t.encode("utf-8")) for line in lines[:FIXED_COST_DOCUMENTS]
                          for _, _, t in text_blocks(Document.from_json(line)))
        runs = [("whole job, DirectRunner in one process", [], 1)]
        if args.workers:
            runs.append((f"whole job, DirectRunner {args.workers} processes",
                         ["--direct_running_mode=multi_processing", f"--direct_num_workers={args.workers}"],
                         args.workers))
        for name, extra, cores in runs:
            elapsed = time_job(str(path), extra)
            fixed = time_job(str(small), extra)
            marginal = (text_bytes - small_bytes) / 1e6 / max(elapsed - fixed, 1e-9) / cores
            print(f"{name}: {elapsed:.1f} s -> {megabytes / elapsed / cores:.2f} MB/s and "
                  f"{documents / elapsed / cores:,.0f} documents/s per core")
            print(f"  of which {fixed:.1f} s is fixed (the same job on {FIXED_COST_DOCUMENTS} documents); beyond it "
                  f"{marginal:.2f} MB/s and {(documents - FIXED_COST_DOCUMENTS) / (elapsed - fixed) / cores:,.0f} "
                  f"documents/s per core")
            excluded = [arg for path in BLURB_DIRECTORIES for arg in ("--exclude-benchmark", str(path))]
            with_step = time_job(str(path), [*extra, *excluded])
            print(f"  with --exclude-benchmark (the bundled BLURB files): {with_step:.1f} s, "
                  f"{(with_step - elapsed) / elapsed:+.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
