"""Memory stays flat when one input is huge: each job runs in a subprocess on a small input, then on the same
input plus one huge line (or file); its peak resident memory may not grow with the huge input.

A job that held the huge input even once would need at least its size more; a job that streams it past its cap
needs nothing more. The huge input is 300 MB, the allowance 100 MB.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.corpus_data import sample_documents
from tests.fixtures import REPO, genia_documents
from tests.tfrecords_data import write_vocab

pytestmark = pytest.mark.slow

HUGE_BYTES = 300_000_000
ALLOWANCE_BYTES = 100_000_000
MEASURE = """
import resource, subprocess, sys
status = subprocess.run(sys.argv[1:]).returncode
print(status, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
"""


def peak_rss(*command: str) -> int:
    """Run `python -m ...` in a fresh process; its peak resident set size in bytes (it must succeed)."""
    result = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", *command], cwd=REPO,
                            capture_output=True, text=True, check=True)
    status, peak = result.stdout.split()[-2:]
    assert status == "0", result.stderr[-3000:]
    return int(peak)


def write_huge_line(path: Path, prefix: bytes = b"") -> None:
    with path.open("wb") as handle:
        handle.write(prefix)
        chunk = b"word " * 200_000
        for _ in range(HUGE_BYTES // len(chunk)):
            handle.write(chunk)
        handle.write(b"\n")


@pytest.fixture(scope="module")
def texts(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("memory")
    small, huge = root / "small", root / "huge"
    small.mkdir()
    huge.mkdir()
    text = "".join(line + "\n" for doc in genia_documents()[:40] for line in (*doc, ""))
    for directory in (small, huge):
        (directory / "part-00000.txt").write_text(text)
    write_huge_line(huge / "part-00001.txt")
    (small / "part-00001.txt").write_text("")
    documents = "".join(d.to_json() + "\n" for d in sample_documents()[:50])
    docs_small, docs_huge = root / "docs-small", root / "docs-huge"
    for directory in (docs_small, docs_huge):
        directory.mkdir()
        (directory / "docs-00000.jsonl").write_text(documents)
    write_huge_line(docs_huge / "docs-00001.jsonl", b'{"id": "pubmed:1", "source": "pubmed", "title": "')
    (docs_small / "docs-00001.jsonl").write_text("")
    return {"root": root, "small": small, "huge": huge, "docs_small": docs_small, "docs_huge": docs_huge,
            "vocab": write_vocab(root / "vocab")}


def check_flat(small: int, huge: int) -> None:
    print(f"peak RSS: {small / 1e6:.0f} MB small input, {huge / 1e6:.0f} MB with the huge one")
    assert huge - small < ALLOWANCE_BYTES, f"peak RSS {small / 1e6:.0f} MB -> {huge / 1e6:.0f} MB"


def test_corpus_job_memory_is_flat_in_one_huge_document(texts):
    peaks = [peak_rss("pipelines.corpus", "--input", f"{texts[name]}/*", "--output", str(texts["root"] / f"c-{name}"))
             for name in ("docs_small", "docs_huge")]
    check_flat(*peaks)
    letters = (texts["root"] / "c-docs_huge" / "errors").glob("corpus-*.jsonl")
    assert ["longer than --max-document-mb" in json.loads(line)["reason"]
            for path in letters for line in path.read_text().splitlines()] == [True]


def test_vocab_job_memory_is_flat_in_one_huge_line(texts):
    peaks = [peak_rss("pipelines.vocab", "--input", f"{texts[name]}/*", "--output", str(texts["root"] / f"v-{name}"),
                      "--vocab-size", "600") for name in ("small", "huge")]
    check_flat(*peaks)


def test_tfrecords_job_memory_is_flat_in_one_huge_line(texts):
    peaks = [peak_rss("pipelines.tfrecords", "--input", f"{texts[name]}/*", "--vocab", texts["vocab"],
                      "--output", str(texts["root"] / f"t-{name}"), "--num-shards", "1")
             for name in ("small", "huge")]
    check_flat(*peaks)


def test_documents_job_memory_is_flat_in_one_huge_article_and_one_huge_record(tmp_path):
    mirror = REPO / "samples" / "mirror"
    small, huge = tmp_path / "small", tmp_path / "huge"
    for directory in (small, huge):
        directory.mkdir()
        for path in sorted(mirror.glob("pubmed/*/*.xml.gz")) + sorted(mirror.glob("pmc-oa-opendata/*/*"))[:4]:
            (directory / path.name).write_bytes(path.read_bytes())
    # A 300 MB PMC article (over --max-article-mb: never read) and a PubMed file holding one 300 MB record
    # (over --max-record-mb: skipped while it is read; memory is bounded by that cap, here 8 MB, not by the input).
    write_huge_line(huge / "PMC9999999.1.xml", b"<article><front><article-meta><title-group><article-title>")
    record = huge / "pubmed30n9999.xml"
    write_huge_line(record, b'<?xml version="1.0"?><PubmedArticleSet><PubmedArticle><MedlineCitation>'
                            b'<PMID Version="1">1</PMID><Article><ArticleTitle>')
    with record.open("ab") as handle:
        handle.write(b"</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>\n")
    peaks = [peak_rss("pipelines.documents", "--pubmed", f"{directory}/pubmed*", "--pmc", f"{directory}/PMC*.xml",
                      "--output", str(tmp_path / f"out-{directory.name}" / "docs"), "--max-record-mb", "8")
             for directory in (small, huge)]
    check_flat(*peaks)
    letters = [json.loads(line) for path in (tmp_path / "out-huge").glob("docs-errors-*.jsonl")
               for line in path.read_text().splitlines()]
    assert sorted(Path(letter["origin"]).name for letter in letters) == ["PMC9999999.1.xml", "pubmed30n9999.xml"], letters
