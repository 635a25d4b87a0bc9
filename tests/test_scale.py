"""The scale benchmark's generator, scaled down: generated PubMed + PMC input through the documents and corpus jobs.

At two small sizes the planted cases give the same results (every planted exact copy, near copy and PubMed/PMC
pair that reaches its step is found, no document that was not planted is removed by a dedup step) and every
step's counters balance. The hot keys (one template copied thousands of times: one LSH bucket, one title line;
one PMID issued again in hundreds of update files) run in a subprocess whose memory is measured against an
input of the same size without the hot key, and give the right result.
"""
from __future__ import annotations

import json
import tracemalloc
from itertools import chain
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

import pytest

from benchmarks.scale import STAGES, corpus_quality, hot_keys, run_stage, stage_args
from benchmarks.scale_data import generate
from corpus import boilerplate, dedup
from corpus.fingerprints import Fingerprint
from corpus.sentences import SentenceSplitter
from pipelines import corpus_dedup, near_duplicates
from pipelines.documents import LatestWins, candidate, record_line
from pipelines import corpus as corpus_job
from pipelines import documents as documents_job

SIZES_MB = (0.4, 0.8)
DEDUP_STEPS = ("cross_source", "exact", "near")
SPLITTER = SentenceSplitter()


def run_chain(data: Path, out: Path) -> dict:
    documents_job.run(["--pubmed", f"{data}/pubmed/*/*.xml.gz", "--pmc", f"{data}/pmc/*/*.xml",
                       "--output", f"{out}/documents/docs"])
    return corpus_job.run(["--input", f"{out}/documents/docs-*-of-*.jsonl.gz", "--output", f"{out}/corpus"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("scale")
    results = {}
    for size in SIZES_MB:
        data, out = root / f"input-{size}", root / f"run-{size}"
        truth = generate(data, size, seed=3)
        stats = run_chain(data, out)
        results[size] = (json.loads((data / "truth.json").read_text()), truth, stats, out)
    return results


def test_the_generator_is_deterministic_and_sized(tmp_path):
    first, second = generate(tmp_path / "a", 0.2, seed=5), generate(tmp_path / "b", 0.2, seed=5)
    assert first == second
    assert 0.2e6 <= first.text_bytes < 0.2e6 + 40_000
    for path in sorted(p for p in (tmp_path / "a").rglob("*") if p.is_file()):
        assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes(), path
    assert generate(tmp_path / "c", 0.2, seed=6).exact_copies != first.exact_copies


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES_MB)
def test_planted_duplicates_are_found_and_nothing_else_is_removed(runs, size):
    truth, _, _, out = runs[size]
    quality = corpus_quality(out / "corpus", truth)
    for step in DEDUP_STEPS:
        q = quality[step]
        assert q["reached"] > 0, (step, q)
        assert q["found"] == q["reached"], (step, q)  # recall 1
        assert q["not_planted"] == 0, (step, q)  # precision 1
    # Every planted case did real work: the sizes are small, but each kind is there.
    assert truth["superseded"] and truth["deleted"] and truth["boilerplate"]


@pytest.mark.slow
def test_two_sizes_give_the_same_results_and_the_counters_balance(runs):
    recalls = []
    for size in SIZES_MB:
        truth, generated, stats, out = runs[size]
        assert all(row["balanced"] for row in stats["steps"]), stats["steps"]
        assert stats["sentences"]["balanced"], stats["sentences"]
        docs = json.loads((out / "documents" / "docs-stats.json").read_text())
        assert docs["pubmed_documents_written"] + docs["pmc_documents_written"] == stats["counters"]["read.in"]
        assert docs["superseded"] == len(truth["superseded"])
        assert docs["deleted"] == len(truth["deleted"])
        quality = corpus_quality(out / "corpus", truth)
        recalls.append({step: (quality[step]["recall"], quality[step]["precision"]) for step in DEDUP_STEPS})
        # The planted boilerplate sentences (as the splitter cuts them) are found as lines of many documents.
        found = {row["text"] for row in stats["boilerplate_lines"]}
        planted = {line for text, n in truth["boilerplate"].items() if n >= 5 for line in SPLITTER.split(text)}
        assert planted and planted <= found, (planted, found)
    assert recalls[0] == recalls[1]
    assert runs[SIZES_MB[1]][0]["text_bytes"] >= 1.9 * runs[SIZES_MB[0]][0]["text_bytes"]


# The local runner holds its whole input, so each job's memory grows with the input; a step that held a hot
# key's members (or their pairs) at once would need more than the same number of ordinary documents cost.
ALLOWANCE = 1.25


@pytest.mark.slow
def test_hot_keys_cost_what_ordinary_documents_cost_and_give_the_right_result(tmp_path):
    hot = hot_keys(tmp_path, copies=3000, reissues=300, seed=1)
    for stage in ("documents", "corpus"):
        peak = {name: max(hot[f"{name}/{stage}"]["launcher_rss"], hot[f"{name}/{stage}"]["worker_rss"])
                for name in ("hot", "plain")}
        assert peak["hot"] <= ALLOWANCE * peak["plain"], (stage, peak)
        assert hot[f"hot/{stage}"]["seconds"] <= 2 * hot[f"plain/{stage}"]["seconds"] + 5, (stage, hot)
    # One PMID in 300 update files: the last issue wins, the others are counted as superseded.
    assert hot["reissued_last_wins"], hot["reissued_title"]
    assert hot["superseded"] >= 300
    # One template in 3000 copies, each pair of them near duplicates: one copy is kept, the rest are removed.
    assert hot["template_kept"] == 1
    assert hot["template_removed_by"] == ["near"]


@pytest.mark.slow
def test_every_stage_runs_as_its_command_in_multi_process_mode(tmp_path):
    """`python -m pipelines.X` with Beam's multi-process local runner, as the benchmark runs them: the workers must
    unpickle what the job pickles (its element types belong to the job's module, not to __main__)."""
    generate(tmp_path / "input", 0.2, seed=2)
    mode = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    for stage in STAGES:
        figures = run_stage(stage_args(stage, tmp_path / "input", tmp_path / "out", mode),
                            log=tmp_path / f"{stage}.log")
        assert figures["status"] == 0 and figures["worker_rss"] > 0, (stage, figures)
        assert figures["launcher_rss"] < 2e9, (stage, figures)
    assert list((tmp_path / "out" / "tfrecords").rglob("*.tfrecord*")), "no TFRecords written"


# --- Per-key state: one hot key's values, as a runner hands them to a step, are never held ---------------------

HOT = 50_000  # values under one key: held, they would take ~10 MB; streamed, a few KB
HELD_LIMIT = 2_000_000  # bytes a step may allocate for one key, whatever its number of values


class Group:
    """One key's values as a runner gives them: produced while they are read, and iterable again."""

    def __init__(self, make: Callable[[], Iterator]):
        self._make = make

    def __iter__(self):
        return self._make()


def peak_while_consumed(outputs: Iterator) -> tuple[int, int]:
    """(number of outputs, peak bytes allocated while they were produced and dropped)."""
    tracemalloc.start()
    try:
        count = sum(1 for _ in outputs)
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


SIGNATURE = np.arange(128, dtype=np.uint32).tobytes()


def test_a_hot_near_duplicate_key_is_streamed():
    # The best copy of a template that HOT others match: its signature comes last, so two passes are needed.
    pending = Group(lambda: chain((("pending", (f"pubmed:{i}", SIGNATURE)) for i in range(HOT)),
                                  [("signature", (dedup.rank_of(False, 100, "pubmed:0"), SIGNATURE))]))
    count, peak = peak_while_consumed(near_duplicates._verify(("pubmed:0", pending), threshold=0.8))
    assert count == HOT and peak < HELD_LIMIT, peak
    # Its cluster in the report: HOT removed copies counted, ten listed.
    members = Group(lambda: chain((("removed", {"id": f"pubmed:{i}", "similarity": 1.0, "title": "t"})
                                   for i in range(HOT)), [("titles", (True, "the template"))]))
    [(size, _, cluster)] = list(near_duplicates._cluster(("pubmed:0", members)))
    assert size == HOT and cluster["kept_in_corpus"] and len(cluster["removed"]) == near_duplicates.REPORT_MEMBERS
    count, peak = peak_while_consumed(near_duplicates._cluster(("pubmed:0", members)))
    assert peak < HELD_LIMIT, peak
    # An LSH bucket of HOT members: each paired with the 8 best.
    bucket = Group(lambda: (dedup.rank_of(False, i % 997, f"pubmed:{i}") for i in range(HOT)))
    count, peak = peak_while_consumed(dedup.bucket_edges(bucket, 8))
    assert count <= 8 * HOT and peak < HELD_LIMIT, peak


def test_a_hot_exact_key_and_a_hot_line_are_streamed():
    def prints():
        for i in range(HOT):
            yield Fingerprint(f"pubmed:{i}", dedup.rank_of(False, 50, f"pubmed:{i}"), 5, 50, 300, "t", "k", None, b"")
    count, peak = peak_while_consumed(corpus_dedup._resolve_exact(("k", Group(prints))))
    assert count == HOT + 1 + HOT - 1 and peak < HELD_LIMIT, peak  # survivor + verdicts + exclusions + group
    occurrences = Group(lambda: (i.to_bytes(8, "big") + f"pubmed:{i}".encode() for i in range(HOT)))
    total, losers = boilerplate.losing_documents(occurrences, 3)
    count, peak = peak_while_consumed(losers)
    assert total == HOT and count == HOT - 1 and peak < HELD_LIMIT, peak


def test_a_pmid_in_many_update_files_is_combined():
    combine = LatestWins()
    accumulator = combine.create_accumulator()
    tracemalloc.start()
    for i in range(HOT):
        accumulator = combine.add_input(accumulator, candidate((1, f"updatefiles/pubmed26n{i:06d}.xml.gz"), {
            "id": "pubmed:1", "source": "pubmed", "title": f"issue {i}"}))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    best, records, deletions = combine.extract_output(accumulator)
    assert json.loads(record_line(best))["title"] == f"issue {HOT - 1}" and records == HOT and deletions == 0
    assert peak < HELD_LIMIT, peak
