"""The documents job on the real sample: NLM's update rules, dead letters, stats, local and gs:// output."""
from __future__ import annotations

import gzip
import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest
from apache_beam.io.filesystems import FileSystems

from pipelines import documents
from tests.fixtures import SAMPLES

BASELINE = SAMPLES / "pubmed" / "baseline" / "pubmed20n1015.xml.gz"
UPDATE = SAMPLES / "pubmed" / "updatefiles" / "pubmed20n1016.xml.gz"
PMC_GLOB = str(SAMPLES / "pmc-oa-opendata" / "*" / "*.xml")
CITATION_PMID = re.compile(r'<MedlineCitation[^>]*>\s*<PMID Version="(\d+)">(\d+)</PMID>')


def read_lines(pattern: str) -> list[dict]:
    rows = []
    for match in FileSystems.match([pattern])[0].metadata_list:
        with FileSystems.open(match.path) as handle:  # .gz is decompressed by its suffix
            rows += [json.loads(line) for line in handle.read().decode("utf-8").splitlines() if line]
    return rows


def pmids_with_versions(path: Path) -> list[tuple[int, str]]:
    text = gzip.open(path).read().decode("utf-8")
    return [(int(version), pmid) for version, pmid in CITATION_PMID.findall(text)]


def pmid_origins(rows: list[dict]) -> dict[str, dict]:
    return {row["pmid"]: row for row in rows if row["source"] == "pubmed"}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs") / "docs"
    stats = documents.run([
        "--pubmed", str(BASELINE), "--pubmed", str(UPDATE), "--pmc", PMC_GLOB,
        "--output", str(out), "--num-shards", "2",
    ])
    return out, stats, read_lines(f"{out}-*-of-*.jsonl.gz")


def test_update_file_supersedes_baseline_and_latest_version_wins(sample_run):
    _, stats, rows = sample_run
    baseline, update = pmids_with_versions(BASELINE), pmids_with_versions(UPDATE)
    expected = {pmid for _, pmid in baseline} | {pmid for _, pmid in update}
    by_pmid = pmid_origins(rows)
    assert set(by_pmid) == expected
    assert len(rows) == len(expected) + 12  # + the 12 PMC articles
    # Every PMID present in the update comes from the update, at its highest version there.
    for version, pmid in update:
        assert by_pmid[pmid]["origin"].endswith("pubmed20n1016.xml.gz")
    top_version = max(v for v, p in update if p == "31828225")
    assert by_pmid["31828225"]["version"] == top_version > 1
    assert stats["superseded"] == len(baseline) + len(update) - len(expected)
    assert stats["pubmed_records_read"] == len(baseline) + len(update)
    assert stats["pubmed_documents_written"] == len(expected)
    # The update's 218 deletions name PMIDs that are not in this subset: counted, nothing removed.
    assert stats["pubmed_deletions_read"] == 218
    assert stats["deletions_without_record"] == 218
    assert stats.get("deleted", 0) == 0


def test_document_schema_and_pmc_metadata(sample_run):
    out, stats, rows = sample_run
    required = {"id", "source", "pmid", "pmcid", "version", "title", "abstract", "body", "language",
                "licence", "retracted", "origin"}
    for row in rows:
        assert required <= set(row)
        assert row["id"] == (f"pubmed:{row['pmid']}" if row["source"] == "pubmed" else f"pmc:{row['pmcid']}")
        assert all(set(section) == {"label", "text"} for section in row["abstract"])
        assert all(set(paragraph) == {"section", "text"} for paragraph in row["body"])
    pmc_rows = {row["pmcid"]: row for row in rows if row["source"] == "pmc"}
    assert len(pmc_rows) == 12 == stats["pmc_documents_written"]
    article = pmc_rows["PMC3574550"]  # mds526: CC BY-NC in its Cloud Service JSON
    assert article["licence"] == "CC BY-NC" and article["pmid"] == "23149571"
    assert article["body"] and article["title"]
    assert Path(f"{out}-stats.json").exists()
    assert json.loads(Path(f"{out}-stats.json").read_text())["pmc_articles_read"] == 12
    assert read_lines(f"{out}-errors-*.jsonl") == []


def test_later_deletion_removes_the_record(tmp_path):
    victim = pmids_with_versions(BASELINE)[0][1]
    deletions = tmp_path / "pubmed20n1017.xml.gz"  # an update file after the baseline
    with gzip.open(deletions, "wt") as handle:
        handle.write('<?xml version="1.0"?>\n<PubmedArticleSet><DeleteCitation>'
                     f'<PMID Version="1">{victim}</PMID></DeleteCitation></PubmedArticleSet>\n')
    out = tmp_path / "docs"
    stats = documents.run(["--pubmed", str(BASELINE), "--pubmed", str(deletions), "--output", str(out)])
    rows = read_lines(f"{out}-*-of-*.jsonl.gz")
    assert victim not in pmid_origins(rows)
    assert stats["deleted"] == 1
    assert len(rows) == len({p for _, p in pmids_with_versions(BASELINE)}) - 1


@pytest.mark.slow
def test_bad_files_and_records_go_to_dead_letters(tmp_path):
    raw = gzip.open(BASELINE).read()
    truncated = tmp_path / "pubmed20n1001.xml.gz"
    truncated.write_bytes(gzip.compress(raw)[: len(gzip.compress(raw)) // 2])
    html = tmp_path / "pubmed20n1002.xml.gz"
    html.write_bytes(b"<html><body><h1>503 Service Unavailable</h1></body></html>")
    # One record broken in the middle of a real file: the rest of the file must still be parsed.
    records = raw.split(b"<PubmedArticle>")
    records[5] = records[5].replace(b"</ArticleTitle>", b"</ArticleTitel>", 1)
    broken = tmp_path / "pubmed20n1003.xml.gz"
    broken.write_bytes(gzip.compress(b"<PubmedArticle>".join(records)))
    bad_article = tmp_path / "PMC0000001.1.xml"
    bad_article.write_bytes(b"<article><front><article-meta>unclosed")
    good_article = sorted(SAMPLES.glob("pmc-oa-opendata/*/*.xml"))[0]
    shutil.copy(good_article, tmp_path / good_article.name)

    out = tmp_path / "docs"
    stats = documents.run(["--pubmed", str(tmp_path / "*.xml.gz"), "--pmc", str(tmp_path / "PMC*.xml"),
                           "--output", str(out)])
    errors = read_lines(f"{out}-errors-*.jsonl")
    by_origin = {}
    for error in errors:
        by_origin.setdefault(Path(error["origin"].split("#")[0]).name, []).append(error)
    assert set(by_origin) == {truncated.name, html.name, broken.name, bad_article.name}
    assert by_origin[broken.name][0]["kind"] == "record"
    assert all(error["reason"] for error in errors)
    assert stats["pubmed_file_errors"] == 2 and stats["pubmed_record_errors"] == 1
    assert stats["pmc_article_errors"] + stats.get("pmc_file_errors", 0) == 1
    rows = read_lines(f"{out}-*-of-*.jsonl.gz")
    written = pmid_origins(rows)
    # Every record of the broken file but the damaged one was written (the truncated file adds some too).
    assert len({p for o, p in [(r["origin"], r["pmid"]) for r in written.values()] if o.endswith("1003.xml.gz")}) \
        == len({p for _, p in pmids_with_versions(BASELINE)}) - 1
    assert stats["pmc_documents_written"] == 1


@pytest.mark.slow
def test_multiprocess_runner_into_gcs(gcs_prefix):
    stats = documents.run([
        "--pubmed", str(UPDATE), "--pmc", PMC_GLOB, "--output", f"{gcs_prefix}/docs",
        "--direct_running_mode=multi_processing", "--direct_num_workers=2",
    ])
    rows = read_lines(f"{gcs_prefix}/docs-*-of-*.jsonl.gz")
    assert len(rows) == stats["pubmed_documents_written"] + stats["pmc_documents_written"]
    assert stats["pmc_documents_written"] == 12
    assert FileSystems.exists(f"{gcs_prefix}/docs-stats.json")
    assert not [m for m in FileSystems.match([f"{gcs_prefix}/docs*.tmp*"])[0].metadata_list]


def test_cli_help_and_missing_input(capsys):
    with pytest.raises(SystemExit) as exit_info:
        documents.run(["--help"])
    assert exit_info.value.code == 0
    assert "--pubmed" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="matches no file"):
        documents.run(["--pubmed", "/nonexistent/*.xml.gz", "--output", "/tmp/x"])


def _package(path: Path, articles: list[Path]) -> Path:
    """A bulk package of real sample articles, with its .filelist.csv in NCBI's shape (LF line ends)."""
    rows = ["Article File,Article Citation,AccessionID,LastUpdated (YYYY-MM-DD HH:MM:SS),PMID,License,Retracted\n"]
    with tarfile.open(path, "w:gz") as archive:
        for article in articles:
            meta = json.loads(article.with_suffix(".json").read_text())
            member = f"PMC00Xxxxxxx/{meta['pmcid']}.xml"
            archive.add(article, arcname=member)
            rows.append(f'{member},"{meta.get("source_file", "")}",{meta["pmcid"]},"2024-06-18 10:00:00",'
                        f'{meta.get("pmid") or ""},"{meta.get("license_code") or "NO-CC CODE"}",no\n')
    filelist = path.with_name(path.name.replace(".tar.gz", ".filelist.csv"))
    filelist.write_text("".join(rows))
    return filelist


def test_damage_costs_no_good_data_and_is_reported_and_counted(tmp_path):
    """Real files, damaged the ways downloads and disks damage them: everything whole before the damage is
    written, each damage is one dead letter saying where, and the counters say what happened."""
    pubmed_dir, pmc_dir = tmp_path / "pubmed", tmp_path / "pmc"
    pubmed_dir.mkdir()
    pmc_dir.mkdir()
    data = SAMPLES.parent.parent / "tests" / "data" / "pubmed"
    small = (data / "test_current_medline.xml.gz").read_bytes()
    cut = pubmed_dir / "pubmed26n0001.xml.gz"
    cut.write_bytes(small[:-4])  # 4 records, cut inside the gzip trailer
    padded = pubmed_dir / "pubmed26n0002.xml.gz"
    padded.write_bytes((data / "update_pubmed21n1063_sample.xml.gz").read_bytes() + bytes(4096))
    garbage = pubmed_dir / "pubmed26n0003.xml.gz"
    garbage.write_bytes((data / "baseline_pubmed26n1334_sample.xml.gz").read_bytes() + b"<html>oops</html>")

    articles = sorted(SAMPLES.glob("pmc-oa-opendata/*/*.xml"))
    package_a = pmc_dir / "oa_comm_xml.PMC00Xxxxxxx.baseline.2024-06-18.tar.gz"
    filelist_a = _package(package_a, articles[:5])
    filelist_a.write_bytes(filelist_a.read_bytes()[:-3])  # the last row cut inside its last field: ",n"
    package_b = pmc_dir / "oa_comm_xml.incr.2024-06-19.tar.gz"
    _package(package_b, articles[5:10])
    package_b.write_bytes(package_b.read_bytes()[:-5])  # cut inside the gzip trailer
    for article in articles[10:]:
        shutil.copytree(article.parent, pmc_dir / article.parent.name)
    json_cut = pmc_dir / articles[10].parent.name / articles[10].with_suffix(".json").name
    json_cut.write_bytes(json_cut.read_bytes()[:40])
    xml_cut = pmc_dir / articles[11].parent.name / articles[11].name
    xml_cut.write_bytes(xml_cut.read_bytes()[:30000])

    out = tmp_path / "docs"
    stats = documents.run(["--pubmed", str(pubmed_dir / "*.xml.gz"), "--pmc", str(pmc_dir / "*.tar.gz"),
                           "--pmc", str(pmc_dir / "*" / "*.xml"), "--output", str(out)])
    rows = read_lines(f"{out}-*-of-*.jsonl.gz")
    written = {Path(row["origin"].split("#")[0]).name: 0 for row in rows}
    for row in rows:
        written[Path(row["origin"].split("#")[0]).name] += 1
    # The padded file holds 33 records of 30 PMIDs (three at two versions).
    assert written == {cut.name: 4, padded.name: 30, garbage.name: 30, package_a.name: 5, package_b.name: 5,
                       articles[10].name: 1}
    errors = {Path(error["origin"]).name: error for error in read_lines(f"{out}-errors-*.jsonl")}
    assert set(errors) == {cut.name, garbage.name, filelist_a.name, package_b.name, json_cut.name, xml_cut.name}
    assert all(error["kind"] == "file" for error in errors.values())
    assert errors[cut.name]["reason"].startswith("truncated gzip stream")
    assert (errors[cut.name]["records_read"], errors[garbage.name]["records_read"]) == (4, 30)
    assert f"at byte {len(small) - 4} of the file" in errors[cut.name]["reason"]
    assert errors[cut.name]["offset"] == len(gzip.decompress(small))
    assert errors[garbage.name]["reason"].startswith("unexpected data after the end of the gzip stream")
    assert "does not end with a newline" in errors[filelist_a.name]["reason"]
    assert errors[filelist_a.name]["archive"] == str(package_a)
    assert errors[package_b.name]["reason"].startswith("truncated gzip stream")
    assert errors[package_b.name]["articles_kept"] == 5
    assert errors[json_cut.name]["reason"].startswith("unreadable metadata, the article is read without it")
    assert "malformed XML" in errors[xml_cut.name]["reason"]
    expected = {
        "pubmed_file_errors": 2, "pubmed_records_kept_from_damaged_files": 34, "pubmed_record_errors": 0,
        "pubmed_zero_padded_files": 1, "pubmed_trailing_zero_bytes": 4096, "pubmed_records_read": 67,
        "pubmed_documents_written": 64, "superseded": 3,
        "pmc_filelist_unreadable": 1, "pmc_metadata_unreadable": 1, "pmc_file_errors": 2,
        "pmc_articles_kept_from_damaged_archives": 5, "pmc_article_errors": 0, "pmc_documents_written": 11,
    }
    assert {name: stats.get(name) for name in expected} == expected
