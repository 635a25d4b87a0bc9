"""`python -m pipelines.download` end to end: the real DirectRunner, a real HTTP server on 127.0.0.1 serving the
bundled sample like NCBI / the PMC Cloud Service, and the GCS emulator for gs:// destinations."""
from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from pathlib import Path

import pytest
from apache_beam.io.filesystems import FileSystems

from pipelines.download import run
from sources.localmirror import MirrorServer
from tests.download_helpers import (
    BASELINE_SAMPLE,
    PMC_SAMPLE,
    UPDATE_SAMPLE,
    build_bulk_tree,
    build_pmc_bucket,
    build_pubmed_dir,
    md5_file,
    read_errors,
    sample_articles,
    summary,
)

FAST = ["--retry-backoff", "0.01", "--max-concurrency", "3"]
SAMPLE_MD5 = md5_file(BASELINE_SAMPLE)


def download(*args: str) -> int:
    return run([*args, *FAST])


# -- PubMed ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ncbi(tmp_path_factory):
    """NCBI-like tree: a clean baseline dir, the real update file, and a dir of files that each get a fault."""
    root = tmp_path_factory.mktemp("ncbi")
    build_pubmed_dir(root / "pubmed" / "baseline", 3)
    (root / "pubmed" / "updatefiles").mkdir(parents=True)
    (root / "pubmed" / "updatefiles" / UPDATE_SAMPLE.name).write_bytes(UPDATE_SAMPLE.read_bytes())
    build_pubmed_dir(root / "faulty", 10)
    build_pubmed_dir(root / "resume", 1)
    with MirrorServer(root) as server:
        yield server


def test_pubmed_baseline_end_to_end_then_rerun_fetches_nothing(ncbi, tmp_path):
    dest = str(tmp_path / "baseline")
    base = ncbi.url + "pubmed/baseline/"
    assert download("--source", "pubmed-baseline", "--base-url", base, "--dest", dest) == 0

    names = [f"pubmed20n000{i}.xml.gz" for i in (1, 2, 3)]
    for name in names:
        assert md5_file(tmp_path / "baseline" / name) == SAMPLE_MD5
        assert (tmp_path / "baseline" / f"{name}.md5").read_text() == f"MD5({name})= {SAMPLE_MD5}\n"
    assert not list((tmp_path / "baseline").glob("*.part"))
    assert not (tmp_path / "baseline" / "README.txt").exists()  # only *.xml.gz are data
    first = summary(dest)
    assert (first["downloaded"], first["skipped_existing"], first["failed"]) == (3, 0, 0)
    assert first["bytes"] == 3 * BASELINE_SAMPLE.stat().st_size
    assert first["counters"]["verified_md5-sidecar"] == 3
    assert read_errors(dest) == []

    ncbi.clear()
    assert download("--source", "pubmed-baseline", "--base-url", base, "--dest", dest) == 0
    second = summary(dest)
    assert (second["downloaded"], second["skipped_existing"], second["bytes"]) == (0, 3, 0)
    fetched = {r.path for r in ncbi.requests}
    assert not any(path.endswith(".xml.gz") for path in fetched)  # only the listing and the sidecars
    assert {f"/pubmed/baseline/{n}.md5" for n in names} <= fetched


@pytest.mark.slow
def test_a_file_changed_upstream_is_fetched_again(ncbi, tmp_path):
    dest = tmp_path / "baseline"
    dest.mkdir()
    name = "pubmed20n0001.xml.gz"
    (dest / name).write_bytes(b"an older release of this file")
    (dest / f"{name}.md5").write_text(f"MD5({name})= {hashlib.md5(b'an older release of this file').hexdigest()}\n")
    code = download("--source", "pubmed-baseline", "--base-url", ncbi.url + "pubmed/baseline/", "--dest", str(dest),
                    "--include", name)
    assert code == 0
    assert md5_file(dest / name) == SAMPLE_MD5
    assert summary(str(dest))["downloaded"] == 1


@pytest.mark.slow
def test_pubmed_updates_source(ncbi, tmp_path):
    dest = str(tmp_path / "updates")
    assert download("--source", "pubmed-updates", "--base-url", ncbi.url + "pubmed/updatefiles/", "--dest", dest) == 0
    assert md5_file(tmp_path / "updates" / UPDATE_SAMPLE.name) == md5_file(UPDATE_SAMPLE)
    with gzip.open(tmp_path / "updates" / UPDATE_SAMPLE.name) as handle:
        assert b"<DeleteCitation>" in handle.read()


@pytest.mark.slow
def test_include_and_limit(ncbi, tmp_path):
    dest = str(tmp_path / "some")
    code = download("--source", "pubmed-baseline", "--base-url", ncbi.url + "faulty/", "--dest", dest,
                    "--include", "pubmed20n000[3-9].xml.gz", "--limit", "2")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "some").glob("*.xml.gz")) == ["pubmed20n0003.xml.gz",
                                                                            "pubmed20n0004.xml.gz"]
    assert summary(dest)["listing"]["excluded_by_include"] == 2  # 0001 and 0002, before the limit stopped it
    assert summary(dest)["listing"]["parent_links_ignored"] == 1  # the index page's "Parent Directory"


@pytest.fixture(scope="module")
def faulty_run(ncbi, tmp_path_factory):
    """One run over ten files, each served with its own fault; the tests below check each outcome."""
    other_host = MirrorServer(BASELINE_SAMPLE.parent).start()
    base = "/faulty/pubmed20n00{:02d}.xml.gz"
    ncbi.clear()
    ncbi.add_fault(base.format(1), "not_found")
    ncbi.add_fault(base.format(2), "truncate")  # every response cut in half
    ncbi.add_fault(base.format(3), "truncate", times=1)
    ncbi.add_fault(base.format(4) + ".md5", "wrong_md5")
    ncbi.add_fault(base.format(5) + ".md5", "wrong_md5", times=1)
    ncbi.add_fault(base.format(6), "html_error")
    ncbi.add_fault(base.format(7), "too_many_requests", times=1, retry_after=1)
    ncbi.add_fault(base.format(8), "unavailable", times=1)
    # "localhost" is this machine too, but another host name: the client must not follow.
    ncbi.add_fault(base.format(9), "redirect",
                   location=f"http://localhost:{other_host.port}/pubmed20n1015.xml.gz")
    ncbi.add_fault(base.format(10) + ".md5", "not_found")
    dest = tmp_path_factory.mktemp("faulty-dest")
    try:
        code = download("--source", "pubmed-baseline", "--base-url", ncbi.url + "faulty/", "--dest", str(dest),
                        "--retries", "3")
        requests = ncbi.requests
        other_requests = other_host.requests
    finally:
        other_host.stop()
        ncbi.clear()
    errors = {error["path"]: error for error in read_errors(str(dest))}
    return {"code": code, "dest": dest, "summary": summary(str(dest)), "errors": errors, "requests": requests,
            "other_requests": other_requests}


def _name(number: int) -> str:
    return f"pubmed20n00{number:02d}.xml.gz"


def _assert_failed_cleanly(run_result: dict, number: int, reason: str) -> None:
    name = _name(number)
    assert reason in run_result["errors"][name]["reason"]
    assert run_result["errors"][name]["origin"].endswith("/faulty/" + name)
    assert not (run_result["dest"] / name).exists()
    assert not (run_result["dest"] / f"{name}.md5").exists()


def _assert_fetched(run_result: dict, number: int) -> None:
    name = _name(number)
    assert md5_file(run_result["dest"] / name) == SAMPLE_MD5
    assert name not in run_result["errors"]


def test_faults_exit_status_and_totals(faulty_run):
    assert faulty_run["code"] == 1
    assert sorted(faulty_run["errors"]) == [_name(n) for n in (1, 2, 4, 6, 9, 10)]
    s = faulty_run["summary"]
    assert (s["downloaded"], s["failed"]) == (4, 6)
    assert s["counters"]["retried"] >= 4


def test_404_is_reported(faulty_run):
    _assert_failed_cleanly(faulty_run, 1, "HTTP 404")


def test_missing_md5_sidecar_is_reported(faulty_run):
    _assert_failed_cleanly(faulty_run, 10, "MD5 sidecar unavailable: HTTP 404")


def test_body_always_truncated_fails_and_keeps_the_part_to_resume(faulty_run):
    _assert_failed_cleanly(faulty_run, 2, "transfer interrupted 4 times")
    part = faulty_run["dest"] / (_name(2) + ".part")
    assert 0 < part.stat().st_size < BASELINE_SAMPLE.stat().st_size
    assert BASELINE_SAMPLE.read_bytes().startswith(part.read_bytes())  # a true prefix, resumable next run


def test_truncated_body_resumes_with_range(faulty_run):
    _assert_fetched(faulty_run, 3)
    gets = [r for r in faulty_run["requests"] if r.path == "/faulty/" + _name(3)]
    half = BASELINE_SAMPLE.stat().st_size // 2
    assert [(g.range, g.status) for g in gets] == [(None, 200), (f"bytes={half}-", 206)]
    assert faulty_run["summary"]["counters"]["resumed"] == 1 + 3  # and file 2 at each of its 3 retries


def test_wrong_md5_is_retried_then_reported_never_kept(faulty_run):
    _assert_failed_cleanly(faulty_run, 4, "MD5 mismatch")
    assert "verification failed 2 time(s)" in faulty_run["errors"][_name(4)]["reason"]
    assert not (faulty_run["dest"] / (_name(4) + ".part")).exists()
    data_gets = [r for r in faulty_run["requests"] if r.path == "/faulty/" + _name(4)]
    assert len(data_gets) == 2  # a fresh download for the retry


def test_wrong_md5_once_is_fixed_by_the_retry(faulty_run):
    _assert_fetched(faulty_run, 5)
    assert faulty_run["summary"]["counters"]["checksum_retries"] == 3  # files 4, 5 and 6 (the HTML page)
    assert faulty_run["summary"]["counters"]["checksum_failed"] == 2 + 1 + 2  # 4 twice, 5 once, 6 twice


def test_html_error_page_instead_of_gzip(faulty_run):
    _assert_failed_cleanly(faulty_run, 6, "expected gzip data, got an HTML page")
    assert faulty_run["summary"]["counters"]["bad_content"] == 2


def test_429_retry_after_is_honoured(faulty_run):
    _assert_fetched(faulty_run, 7)
    gets = [r for r in faulty_run["requests"] if r.path == "/faulty/" + _name(7)]
    assert [g.status for g in gets] == [429, 200]
    assert gets[1].time - gets[0].time >= 0.9  # Retry-After: 1, although --retry-backoff is 0.01


def test_503_once_is_retried(faulty_run):
    _assert_fetched(faulty_run, 8)
    gets = [r for r in faulty_run["requests"] if r.path == "/faulty/" + _name(8)]
    assert [g.status for g in gets] == [503, 200]
    assert faulty_run["summary"]["counters"]["http_retries"] >= 2


def test_redirect_to_another_host_is_refused(faulty_run):
    _assert_failed_cleanly(faulty_run, 9, "refused redirect")
    assert faulty_run["other_requests"] == []
    assert faulty_run["summary"]["counters"]["foreign_host_refused"] == 1


def test_resume_of_a_partial_file(ncbi, tmp_path):
    name = "pubmed20n0001.xml.gz"
    (tmp_path / f"{name}.part").write_bytes(BASELINE_SAMPLE.read_bytes()[:300_000])
    ncbi.clear()
    assert download("--source", "pubmed-baseline", "--base-url", ncbi.url + "resume/", "--dest", str(tmp_path)) == 0
    assert md5_file(tmp_path / name) == SAMPLE_MD5
    assert [(r.range, r.status) for r in ncbi.requests_for(f"/resume/{name}")] == [("bytes=300000-", 206)]
    s = summary(str(tmp_path))
    assert s["bytes"] == BASELINE_SAMPLE.stat().st_size - 300_000
    assert s["counters"]["resumed"] == 1


@pytest.mark.slow
def test_resume_when_the_server_ignores_range(ncbi, tmp_path):
    name = "pubmed20n0001.xml.gz"
    (tmp_path / f"{name}.part").write_bytes(BASELINE_SAMPLE.read_bytes()[:300_000])
    ncbi.clear()
    ncbi.add_fault(f"/resume/{name}", "ignore_range")
    try:
        assert download("--source", "pubmed-baseline", "--base-url", ncbi.url + "resume/", "--dest",
                        str(tmp_path)) == 0
    finally:
        ncbi.clear()
    assert md5_file(tmp_path / name) == SAMPLE_MD5
    s = summary(str(tmp_path))
    assert s["counters"]["range_ignored"] == 1
    assert s["bytes"] == BASELINE_SAMPLE.stat().st_size


@pytest.mark.slow
def test_a_corrupt_partial_file_is_discarded_after_the_checksum_fails(ncbi, tmp_path):
    name = "pubmed20n0001.xml.gz"
    (tmp_path / f"{name}.part").write_bytes(gzip.compress(b"not the start of this file"))
    assert download("--source", "pubmed-baseline", "--base-url", ncbi.url + "resume/", "--dest", str(tmp_path)) == 0
    assert md5_file(tmp_path / name) == SAMPLE_MD5
    counters = summary(str(tmp_path))["counters"]
    assert (counters["resumed"], counters["checksum_failed"], counters["checksum_retries"]) == (1, 1, 1)


# -- PMC Cloud Service ----------------------------------------------------------------------------------------------

RETRACTED = "PMC2994229.1"
NOT_OPEN_ACCESS = "PMC3363814.1"


@pytest.fixture(scope="module")
def pmc_cloud(tmp_path_factory):
    root = tmp_path_factory.mktemp("aws")
    build_pmc_bucket(root / "pmc-oa-opendata", {RETRACTED: {"is_retracted": True},
                                                NOT_OPEN_ACCESS: {"is_pmc_openaccess": False}})
    with MirrorServer(root, page_size=5) as server:  # 24 keys: five listing pages
        yield server


def _groups() -> dict[str, set[str]]:
    from sources.layouts import licence_group

    groups: dict[str, set[str]] = {"comm": set(), "noncomm": set(), "other": set()}
    for folder, meta in sample_articles().items():
        if folder not in (RETRACTED, NOT_OPEN_ACCESS):
            groups[licence_group(meta["license_code"])].add(folder)
    return groups


def _downloaded_articles(dest: Path) -> set[str]:
    return {p.parent.name for p in dest.glob("PMC*/*.xml")}


def test_pmc_oa_end_to_end_with_pagination_metadata_and_skips(pmc_cloud, tmp_path):
    base = pmc_cloud.url + "pmc-oa-opendata/"
    pmc_cloud.clear()
    pmc_cloud.add_fault("/pmc-oa-opendata/", "unavailable", times=1)  # the first listing page fails once
    assert download("--source", "pmc-oa", "--base-url", base, "--dest", str(tmp_path)) == 0
    wanted = set().union(*_groups().values())
    assert _downloaded_articles(tmp_path) == wanted
    for folder in wanted:
        xml = tmp_path / folder / f"{folder}.xml"
        assert xml.read_bytes() == (PMC_SAMPLE / folder / f"{folder}.xml").read_bytes()
        saved = json.loads((tmp_path / folder / f"{folder}.json").read_text())
        assert saved["pmcid"] == folder.split(".")[0]  # the metadata travels with the XML
    assert not (tmp_path / RETRACTED).exists() and not (tmp_path / NOT_OPEN_ACCESS).exists()
    s = summary(str(tmp_path))
    assert s["listing"]["listing_pages"] == 5
    assert s["counters"]["retracted_skipped"] == 1
    assert s["counters"]["not_open_access_skipped"] == 1
    assert s["counters"]["verified_md5"] == len(wanted)
    assert s["downloaded"] == len(wanted)

    pmc_cloud.clear()
    assert download("--source", "pmc-oa", "--base-url", base, "--dest", str(tmp_path)) == 0
    again = summary(str(tmp_path))
    assert (again["downloaded"], again["skipped_existing"]) == (0, len(wanted))
    fetched = {r.path.rsplit("/", 1)[-1] for r in pmc_cloud.requests if r.path.endswith((".xml", ".json"))}
    # Saved articles are checked against the destination; only the skipped ones' metadata is read again
    # (an article may become open access later).
    assert fetched == {f"{RETRACTED}.json", f"{NOT_OPEN_ACCESS}.json"}


@pytest.mark.slow
@pytest.mark.parametrize("licence", ["comm", "noncomm,other"])
def test_pmc_oa_licence_filter(pmc_cloud, tmp_path, licence):
    assert download("--source", "pmc-oa", "--base-url", pmc_cloud.url + "pmc-oa-opendata/", "--dest",
                    str(tmp_path), "--licence", licence) == 0
    groups = _groups()
    chosen = set().union(*(groups[g] for g in licence.split(",")))
    assert _downloaded_articles(tmp_path) == chosen
    s = summary(str(tmp_path))
    assert s["counters"]["licence_skipped"] == sum(len(v) for v in groups.values()) - len(chosen)


@pytest.mark.slow
def test_pmc_oa_etag_mismatch_and_multipart_etag(pmc_cloud, tmp_path):
    pmc_cloud.clear()
    pmc_cloud.add_fault("/pmc-oa-opendata/PMC1790863.1/PMC1790863.1.xml", "wrong_md5")
    pmc_cloud.add_fault("/pmc-oa-opendata/PMC2329613.1/PMC2329613.1.xml", "multipart_etag")
    try:
        code = download("--source", "pmc-oa", "--base-url", pmc_cloud.url + "pmc-oa-opendata/", "--dest",
                        str(tmp_path), "--include", "PMC1790863.1.xml", "--include", "PMC2329613.1.xml")
    finally:
        pmc_cloud.clear()
    assert code == 1
    errors = read_errors(str(tmp_path))
    assert [e["path"] for e in errors] == ["PMC1790863.1/PMC1790863.1.xml"]
    assert "MD5 mismatch" in errors[0]["reason"] and "ETag" in errors[0]["reason"]
    assert not (tmp_path / "PMC1790863.1" / "PMC1790863.1.xml").exists()
    assert not (tmp_path / "PMC1790863.1" / "PMC1790863.1.json").exists()  # no metadata without its article
    assert (tmp_path / "PMC2329613.1" / "PMC2329613.1.xml").exists()
    s = summary(str(tmp_path))
    assert s["counters"]["verified_size"] == 1
    assert any("multipart ETag" in note for note in s["verification_notes"])


@pytest.mark.slow
def test_pmc_oa_retraction_after_download_updates_the_saved_metadata(tmp_path):
    root = tmp_path / "aws"
    folder = "PMC6398430.1"
    build_pmc_bucket(root / "pmc-oa-opendata")
    dest = tmp_path / "dest"
    with MirrorServer(root) as server:
        args = ("--source", "pmc-oa", "--base-url", server.url + "pmc-oa-opendata/", "--dest", str(dest),
                "--include", f"{folder}.xml")
        assert download(*args) == 0
        meta_path = root / "pmc-oa-opendata" / folder / f"{folder}.json"
        meta_path.write_text(json.dumps(json.loads(meta_path.read_text()) | {"is_retracted": True}))
        assert download(*args) == 0
    assert json.loads((dest / folder / f"{folder}.json").read_text())["is_retracted"] is True
    counters = summary(str(dest))["counters"]
    assert (counters["retracted_skipped"], counters["metadata_refreshed"]) == (1, 1)


# -- PMC bulk packages ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bulk(tmp_path_factory):
    root = tmp_path_factory.mktemp("oa_bulk")
    archives = build_bulk_tree(root / "pub" / "pmc" / "oa_bulk")
    # Like the real oa_bulk directories, no sidecars unless a .md5 file exists on disk.
    with MirrorServer(root, md5_listed=()) as server:
        yield server, root / "pub" / "pmc" / "oa_bulk", archives


@pytest.mark.slow
def test_pmc_bulk_all_licences(bulk, tmp_path):
    server, tree, archives = bulk
    assert download("--source", "pmc-bulk", "--base-url", server.url + "pub/pmc/oa_bulk/", "--dest",
                    str(tmp_path)) == 0
    for relative in sum(archives.values(), []):
        assert md5_file(tmp_path / relative) == md5_file(tree / relative)
        stem = relative[: -len(".tar.gz")]
        for suffix in (".filelist.csv", ".filelist.txt"):
            assert (tmp_path / f"{stem}{suffix}").read_bytes() == (tree / f"{stem}{suffix}").read_bytes()
    with tarfile.open(tmp_path / archives["noncomm"][0]) as tar:
        assert tar.getnames() == ["PMC003xxxxxx/PMC3574550.xml"]
    s = summary(str(tmp_path))
    assert s["counters"]["verified_md5-sidecar"] == 1
    assert s["counters"]["verified_gzip"] == 3
    assert s["counters"]["verified_none"] == 8
    assert any("gzip stream" in note for note in s["verification_notes"])


@pytest.mark.slow
def test_pmc_bulk_licence_selects_directories(bulk, tmp_path):
    server, _, archives = bulk
    server.clear()
    assert download("--source", "pmc-bulk", "--base-url", server.url + "pub/pmc/oa_bulk/", "--dest",
                    str(tmp_path), "--licence", "comm") == 0
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.tar.gz")) == sorted(archives["comm"])
    assert {r.path for r in server.requests if r.path.endswith("/")} == {"/pub/pmc/oa_bulk/oa_comm/xml/"}


@pytest.mark.slow
def test_pmc_bulk_corrupt_archive_without_md5_fails_the_gzip_check(tmp_path):
    root = tmp_path / "mirror"
    archives = build_bulk_tree(root)
    incremental = root / archives["comm"][1]
    incremental.write_bytes(incremental.read_bytes()[:-100])  # truncated on the server itself
    with MirrorServer(root, md5_listed=()) as server:
        code = download("--source", "pmc-bulk", "--base-url", server.url, "--dest", str(tmp_path / "dest"),
                        "--licence", "comm")
    assert code == 1
    errors = read_errors(str(tmp_path / "dest"))
    assert [e["path"] for e in errors] == [archives["comm"][1]]
    assert "truncated gzip stream" in errors[0]["reason"]
    assert (tmp_path / "dest" / archives["comm"][0]).exists()


# -- gs:// destination, command line ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_gcs_destination_and_rerun(ncbi, gcs_prefix):
    from tests.gcs import storage_client

    base = ncbi.url + "pubmed/baseline/"
    ncbi.clear()
    ncbi.add_fault("/pubmed/baseline/pubmed20n0001.xml.gz", "truncate", times=1)
    try:
        assert download("--source", "pubmed-baseline", "--base-url", base, "--dest", gcs_prefix, "--limit", "2") == 0
        # An object store cannot append: the interrupted file restarted from byte 0.
        assert [r.range for r in ncbi.requests_for("/pubmed/baseline/pubmed20n0001.xml.gz")] == [None, None]
    finally:
        ncbi.clear()
    assert (summary(gcs_prefix)["counters"]["read_retries"], summary(gcs_prefix)["counters"]["resumed"]) == (1, 0)
    bucket_name, _, prefix = gcs_prefix[len("gs://"):].partition("/")
    blobs = {b.name[len(prefix) + 1:]: b for b in storage_client().list_blobs(bucket_name, prefix=prefix + "/")}
    assert {"pubmed20n0001.xml.gz", "pubmed20n0001.xml.gz.md5", "pubmed20n0002.xml.gz",
            "_download_summary.json", "errors/download-00000-of-00001.jsonl"} <= set(blobs)
    assert not [name for name in blobs if name.endswith(".part")]
    assert hashlib.md5(blobs["pubmed20n0002.xml.gz"].download_as_bytes()).hexdigest() == SAMPLE_MD5
    assert summary(gcs_prefix)["downloaded"] == 2

    assert download("--source", "pubmed-baseline", "--base-url", base, "--dest", gcs_prefix, "--limit", "2") == 0
    assert (summary(gcs_prefix)["downloaded"], summary(gcs_prefix)["skipped_existing"]) == (0, 2)


@pytest.mark.slow
def test_pmc_oa_into_gcs(pmc_cloud, gcs_prefix):
    assert download("--source", "pmc-oa", "--base-url", pmc_cloud.url + "pmc-oa-opendata/", "--dest", gcs_prefix,
                    "--limit", "2") == 0
    for folder in ("PMC1790863.1", "PMC2329613.1"):
        for suffix in (".xml", ".json"):
            with FileSystems.open(f"{gcs_prefix}/{folder}/{folder}{suffix}") as handle:
                assert handle.read() == (PMC_SAMPLE / folder / f"{folder}{suffix}").read_bytes()


def test_help_and_usage_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--source", "--dest", "--base-url", "--limit", "--include", "--licence", "--max-concurrency",
                   "--retries", "pubmed-baseline", "pmc-bulk"):
        assert option in text
    for bad in (["--source", "pmc-oa"], ["--source", "pmc-oa", "--dest", "x", "--licence", "free"],
                ["--source", "pmc-oa", "--dest", "x", "--layout", '{"no_such_field": 1}'],
                ["--source", "pmc-oa", "--dest", "local/dir", "--runner", "DataflowRunner"]):
        with pytest.raises(SystemExit) as exit_info:
            run(bad)
        assert exit_info.value.code == 2


@pytest.mark.slow
def test_a_listing_that_fails_exits_non_zero(ncbi, tmp_path):
    assert download("--source", "pubmed-baseline", "--base-url", ncbi.url + "no/such/dir/", "--dest",
                    str(tmp_path)) == 1


@pytest.mark.slow
def test_pmc_bulk_companions_without_content_length_are_parsed_before_they_are_named(tmp_path):
    """End to end through the Beam job: the mirror sends companion files close-delimited (no Content-Length, not
    chunked) and cuts them; a cut filelist never gets its final name, the package beside it is intact; zero
    padding after a package's gzip stream is no damage; a cut index page is fetched again."""
    root = tmp_path / "mirror"
    archives = build_bulk_tree(root / "pub" / "pmc" / "oa_bulk")
    tree = root / "pub" / "pmc" / "oa_bulk"
    padded = tree / archives["noncomm"][0]
    padded.write_bytes(padded.read_bytes() + bytes(4096))  # no .md5 beside it: verified by its gzip stream
    comm_incr = archives["comm"][1][: -len(".tar.gz")]
    other = archives["other"][0][: -len(".tar.gz")]
    dest = tmp_path / "dest"
    with MirrorServer(root, md5_listed=()) as server:
        base = "/pub/pmc/oa_bulk/"
        server.add_fault(f"{base}{comm_incr}.filelist.csv", "unframed_cut")  # every time
        server.add_fault(f"{base}{other}.filelist.txt", "unframed_cut", times=1)  # once: the retry is whole
        server.add_fault(f"{base}{other}.filelist.csv", "chunked")  # whole, without Content-Length
        server.add_fault(f"{base}oa_other/xml/", "unframed_cut", times=1)  # the index page
        code = download("--source", "pmc-bulk", "--base-url", server.url + base[1:], "--dest", str(dest))
    assert code == 1
    (error,) = read_errors(str(dest))
    assert error["path"] == f"{comm_incr}.filelist.csv"
    assert "verification failed 2 time(s): not a whole filelist" in error["reason"]
    assert not (dest / f"{comm_incr}.filelist.csv").exists()
    assert not (dest / f"{comm_incr}.filelist.csv.part").exists()
    for relative in sum(archives.values(), []):  # every package is there, whole
        assert md5_file(dest / relative) == md5_file(tree / relative)
    for name in (f"{other}.filelist.txt", f"{other}.filelist.csv", f"{comm_incr}.filelist.txt"):
        assert (dest / name).read_bytes() == (tree / name).read_bytes()
    s = summary(str(dest))
    c = s["counters"]
    assert (c["downloaded"], c["failed"], c["not_whole"], c["gzip_zero_padded"]) == (11, 1, 3, 1)  # 4 packages x 3 files
    assert s["listing"]["listing_pages_cut"] == 1
    assert any("zero padding" in note for note in s["verification_notes"])
    assert any("parsed to their end" in note for note in s["verification_notes"])
