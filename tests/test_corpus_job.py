"""The corpus job end to end: the bundled sample with planted cases, in-process locally and multi-process into the
GCS emulator; both runs must give the same bytes."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from apache_beam.io.filesystems import FileSystems

from corpus.assemble import CorpusDocument
from pipelines import corpus as job
from tests.corpus_data import planted_documents, write_documents

SHARD_MB = "0.5"  # the sample makes ~1.9 MB of text: several shards


@pytest.fixture(scope="module")
def job_input(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("docs")
    documents, plants = planted_documents()
    half = len(documents) // 2
    write_documents(folder / "docs-00000-of-00002.jsonl.gz", documents[:half])
    write_documents(folder / "docs-00001-of-00002.jsonl.gz", documents[half:])
    # A damaged file of the same job: a line cut short, a JSON array, a record without a source, an abstract
    # that is not a list of sections.
    with gzip.open(folder / "docs-damaged.jsonl.gz", "wt") as handle:
        handle.write('{"id": "pubmed:1", "source": "pubm\n[1, 2]\n{"id": "pubmed:2", "title": "x"}\n'
                     '{"id": "pubmed:3", "source": "pubmed", "origin": "f", "abstract": "not a list"}\n')
    return folder, plants


@pytest.fixture(scope="module")
def local_run(job_input, tmp_path_factory) -> tuple[Path, dict]:
    folder, _ = job_input
    out = tmp_path_factory.mktemp("corpus")
    (out / "text").mkdir()
    (out / "text" / "part-00003-of-00009.txt").write_text("a shard of an earlier run with another shard count\n")
    stats = job.run(["--input", str(folder / "docs-*.jsonl.gz"), "--output", str(out), "--seed", "7",
                     "--shard-size-mb", SHARD_MB])
    return out, stats


def read_text_shards(out: Path) -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted((out / "text").glob("part-*"))}


def read_document_shards(out: Path) -> list[dict]:
    return [json.loads(line) for path in sorted((out / "documents").glob("part-*.jsonl.gz"))
            for line in gzip.open(path, "rt", encoding="utf-8")]


@pytest.mark.slow
def test_planted_cases_are_removed_and_counted(local_run, job_input):
    out, stats = local_run
    _, plants = job_input
    written = {record["id"] for record in read_document_shards(out)}
    for removed in ("exact_copy", "near_copy", "cross_by_pmid", "cross_by_pmcid", "portuguese"):
        assert plants[removed] not in written, removed
    for kept in ("exact_original", "near_original", "spanish_paragraph_host", "pmc:PMC2994229"):
        assert plants.get(kept, kept) in written, kept
    steps = {row["step"]: row for row in stats["steps"]}
    assert steps["read"]["removed"] == {"invalid": 4}
    assert steps["cross_source"]["removed"] == {"pubmed_in_pmc": 2}
    assert steps["language"]["removed"] == {"pt": 1}
    assert steps["exact"]["removed"] == {"duplicate": 1}
    assert steps["near"]["removed"]["duplicate"] >= 1
    assert [g["removed"] for g in stats["exact_duplicate_groups"]] == [[plants["exact_copy"]]]
    clusters = {c["kept"]: [m["id"] for m in c["removed"]] for c in stats["near_duplicate_clusters"]}
    assert clusters[plants["near_original"]] == [plants["near_copy"]]
    assert stats["counters"]["language.paragraphs_other_language"] == 1
    assert stats["sentences"]["removed"]["other_language"] > 0
    all_text = "".join(read_text_shards(out).values())
    assert "TEPT" not in all_text  # the Spanish paragraph went, its English article stayed


@pytest.mark.slow
def test_every_document_and_sentence_is_accounted_for(local_run):
    _, stats = local_run
    assert all(row["balanced"] for row in stats["steps"]), stats["steps"]
    assert [row["in"] for row in stats["steps"][1:]] == [row["out"] for row in stats["steps"][:-1]]
    assert stats["sentences"]["balanced"], stats["sentences"]
    assert stats["written"]["documents"] == stats["steps"][-1]["out"]


@pytest.mark.slow
def test_text_shards_are_electra_input_traceable_to_ids(local_run):
    out, stats = local_run
    texts = read_text_shards(out)
    assert len(texts) == len(stats["written"]["shards"]) > 1
    records = read_document_shards(out)
    assert len(records) == len({r["id"] for r in records}) == stats["written"]["documents"]
    for record in records:  # each document is whole, in one file, at the line it names
        lines = texts[record["text_shard"]].split("\n")
        sentences = [s for paragraph in record["paragraphs"] for s in paragraph["sentences"]]
        start = record["line"] - 1
        assert lines[start:start + len(sentences)] == sentences
        assert start == 0 or lines[start - 1] == ""
        assert all(sentences) and record["language"] == "en"
        assert list(CorpusDocument.from_dict(record).sentences()) == sentences
    for text in texts.values():
        assert text.endswith("\n") and not text.endswith("\n\n") and "\n\n\n" not in text
    assert sum(len(t.encode()) for t in texts.values()) == stats["written"]["text_bytes"]


@pytest.mark.slow
def test_boilerplate_lines_are_kept_once(local_run):
    out, stats = local_run
    lines = [line for text in read_text_shards(out).values() for line in text.split("\n")]
    top = {row["text"]: row["documents"] for row in stats["boilerplate_lines"]}
    assert top["All rights reserved."] >= 20  # real: publishers' copyright lines in the 2020 sample
    assert lines.count("All rights reserved.") == 1
    assert lines.count("This article is protected by copyright.") == 1


@pytest.mark.slow
def test_report_and_errors(local_run):
    out, stats = local_run
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 7
    assert "All rights reserved." in page and stats["near_duplicate_clusters"][0]["kept"] in page
    errors = [json.loads(line) for path in (out / "errors").glob("corpus-*.jsonl") for line in path.open()]
    assert len(errors) == 4 and all(e["origin"].endswith("docs-damaged.jsonl.gz") and e["reason"] for e in errors)
    assert "abstract is not a list" in {e["reason"] for e in errors}
    assert not list(out.glob("**/*.tmp-*")) and not (out / "_aggregates.json").exists()
    assert not (out / "text" / "part-00003-of-00009.txt").exists()  # an earlier run's shard does not linger


@pytest.mark.slow
def test_multiprocess_run_into_gcs_gives_identical_bytes(local_run, job_input, gcs_prefix):
    out, _ = local_run
    folder, _ = job_input
    job.run(["--input", str(folder / "docs-*.jsonl.gz"), "--output", gcs_prefix, "--seed", "7",
             "--shard-size-mb", SHARD_MB, "--direct_running_mode=multi_processing", "--direct_num_workers=2"])

    def read(path: str) -> bytes:
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            return handle.read()

    local_files = sorted(p.relative_to(out).as_posix() for p in out.glob("**/*")
                         if p.is_file() and p.parts[-2] not in ("errors", "removed"))
    assert {"stats.json", "report.html"} <= set(local_files)
    for name in local_files:
        assert read(f"{gcs_prefix}/{name}") == (out / name).read_bytes(), name

    # The exclusion list is a set of records; the runner picks its shard count and order.
    def exclusions(paths, read_file) -> list[str]:
        return sorted(line for path in paths for line in gzip.decompress(read_file(path)).decode().splitlines())

    gcs_parts = [m.path for m in FileSystems.match([f"{gcs_prefix}/removed/part-*"])[0].metadata_list]
    local_parts = sorted((out / "removed").glob("part-*"))
    assert exclusions(local_parts, lambda p: p.read_bytes())
    assert exclusions(gcs_parts, read) == exclusions(local_parts, lambda p: p.read_bytes())


def test_cli_help_and_bad_arguments(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        job.run(["--help"])
    assert exit_info.value.code == 0
    assert "--near-duplicate-threshold" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="matches no file"):
        job.run(["--input", str(tmp_path / "none-*.jsonl.gz"), "--output", str(tmp_path / "out")])
    for bad in (["--near-duplicate-threshold", "1.5"], ["--shingle-size", "9"], ["--shard-size-mb", "0"],
                ["--boilerplate-min-documents", "1"]):
        with pytest.raises(SystemExit) as exit_info:
            job.run(["--input", "x", "--output", "y", *bad])
        assert exit_info.value.code == 2, bad
