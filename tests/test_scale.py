"""The scale benchmark's generator, scaled down: generated PubMed + PMC input through the documents and corpus jobs.

At two small sizes the planted cases give the same results (every planted exact copy, near copy and PubMed/PMC
pair that reaches its step is found, no document that was not planted is removed by a dedup step) and every
step's counters balance. The hot keys (one template copied thousands of times: one LSH bucket, one title line;
one PMID issued again in hundreds of update files) run in a subprocess whose memory is measured against an
input of the same size without the hot key, and give the right result.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.scale import corpus_quality, hot_keys
from benchmarks.scale_data import generate
from corpus.sentences import SentenceSplitter
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
