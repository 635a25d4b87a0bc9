"""sources/: listing parsers, checksums, licence groups, the guarded HTTP client, planning and the local mirror
(plain Python; HTTP against the local mirror on 127.0.0.1)."""
from __future__ import annotations

import gzip
import http.client
import hashlib
import io
import time

import pytest
import requests

from sources.checksums import (
    ChecksumError,
    GzipIntegrity,
    content_problem,
    format_md5_record,
    md5_from_etag,
    parse_md5_sidecar,
    whole_file_problem,
)
from sources.httpclient import ForeignHostError, GuardedClient, HTTPStatusError, HttpSettings, make_session
from sources.layouts import SOURCES, get_layout, licence_group, parse_licences
from sources.listing import ListingError, parse_apache_index, parse_s3_list
from sources.localmirror import MirrorServer
from sources.plan import VERIFY_GZIP, VERIFY_MD5, VERIFY_MD5_SIDECAR, VERIFY_NONE, VERIFY_SIZE, RemoteFile, plan_files
from tests.download_helpers import BASELINE_SAMPLE, build_bulk_tree, build_pmc_bucket, build_pubmed_dir, md5_file

FAST = HttpSettings(retries=3, backoff=0.01, timeout=10)
SAMPLE = BASELINE_SAMPLE.read_bytes()

# The shape of NCBI's index pages (Apache, <pre> layout), as served at ftp.ncbi.nlm.nih.gov/pubmed/baseline/.
NCBI_PAGE = """<html>
 <head>
  <title>Index of /pubmed/baseline</title>
 </head>
 <body>
<h1>Index of /pubmed/baseline</h1>
<pre>Name                     Last modified      Size  <hr><a href="/pubmed/">Parent Directory</a>           -
<a href="README.txt">README.txt</a>               2025-12-10 14:21  2.5K
<a href="pubmed26n0001.xml.gz">pubmed26n0001.xml.gz</a>     2025-12-10 14:21   19M
<a href="pubmed26n0001.xml.gz.md5">pubmed26n0001.xml.gz.md5</a> 2025-12-10 14:21   60
<a href="pubmed26n0002.xml.gz">pubmed26n0002.xml.gz</a>     2025-12-10 14:21   17M
<hr></pre>
</body>
</html>
"""
# Apache's FancyIndexing table layout, with sort links, a subdirectory, an escaped name and off-site links.
APACHE_TABLE = """<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN"><html><head><title>Index of /pub/pmc/oa_bulk/oa_comm/xml</title></head>
<body><h1>Index of /pub/pmc/oa_bulk/oa_comm/xml</h1><table>
<tr><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th></tr>
<tr><td><a href="/pub/pmc/oa_bulk/oa_comm/">Parent Directory</a></td></tr>
<tr><td><a href="oa_comm_xml.incr.2024-06-19.tar.gz">oa_comm_xml.incr.2024-06-19.tar.gz</a></td><td>2024-06-19 10:00</td></tr>
<tr><td><a href="old%20files/">old files/</a></td></tr>
<tr><td><a href="https://elsewhere.example/x.tar.gz">mirror</a></td></tr>
<tr><td><a href="../../other/y.tar.gz">y</a></td></tr>
</table></body></html>"""


# -- listings ---------------------------------------------------------------------------------------------------


def test_parse_ncbi_index_page():
    index = parse_apache_index(NCBI_PAGE, "https://ftp.ncbi.nlm.nih.gov/pubmed/baseline/")
    assert [e.name for e in index.entries] == ["README.txt", "pubmed26n0001.xml.gz", "pubmed26n0001.xml.gz.md5",
                                               "pubmed26n0002.xml.gz"]
    assert index.entries[1].url == "https://ftp.ncbi.nlm.nih.gov/pubmed/baseline/pubmed26n0001.xml.gz"
    assert index.foreign_links == []


def test_parse_apache_table_page():
    index = parse_apache_index(APACHE_TABLE, "https://ftp.ncbi.nlm.nih.gov/pub/pmc/oa_bulk/oa_comm/xml")
    assert [(e.name, e.is_dir) for e in index.entries] == [("oa_comm_xml.incr.2024-06-19.tar.gz", False),
                                                          ("old files", True)]
    assert index.foreign_links == ["https://elsewhere.example/x.tar.gz"]
    # Every other link is counted by kind: 2 sort links, the parent directory, one elsewhere on the site.
    assert index.ignored == {"query_links": 2, "parent_links": 1, "outside_links": 1}


def test_dropped_index_links_are_counted_by_kind():
    page = ('<a href="../">Parent Directory</a><a href="./">.</a><a href="?C=M;O=A">Last modified</a>'
            '<a href="sub/pubmed26n0003.xml.gz">deeper</a><a href="/robots.txt">elsewhere</a>'
            '<a href="pubmed26n0002.xml.gz?download=1">query</a><a href="pubmed26n0001.xml.gz">file</a>')
    index = parse_apache_index(page, "https://ftp.ncbi.nlm.nih.gov/pubmed/baseline/")
    assert [e.name for e in index.entries] == ["pubmed26n0001.xml.gz"]
    assert index.ignored == {"parent_links": 2, "query_links": 2, "deeper_links": 1, "outside_links": 1}


def test_s3_listing_errors_are_explicit():
    with pytest.raises(ListingError, match="AccessDenied"):
        parse_s3_list(b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>")
    with pytest.raises(ListingError, match="not XML"):
        parse_s3_list(b"<html><body>gateway timeout")
    with pytest.raises(ListingError, match="NextContinuationToken"):
        parse_s3_list(b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                      b"<IsTruncated>true</IsTruncated></ListBucketResult>")


def test_s3_listing_never_resolves_entities():
    page = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<ListBucketResult><Contents><Key>&x;</Key><ETag>"e"</ETag><Size>1</Size></Contents>'
            b"<IsTruncated>false</IsTruncated></ListBucketResult>")
    keys = [obj.key for obj in parse_s3_list(page).objects]
    assert "root:" not in "".join(keys)


# -- checksums ----------------------------------------------------------------------------------------------------


def test_md5_sidecar_formats():
    digest = "5e72894eb9bc4dfd6745c02e53e54f85"
    assert parse_md5_sidecar(f"MD5(pubmed25n0001.xml.gz)= {digest}\n", "pubmed25n0001.xml.gz") == digest
    assert parse_md5_sidecar(f"MD5 (pubmed25n0001.xml.gz) = {digest.upper()}") == digest
    assert parse_md5_sidecar(f"{digest}  pubmed25n0001.xml.gz\n", "pubmed25n0001.xml.gz") == digest
    assert parse_md5_sidecar(f"{digest}\n") == digest
    assert parse_md5_sidecar(format_md5_record("a.gz", digest), "a.gz") == digest
    with pytest.raises(ChecksumError, match="not 'pubmed25n0002.xml.gz'"):
        parse_md5_sidecar(f"MD5(pubmed25n0001.xml.gz)= {digest}", "pubmed25n0002.xml.gz")
    with pytest.raises(ChecksumError, match="not an MD5 sidecar"):
        parse_md5_sidecar("<html><body>Not Found</body></html>")


def test_etag_is_an_md5_only_without_a_part_count():
    assert md5_from_etag('"5E72894EB9BC4DFD6745C02E53E54F85"') == "5e72894eb9bc4dfd6745c02e53e54f85"
    assert md5_from_etag('"5e72894eb9bc4dfd6745c02e53e54f85-12"') is None
    assert md5_from_etag("") is None


def test_gzip_integrity_on_the_real_file():
    def check(data: bytes, step: int = 65536):
        integrity = GzipIntegrity()
        for start in range(0, len(data), step):
            integrity.update(data[start:start + step])
        return integrity.problem()

    assert check(SAMPLE) is None
    assert check(SAMPLE, step=7) is None
    assert check(SAMPLE + gzip.compress(b"second member")) is None
    assert "truncated" in check(SAMPLE[:-8])
    assert "truncated" in check(SAMPLE[: len(SAMPLE) // 2])
    flipped = bytearray(SAMPLE)
    flipped[len(SAMPLE) // 2] ^= 0xFF
    assert "corrupt" in check(bytes(flipped))
    assert check(SAMPLE + b"trailing junk") == f"unexpected data after the end of the gzip stream at byte {len(SAMPLE)}"
    assert check(b"") == "empty gzip stream"
    for step in (7, 65536):  # zero padding after the stream (tape, block devices, some mirrors) is no damage
        integrity = GzipIntegrity()
        padded = SAMPLE + bytes(10240)
        for start in range(0, len(padded), step):
            integrity.update(padded[start:start + step])
        assert integrity.problem() is None and integrity.zero_padding == 10240
        assert check(SAMPLE + bytes(100) + b"\x1f", step) == (
            f"unexpected data after the end of the gzip stream at byte {len(SAMPLE) + 100}")
        assert check(SAMPLE + bytes(3) + SAMPLE, step) is None  # padding between members too, as gzip(1) reads it


def test_content_problem_catches_error_pages():
    assert content_problem("a.xml.gz", SAMPLE[:64]) is None
    assert "HTML page" in content_problem("a.xml.gz", b"<!DOCTYPE html><html>", "text/html")
    assert "not gzip" in content_problem("a.tar.gz", b"PK\x03\x04")
    assert "HTML page" in content_problem("PMC1.1.xml", b"  <html><body>error", "text/html")
    assert content_problem("PMC1.1.xml", b'<?xml version="1.0"?><article>', "application/xml") is None


# -- layouts and licences -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code, group", [
    ("CC BY", "comm"), ("CC0", "comm"), ("CC BY-SA", "comm"), ("CC BY-ND", "comm"), ("cc-by 4.0", "comm"),
    ("CC0 1.0", "comm"), ("CC BY-NC", "noncomm"), ("CC BY-NC-ND", "noncomm"), ("CC BY-NC-SA 4.0", "noncomm"),
    ("NO-CC CODE", "other"), (None, "other"), ("", "other"), ("custom", "other"),
])
def test_licence_group(code, group):
    assert licence_group(code) == group


def test_licence_option_and_layout_overrides():
    assert parse_licences(None) == ("comm", "noncomm", "other")
    assert parse_licences(["comm,noncomm", "comm"]) == ("comm", "noncomm")
    with pytest.raises(ValueError, match="unknown licence group"):
        parse_licences(["free"])
    layout = get_layout("pmc-bulk", '{"licence_dirs": {"comm": "comm/"}, "companion_suffixes": [".csv"]}')
    assert layout.licence_dirs == {"comm": "comm/"} and layout.companion_suffixes == (".csv",)
    assert SOURCES["pmc-bulk"].licence_dirs["comm"] == "oa_comm/xml/"  # the defaults are untouched
    with pytest.raises(ValueError, match="unknown layout field"):
        get_layout("pmc-oa", '{"page_sise": 5}')


def test_remote_file_round_trips_through_the_plan_file():
    item = RemoteFile("PMC1.1/PMC1.1.xml", "http://h/PMC1.1/PMC1.1.xml", VERIFY_MD5, md5="0" * 32, size=3,
                      article=True, metadata_path="PMC1.1/PMC1.1.json", metadata_url="http://h/PMC1.1/PMC1.1.json")
    assert RemoteFile.from_json(item.to_json()) == item


# -- the local mirror and the HTTP client ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    root = tmp_path_factory.mktemp("mirror")
    build_pubmed_dir(root / "pubmed" / "baseline", 2)
    build_pmc_bucket(root / "pmc-oa-opendata")
    (root / "pmc-oa-opendata" / "PMC9999999.1").mkdir()  # an article whose JSON is missing
    (root / "pmc-oa-opendata" / "PMC9999999.1" / "PMC9999999.1.xml").write_bytes(b"<article/>")
    (root / "pmc-oa-opendata" / "README.txt").write_text("not an article\n")
    build_bulk_tree(root / "oa_bulk")
    with MirrorServer(root, page_size=3) as server:
        yield server


def client_for(url: str, settings: HttpSettings = FAST) -> GuardedClient:
    return GuardedClient(make_session(settings), url, settings)


def test_mirror_serves_ranges_sidecars_and_nothing_outside_its_root(mirror):
    url = mirror.url + "pubmed/baseline/pubmed20n0001.xml.gz"
    whole = requests.get(url)
    assert whole.content == SAMPLE and whole.headers["ETag"] == f'"{md5_file(BASELINE_SAMPLE)}"'
    part = requests.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == SAMPLE[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(SAMPLE)}"
    assert requests.get(url, headers={"Range": f"bytes={len(SAMPLE)}-"}).status_code == 416
    assert requests.head(url).headers["Content-Length"] == str(len(SAMPLE))
    sidecar = requests.get(url + ".md5").text
    assert sidecar == f"MD5(pubmed20n0001.xml.gz)= {hashlib.md5(SAMPLE).hexdigest()}\n"
    escape = "../" * 30 + "etc/passwd"  # far enough up to reach /etc/passwd from any temporary directory
    for path in ("/pubmed/" + escape, "/" + escape.replace("..", "%2e%2e")):  # sent as is (requests normalises)
        connection = http.client.HTTPConnection("127.0.0.1", mirror.port, timeout=10)
        connection.request("GET", path)
        assert connection.getresponse().status == 404
        connection.close()
    redirect = requests.get(mirror.url + "pubmed/baseline", allow_redirects=False)
    assert redirect.status_code == 301 and redirect.headers["Location"] == "/pubmed/baseline/"


def test_fault_times(mirror):
    path = "/pubmed/baseline/pubmed20n0002.xml.gz"
    mirror.add_fault(path, "unavailable", times=2)
    statuses = [requests.get(mirror.url + path[1:]).status_code for _ in range(3)]
    mirror.clear()
    assert statuses == [503, 503, 200]


@pytest.mark.slow
def test_a_request_is_logged_before_its_response_can_be_read(mirror, monkeypatch):
    """A framed body read to its end must find its request logged: recorded after the body, a handler thread that
    lost the CPU there let the test read `requests` (one short) or `clear()` it (a stale record after the clear)."""
    record = mirror._record

    def late_record(entry):  # a handler thread descheduled just before it logs the request
        time.sleep(0.2)
        record(entry)

    monkeypatch.setattr(mirror, "_record", late_record)
    path = "/pubmed/baseline/pubmed20n0001.xml.gz.md5"
    for kind in ("", "chunked"):
        if kind:
            mirror.add_fault(path, kind)
        try:
            assert requests.get(mirror.url + path[1:]).status_code == 200
            assert [(r.path, r.status) for r in mirror.requests] == [(path, 200)], kind
        finally:
            mirror.clear()
    assert mirror.requests == []


def test_client_retries_503_and_honours_retry_after(mirror):
    client = client_for(mirror.url)
    path = "/pubmed/baseline/pubmed20n0001.xml.gz.md5"
    mirror.add_fault(path, "unavailable", times=1)
    body, retries = client.get_bytes(mirror.url + path[1:])
    assert retries == 1 and body.startswith(b"MD5(")
    mirror.add_fault(path, "too_many_requests", times=1, retry_after=1)
    started = time.monotonic()
    body, retries = client.get_bytes(mirror.url + path[1:])
    assert retries == 1 and time.monotonic() - started >= 0.9  # the server's 1 s, not the 0.01 s backoff
    mirror.clear()


def test_client_refetches_a_small_body_cut_off_in_transit(mirror):
    path = "/pmc-oa-opendata/PMC1790863.1/PMC1790863.1.json"
    mirror.add_fault(path, "truncate", times=1)
    body, retries = client_for(mirror.url).get_bytes(mirror.url + path[1:])
    mirror.clear()
    assert retries == 1 and body.startswith(b"{") and body.rstrip().endswith(b"}")


def test_client_stays_on_its_host(mirror):
    client = client_for(mirror.url)
    mirror.add_fault("/moved", "redirect", location="/pubmed/baseline/pubmed20n0001.xml.gz.md5")
    mirror.add_fault("/away", "redirect", location="http://localhost:1/pubmed20n0001.xml.gz")
    try:
        assert client.get_bytes(mirror.url + "moved")[0].startswith(b"MD5(")  # same host: followed
        with pytest.raises(ForeignHostError, match="refused redirect"):
            client.get_bytes(mirror.url + "away")
    finally:
        mirror.clear()
    with pytest.raises(ForeignHostError):
        client.get("http://localhost:1/x")
    with pytest.raises(HTTPStatusError, match="HTTP 404"):
        client.get_bytes(mirror.url + "no-such-file")
    https_base = client_for("http://ftp.ncbi.nlm.nih.gov/pubmed/")
    assert https_base.allowed("https://ftp.ncbi.nlm.nih.gov/pubmed/x")  # upgrade to https: fine
    assert not client_for("https://ftp.ncbi.nlm.nih.gov/").allowed("http://ftp.ncbi.nlm.nih.gov/x")  # downgrade
    assert not https_base.allowed("http://ftp.ncbi.nlm.nih.gov.evil.example/x")


# -- planning -------------------------------------------------------------------------------------------------------


def test_plan_pubmed_listing(mirror):
    base = mirror.url + "pubmed/baseline/"
    plan = plan_files(client_for(base), SOURCES["pubmed-baseline"], base)
    assert [f.path for f in plan.files] == ["pubmed20n0001.xml.gz", "pubmed20n0002.xml.gz"]
    assert plan.stats["parent_links_ignored"] == 1  # the index page's "Parent Directory"
    assert all(f.verify == VERIFY_MD5_SIDECAR and f.md5_url == f.url + ".md5" for f in plan.files)


def test_plan_s3_pairs_metadata_across_pages(mirror):
    base = mirror.url + "pmc-oa-opendata/"
    layout = SOURCES["pmc-oa"].with_overrides({"page_size": 3})
    plan = plan_files(client_for(base), layout, base)
    assert len(plan.files) == 13 and plan.stats["listing_pages"] == 9  # 26 keys, 3 per page
    assert plan.stats["keys_ignored"] == 1 and plan.stats["xml_without_metadata"] == 1
    paired = [f for f in plan.files if f.metadata_path]
    assert all(f.metadata_path == f.path[:-4] + ".json" and f.verify == VERIFY_MD5 for f in paired)
    assert [f.path for f in plan.files if not f.metadata_path] == ["PMC9999999.1/PMC9999999.1.xml"]
    limited = plan_files(client_for(base), layout, base, limit=2)
    assert len(limited.files) == 2 and limited.stats["listing_pages"] <= 2  # stops paging at the limit
    assert [f.name for f in plan_files(client_for(base), layout, base, include=["PMC3*"]).files] == [
        "PMC3166277.1.xml", "PMC3363814.1.xml", "PMC3460867.1.xml", "PMC3574550.1.xml", "PMC3585041.1.xml"]


def test_plan_s3_takes_only_whole_keys(tmp_path):
    """A key with a final newline is no article: the key pattern must match the whole key ("$" in a
    pattern used with match() would let "PMC….xml\\n" through)."""
    folder = tmp_path / "pmc-oa-opendata" / "PMC1234567.1"
    folder.mkdir(parents=True)
    (folder / "PMC1234567.1.xml").write_bytes(b"<article/>")
    (folder / "PMC1234567.1.xml\n").write_bytes(b"<article/>")
    (folder / "PMC1234567.1.json").write_text('{"license_code": "CC BY", "is_pmc_openaccess": true}')
    with MirrorServer(tmp_path) as server:
        base = server.url + "pmc-oa-opendata/"
        plan = plan_files(client_for(base), SOURCES["pmc-oa"], base)
    assert [f.path for f in plan.files] == ["PMC1234567.1/PMC1234567.1.xml"]
    assert plan.stats["listed_objects"] == 3 and plan.stats["keys_ignored"] == 1


def test_plan_s3_multipart_etag_falls_back_to_size(mirror):
    base = mirror.url + "pmc-oa-opendata/"
    mirror.add_fault("/pmc-oa-opendata/PMC1790863.1/PMC1790863.1.xml", "multipart_etag")
    plan = plan_files(client_for(base), SOURCES["pmc-oa"], base, limit=1)
    mirror.clear()
    assert plan.files[0].verify == VERIFY_SIZE and plan.files[0].md5 is None and plan.files[0].size == 74887


def test_plan_bulk_with_companions_and_sidecars(mirror):
    base = mirror.url + "oa_bulk/"
    layout = SOURCES["pmc-bulk"]
    plan = plan_files(client_for(base), layout, base, licences=("comm",))
    by_name = {f.name: f for f in plan.files}
    assert [f.path.split("/")[0] for f in plan.files] == ["oa_comm"] * 6
    # The mirror lists a sidecar for every *.gz by default, so both archives verify by MD5 here.
    assert by_name["oa_comm_xml.incr.2024-06-19.tar.gz"].verify == VERIFY_MD5_SIDECAR
    assert by_name["oa_comm_xml.incr.2024-06-19.filelist.csv"].verify == VERIFY_NONE
    no_sidecars = layout.with_overrides({"md5_sidecar_suffix": ""})
    assert {f.verify for f in plan_files(client_for(base), no_sidecars, base, licences=("other",)).files} == {
        VERIFY_GZIP, VERIFY_NONE}


def test_mirror_command_line_rejects_a_bad_fault(capsys):
    from sources.localmirror import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--root", ".", "--fault", "/x=explode"])
    assert exit_info.value.code == 2 and "--fault '/x=explode'" in capsys.readouterr().err


# -- files whose transfer cannot show they are whole ----------------------------------------------------------------

BULK_OTHER = "oa_bulk/oa_other/xml/oa_other_xml.PMC00Xxxxxxx.baseline.2024-06-18"


@pytest.mark.parametrize("kind, whole, framed", [
    ("chunked", True, True), ("chunked_cut", False, True), ("unframed", True, False), ("unframed_cut", False, False)])
def test_mirror_serves_bodies_without_content_length(mirror, kind, whole, framed):
    path = f"/{BULK_OTHER}.filelist.csv"
    expected = (mirror.root / path[1:]).read_bytes()
    mirror.add_fault(path, kind)
    connection = http.client.HTTPConnection("127.0.0.1", mirror.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        assert response.getheader("Content-Length") is None
        assert (response.getheader("Transfer-Encoding") == "chunked") == framed
        try:
            body = response.read()
        except http.client.IncompleteRead as error:  # a chunked body without its last chunk: detectable
            assert not whole and framed
            body = error.partial
        assert body == expected if whole else body == expected[: len(expected) // 2]
    finally:
        connection.close()
        mirror.clear()


def test_whole_file_problem_parses_filelists_json_and_sidecars(mirror):
    filelist = (mirror.root / f"{BULK_OTHER}.filelist.csv").read_bytes()
    tsv = (mirror.root / f"{BULK_OTHER}.filelist.txt").read_bytes()
    assert whole_file_problem("x.filelist.csv", io.BytesIO(filelist)) == (True, None)
    assert whole_file_problem("x.filelist.txt", io.BytesIO(tsv)) == (True, None)
    for cut in (1, 2, 3, len(filelist) // 2, len(filelist) - 10):  # every cut but one between two lines is seen
        checked, problem = whole_file_problem("x.filelist.csv", io.BytesIO(filelist[:-cut]))
        assert checked and problem.startswith("not a whole filelist")
    assert "does not end with a newline" in whole_file_problem("x.filelist.txt", io.BytesIO(tsv[:-1]))[1]
    assert "no column" in whole_file_problem("x.filelist.csv", io.BytesIO(b"<html>error</html>\n"))[1]
    meta = (mirror.root / "pmc-oa-opendata" / "PMC1790863.1" / "PMC1790863.1.json").read_bytes()
    assert whole_file_problem("PMC1790863.1.json", io.BytesIO(meta)) == (True, None)
    assert whole_file_problem("PMC1790863.1.json", io.BytesIO(meta[:-3]))[1].startswith("not whole JSON")
    assert whole_file_problem("x.json", io.BytesIO(b"[1]"))[1] == "JSON list, expected an object"
    assert whole_file_problem("a.gz.md5", io.BytesIO(b"MD5(a.gz)= 0123"))[1].startswith("not an MD5 sidecar")
    assert whole_file_problem("README.txt", io.BytesIO(b"anything")) == (False, None)


def _fetcher(mirror, dest, layout=SOURCES["pmc-bulk"]):
    from pipelines.download import BeamStorage
    from sources.fetch import Fetcher

    return Fetcher(client_for(mirror.url), BeamStorage(str(dest)), layout, ("comm", "noncomm", "other"),
                   checksum_attempts=2)


def _bulk_plan(mirror):
    base = mirror.url + "oa_bulk/"
    return {f.name: f for f in plan_files(client_for(base), SOURCES["pmc-bulk"], base, licences=("other",)).files}


@pytest.mark.parametrize("suffix", [".filelist.csv", ".filelist.txt"])
def test_a_filelist_cut_without_content_length_never_gets_its_final_name(mirror, tmp_path, suffix):
    """A close-delimited body (no Content-Length, not chunked) cut short looks like a whole one to HTTP: the old
    check ("verified as none": complete body, not HTML) named the cut filelist, which then made the package beside
    it unreadable. Parsed to its end first, it is fetched again, then reported."""
    from sources.fetch import DOWNLOADED, FAILED

    item = _bulk_plan(mirror)[BULK_OTHER.rsplit("/", 1)[1] + suffix]
    assert item.verify == VERIFY_NONE
    path = "/oa_bulk/" + item.path
    original = (mirror.root / "oa_bulk" / item.path).read_bytes()
    final = tmp_path / item.path
    mirror.add_fault(path, "unframed_cut")
    outcome = _fetcher(mirror, tmp_path).fetch(item)
    mirror.clear()
    assert outcome.status == FAILED and "verification failed 2 time(s): not a whole filelist" in outcome.reason
    assert outcome.events["not_whole"] == 2 and outcome.events["checksum_retries"] == 1
    assert not final.exists() and not final.with_name(final.name + ".part").exists()

    mirror.add_fault(path, "unframed_cut", times=1)  # cut once: the second download is whole
    outcome = _fetcher(mirror, tmp_path).fetch(item)
    assert (outcome.status, outcome.verified, outcome.events["not_whole"]) == (DOWNLOADED, VERIFY_NONE, 1)
    assert final.read_bytes() == original and len(mirror.requests_for(path)) == 2
    mirror.clear()

    final.write_bytes(original[:-5])  # named by an earlier run that could not check it: fetched again
    outcome = _fetcher(mirror, tmp_path).fetch(item)
    assert (outcome.status, outcome.events["existing_not_whole"]) == (DOWNLOADED, 1)
    assert final.read_bytes() == original
    assert _fetcher(mirror, tmp_path).fetch(item).status == "skipped_existing"


def test_a_file_without_parser_needs_a_framed_body(mirror, tmp_path):
    """No checksum, no size, no gzip, no parser: only a Content-Length or chunked body shows it is whole."""
    from sources.fetch import DOWNLOADED, FAILED

    url = mirror.url + "pmc-oa-opendata/README.txt"
    item = RemoteFile("README.txt", url, VERIFY_NONE)
    for kind, status in (("unframed", FAILED), ("chunked", DOWNLOADED), ("", DOWNLOADED)):
        if kind:
            mirror.add_fault("/pmc-oa-opendata/README.txt", kind)
        outcome = _fetcher(mirror, tmp_path / (kind or "plain")).fetch(item)
        mirror.clear()
        assert outcome.status == status, kind
        if status == FAILED:
            assert "without Content-Length and not chunked" in outcome.reason


def test_a_cut_chunked_body_is_seen_by_http_and_retried(mirror, tmp_path):
    from sources.fetch import DOWNLOADED

    item = _bulk_plan(mirror)[BULK_OTHER.rsplit("/", 1)[1] + ".filelist.csv"]
    mirror.add_fault("/oa_bulk/" + item.path, "chunked_cut", times=1)
    outcome = _fetcher(mirror, tmp_path).fetch(item)
    mirror.clear()
    assert outcome.status == DOWNLOADED and outcome.events["read_retries"] == 1 and outcome.events["not_whole"] == 0


def test_an_index_page_cut_short_is_fetched_again_then_refused(mirror):
    """A cut directory listing would silently drop the files it no longer lists."""
    base = mirror.url + "pubmed/baseline/"
    mirror.add_fault("/pubmed/baseline/", "unframed_cut", times=1)
    plan = plan_files(client_for(base), SOURCES["pubmed-baseline"], base)
    assert [f.name for f in plan.files] == ["pubmed20n0001.xml.gz", "pubmed20n0002.xml.gz"]
    assert plan.stats["listing_pages_cut"] == 1
    mirror.add_fault("/pubmed/baseline/", "unframed_cut")
    try:
        with pytest.raises(ListingError, match="cut short 3 times"):
            plan_files(client_for(base), SOURCES["pubmed-baseline"], base)
    finally:
        mirror.clear()


def test_an_article_json_without_checksum_cut_in_transit_is_fetched_again_or_the_article_fails(mirror, tmp_path):
    """The Cloud Service JSON decides about its article and is saved beside it: without an MD5 in the listing
    (a multipart ETag) only parsing it shows it is whole; a cut one is fetched again, never saved."""
    import dataclasses

    from sources.fetch import DOWNLOADED, FAILED

    base = mirror.url + "pmc-oa-opendata/"
    (item,) = plan_files(client_for(base), SOURCES["pmc-oa"], base, include=["PMC1790863.1.xml"]).files
    item = dataclasses.replace(item, metadata_md5=None)  # as when the JSON's ETag is a multipart one
    json_path = "/pmc-oa-opendata/" + item.metadata_path
    original = (mirror.root / json_path[1:]).read_bytes()
    mirror.add_fault(json_path, "unframed_cut")
    outcome = _fetcher(mirror, tmp_path / "always", SOURCES["pmc-oa"]).fetch(item)
    mirror.clear()
    assert outcome.status == FAILED and outcome.reason.startswith(f"metadata {mirror.url}pmc-oa-opendata/")
    assert "is not JSON" in outcome.reason and outcome.events["not_whole"] == 2
    assert not list((tmp_path / "always").rglob("*.json")) and not list((tmp_path / "always").rglob("*.xml"))
    mirror.add_fault(json_path, "unframed_cut", times=1)
    outcome = _fetcher(mirror, tmp_path / "once", SOURCES["pmc-oa"]).fetch(item)
    mirror.clear()
    assert outcome.status == DOWNLOADED and outcome.events["not_whole"] == 1
    assert (tmp_path / "once" / item.metadata_path).read_bytes() == original
