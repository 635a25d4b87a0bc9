"""The project's adversarial suite: hostile and damaged inputs for every stage, as tables.

Each row is one bad input (a line, a file, a setting) and the outcome it must have: a dead letter naming its
origin (and line) with a reason, a one-line error, or acceptance. For the Beam jobs every row of a stage goes
into one run beside good data, and the run is compared with a "twin" run over the same files with the bad parts
taken out (same file names under another root): the outputs must be identical, byte for byte, so nothing good
was lost and nothing bad got in. `ROWS` is what the README's reliability section counts.
"""
from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path
from typing import Callable, Optional

import pytest

from pipelines import corpus as corpus_job
from pipelines import tfrecords as tfrecords_job
from pipelines import vocab as vocab_job
from tests.corpus_data import sample_documents
from tests.fixtures import genia_documents
from tests.tfrecords_data import write_vocab

pytestmark = pytest.mark.slow  # two runs of each job


@dataclasses.dataclass(frozen=True)
class Row:
    """One hostile input: where it goes (file, and the line it becomes there), what it is, and the outcome:
    `reason` is a substring of its dead letter's reason (`kind` its kind), or None when it is accepted."""

    stage: str
    name: str
    what: str
    file: str
    bad: bytes  # the bytes that go into the hostile file (a line, or a whole file's content)
    reason: Optional[str]
    kind: str = "line"
    clean: Optional[bytes] = None  # what the twin holds in its place: by default the same bytes when the row is
    # accepted, nothing when it is refused; for a damaged file, its good part
    whole_file: bool = False  # `bad` is the whole file, not one line among good ones
    reported_as: Optional[str] = None  # the file its dead letter names, when not `file` (an article's metadata)

    def twin(self) -> Optional[bytes]:
        if self.clean is not None:
            return self.clean
        return self.bad if self.reason is None else None


def _json(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=True).encode()


def _doc(index: int, **changes) -> dict:
    """A real document of the bundled sample, changed."""
    return {**sample_documents()[index].to_dict(), **changes}


def _gzip_cut(lines: list[bytes]) -> tuple[bytes, bytes]:
    """A gzip file of `lines` cut in its last quarter, and (gzipped whole) the lines a reader gets before it."""
    whole = gzip.compress(b"".join(line + b"\n" for line in lines))
    cut = whole[: len(whole) * 3 // 4]
    readable = b""
    try:
        with gzip.GzipFile(fileobj=__import__("io").BytesIO(cut)) as stream:
            while True:
                line = stream.readline()
                if not line or not line.endswith(b"\n"):
                    break
                readable += line
    except (EOFError, OSError):
        pass
    return cut, gzip.compress(readable)


# --- the corpus job -----------------------------------------------------------------------------------------------

MAX_DOCUMENT_MB = "1"  # the sample's largest PMC article is well below 1 MB of JSON
_NESTED = b"[" * 100_000 + b"]" * 100_000


def corpus_rows() -> list[Row]:
    cut, readable = _gzip_cut([_json(_doc(i, id=f"pubmed:9{i:05d}")) for i in range(40, 60)])
    return [
        Row("corpus", "not-json", "a line that is not JSON", "hostile.jsonl", b"{not json", "Expecting"),
        Row("corpus", "not-object", "a JSON array instead of an object", "hostile.jsonl", b"[1, 2]",
            "not a JSON object"),
        Row("corpus", "wrong-type", "a title that is a number", "hostile.jsonl", _json(_doc(1, title=3)),
            "title is not a string"),
        Row("corpus", "no-source", "a document without a known source", "hostile.jsonl",
            _json(_doc(2, source="arxiv")), "needs an id and a source"),
        Row("corpus", "lone-surrogate", "valid JSON holding a lone UTF-16 surrogate ('\\ud800')", "hostile.jsonl",
            _json(_doc(3)).replace(b'"title": "', b'"title": "\\ud800', 1), "lone UTF-16 surrogate"),
        Row("corpus", "not-utf8", "bytes that are not UTF-8", "hostile.jsonl",
            _json(_doc(4)).replace(b'"title": "', b'"title": "\xff\xfe', 1), "utf-8"),
        Row("corpus", "nested", "JSON nested 100,000 deep", "hostile.jsonl", _NESTED, "recursion"),
        Row("corpus", "oversize", "a 2 MB document over --max-document-mb", "hostile.jsonl",
            _json(_doc(5, title="x " * 1_000_000)), "longer than --max-document-mb"),
        Row("corpus", "bom", "a UTF-8 byte-order mark before the JSON (read as UTF-8, as JSON allows)",
            "hostile.jsonl", b"\xef\xbb\xbf" + _json(_doc(6)), None),
        Row("corpus", "truncated-gzip", "a .jsonl.gz cut short (the documents before the cut are kept)",
            "cut.jsonl.gz", cut, "cannot read past line", kind="file", clean=readable, whole_file=True),
        Row("corpus", "empty-file", "an empty file", "empty.jsonl", b"", None, whole_file=True),
        Row("corpus", "blank-lines", "blank and whitespace-only lines", "hostile.jsonl", b"  \t ", None),
        Row("corpus", "duplicate", "a good document twice (one copy is removed as an exact duplicate)",
            "hostile.jsonl", _json(_doc(0)), None),
        Row("corpus", "crlf", "a document line ending in CRLF", "hostile.jsonl", _json(_doc(7)) + b"\r", None),
    ]


# --- the vocab and tfrecords jobs (text shards: one sentence per line, a blank line between documents) ------------

def text_rows(stage: str) -> list[Row]:
    sentences = [line.encode() for doc in genia_documents()[100:120] for line in (*doc, "")]
    cut, readable = _gzip_cut(sentences)
    return [
        # The vocabulary leaves such a line out; the TFRecords job keeps it with the bytes dropped, as BERT
        # drops U+FFFD: its twin holds the line without them.
        Row(stage, "not-utf8", "a sentence with bytes that are not UTF-8", "part-00001.txt",
            b"IL-2 \xff\xfe expression", "utf-8" if stage == "vocab" else "invalid UTF-8",
            clean=None if stage == "vocab" else b"IL-2  expression"),
        Row(stage, "surrogate-bytes", "CESU-8 surrogate bytes (not UTF-8)", "part-00001.txt",
            b"alpha \xed\xa0\x80 beta", "utf-8" if stage == "vocab" else "invalid UTF-8",
            clean=None if stage == "vocab" else b"alpha  beta"),
        Row(stage, "oversize", "a 3 MB line over --max-line-mb", "part-00001.txt", b"x " * 1_500_000,
            "longer than --max-line-mb"),
        Row(stage, "truncated-gzip", "a .gz shard cut short (the text before the cut is kept)", "part-00002.txt.gz",
            cut, "cannot read past line", kind="file", clean=readable, whole_file=True),
        Row(stage, "empty-file", "an empty shard", "part-00003.txt", b"", None, whole_file=True),
        Row(stage, "control-characters", "NUL and other control characters inside a sentence", "part-00001.txt",
            b"T cells\x00 and \x07B cells\x1b.", None),
        Row(stage, "crlf", "a sentence ending in CRLF", "part-00001.txt", b"Monocytes were isolated.\r", None),
    ]


ROWS = corpus_rows() + text_rows("vocab") + text_rows("tfrecords")  # + document_rows(), below


def write_twins(root: Path, rows: list[Row], good: dict[str, list[bytes]]) -> tuple[Path, Path, dict]:
    """`root/hostile` and `root/clean` with the same file names: good lines everywhere, each row's bad line (or
    file) in the hostile copy only. Returns both directories and, per row name, the line number it got."""
    hostile, clean = root / "hostile", root / "clean"
    hostile.mkdir(parents=True)
    clean.mkdir(parents=True)
    files: dict[str, tuple[list[bytes], list[bytes]]] = {name: (list(lines), list(lines))
                                                          for name, lines in good.items()}
    whole: dict[str, tuple[bytes, bytes]] = {}
    numbers = {}
    for row in rows:
        if row.whole_file:
            whole[row.file] = (row.bad, row.clean)
            continue
        bad_lines, clean_lines = files.setdefault(row.file, ([], []))
        bad_lines.append(row.bad)
        numbers[row.name] = len(bad_lines)
        if row.twin() is not None:
            clean_lines.append(row.twin())
        # Every good line of the hostile file is also in the clean one: the twin lacks only what was refused.
        bad_lines.append(good_line_after(row, len(numbers)))
        clean_lines.append(good_line_after(row, len(numbers)))
    for name, (bad_lines, clean_lines) in files.items():
        for directory, lines in ((hostile, bad_lines), (clean, clean_lines)):
            (directory / name).write_bytes(b"".join(line + b"\n" for line in lines))
    for name, (bad, good_part) in whole.items():
        (hostile / name).write_bytes(bad)
        (clean / name).write_bytes(good_part or b"")
    return hostile, clean, numbers


def good_line_after(row: Row, index: int) -> bytes:
    """A good line after each bad one, so that a reader that lost its place would lose good data (and show)."""
    if row.stage == "corpus":
        return _json(sample_documents()[60 + index].to_dict())
    return b"Activation of the CD28 surface receptor provides a major costimulatory signal."


def dead_letters(directory: Path, job: str) -> list[dict]:
    return [json.loads(line) for path in sorted((directory / "errors").glob(f"{job}-*.jsonl"))
            for line in path.read_text().splitlines()]


def check_row(row: Row, letters: list[dict], numbers: dict) -> None:
    mine = [letter for letter in letters if Path(letter["origin"]).name == (row.reported_as or row.file)
            and (row.whole_file or letter.get("line") == numbers[row.name])]
    if row.reason is None:
        assert mine == [], f"{row.what}: accepted, but {mine}"
        return
    assert len(mine) == 1, f"{row.what}: expected one dead letter, got {mine}"
    assert row.reason.lower() in mine[0]["reason"].lower(), mine[0]
    assert mine[0]["kind"] == row.kind and mine[0]["job"] == row.stage


def same_files(first: Path, second: Path, pattern: str) -> None:
    names = sorted(p.relative_to(first) for p in first.glob(pattern))
    assert names and names == sorted(p.relative_to(second) for p in second.glob(pattern))
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


@pytest.fixture(scope="module")
def corpus_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-corpus")
    good = {"good.jsonl": [_json(d.to_dict()) for d in sample_documents()[:60] + sample_documents()[-4:]]}
    assert len(sample_documents()) > 60 + len(corpus_rows()) + 4
    hostile, clean, numbers = write_twins(root / "in", corpus_rows(), good)
    outputs = {}
    for name, directory in (("hostile", hostile), ("clean", clean)):
        outputs[name] = root / f"out-{name}"
        corpus_job.run(["--input", f"{directory}/*", "--output", str(outputs[name]), "--shard-size-mb", "0.1",
                        "--max-document-mb", MAX_DOCUMENT_MB])
    return outputs, numbers


@pytest.mark.parametrize("row", corpus_rows(), ids=lambda row: row.name)
def test_corpus_row(row, corpus_runs):
    outputs, numbers = corpus_runs
    check_row(row, dead_letters(outputs["hostile"], "corpus"), numbers)


def test_corpus_keeps_every_good_document(corpus_runs):
    outputs, _ = corpus_runs
    same_files(outputs["hostile"], outputs["clean"], "text/*.txt")
    assert dead_letters(outputs["clean"], "corpus") == []


def _text_good() -> dict[str, list[bytes]]:
    return {"part-00000.txt": [line.encode() for doc in genia_documents()[:60] for line in (*doc, "")],
            "part-00001.txt": [line.encode() for doc in genia_documents()[60:100] for line in (*doc, "")]}


@pytest.fixture(scope="module")
def vocab_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-vocab")
    hostile, clean, numbers = write_twins(root / "in", text_rows("vocab"), _text_good())
    outputs = {}
    for name, directory in (("hostile", hostile), ("clean", clean)):
        outputs[name] = root / f"out-{name}"
        vocab_job.run(["--input", f"{directory}/*", "--output", str(outputs[name]), "--vocab-size", "600",
                       "--max-line-mb", "1"])
    return outputs, numbers


@pytest.mark.parametrize("row", text_rows("vocab"), ids=lambda row: row.name)
def test_vocab_row(row, vocab_runs):
    outputs, numbers = vocab_runs
    check_row(row, dead_letters(outputs["hostile"], "vocab"), numbers)


def test_vocab_learns_the_same_vocabulary_from_the_good_lines(vocab_runs):
    outputs, _ = vocab_runs
    same_files(outputs["hostile"], outputs["clean"], "vocab.txt")
    counts = {name: sorted(gzip.decompress(p.read_bytes()).decode().splitlines() for p in
                           (outputs[name] / "counts").glob("words-*.tsv.gz")) for name in outputs}
    assert counts["hostile"] == counts["clean"]


@pytest.fixture(scope="module")
def tfrecords_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-tfrecords")
    vocab = write_vocab(root / "vocab")
    hostile, clean, numbers = write_twins(root / "in", text_rows("tfrecords"), _text_good())
    outputs = {}
    for name, directory in (("hostile", hostile), ("clean", clean)):
        outputs[name] = root / f"out-{name}"
        tfrecords_job.run(["--input", f"{directory}/*", "--vocab", vocab, "--output", str(outputs[name]),
                           "--num-shards", "2", "--max-line-mb", "1"])
    return outputs, numbers


@pytest.mark.parametrize("row", text_rows("tfrecords"), ids=lambda row: row.name)
def test_tfrecords_row(row, tfrecords_runs):
    outputs, numbers = tfrecords_runs
    check_row(row, dead_letters(outputs["hostile"], "tfrecords"), numbers)


def test_tfrecords_writes_the_same_examples_from_the_good_lines(tfrecords_runs):
    outputs, _ = tfrecords_runs
    same_files(outputs["hostile"], outputs["clean"], "pretrain_data.tfrecord-*")


# --- the documents job (whole files: PubMed XML, PMC articles and their metadata) --------------------------------

PUBMED_SMALL = Path(__file__).resolve().parent / "data" / "pubmed" / "test_current_medline.xml.gz"
MIRROR = Path(__file__).resolve().parent.parent / "samples" / "mirror"


def _pubmed_with(change: Callable[[list[bytes]], list[bytes]], prolog: bytes = b"") -> bytes:
    """The small real PubMed file with its records changed (a list of record bodies after `<PubmedArticle>`)."""
    xml = gzip.decompress(PUBMED_SMALL.read_bytes())
    head, *records = xml.split(b"<PubmedArticle>")
    if prolog:
        head = head.replace(b"<PubmedArticleSet>", prolog + b"<PubmedArticleSet>", 1)
    return gzip.compress(b"<PubmedArticle>".join([head, *change(records)]))


def _entity(records: list[bytes], entity: bytes) -> list[bytes]:
    return [records[0].replace(b"<ArticleTitle>", b"<ArticleTitle>" + entity, 1), *records[1:]]


LAUGHS = (b'<!DOCTYPE PubmedArticleSet [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
          b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;">]>')
XXE = b'<!DOCTYPE PubmedArticleSet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def _hostile_article() -> Path:
    """The real article the PMC rows are made from: not among the run's good articles (they share its id)."""
    return sorted(MIRROR.glob("pmc-oa-opendata/*/*.xml"))[-1]


def document_rows() -> list[Row]:
    article = _hostile_article()
    metadata = json.loads(article.with_suffix(".json").read_text())
    return [
        Row("documents", "xxe", "a record using an external entity (file:///etc/passwd)", "pubmed10n0101.xml.gz",
            _pubmed_with(lambda r: _entity(r, b"&xxe;"), XXE), "entity", kind="record", whole_file=True),
        Row("documents", "billion-laughs", "a record using nested entities (billion laughs)",
            "pubmed10n0102.xml.gz", _pubmed_with(lambda r: _entity(r, b"&lol9;"), LAUGHS), "entity",
            kind="record", whole_file=True),
        Row("documents", "oversize-record", "a 1.5 MB record over --max-record-mb 1", "pubmed10n0103.xml.gz",
            _pubmed_with(lambda r: [r[0].replace(b"<AbstractText>", b"<AbstractText>" + b"x " * 750_000, 1),
                                    *r[1:]]), "larger than the limit", kind="record", whole_file=True),
        Row("documents", "html", "an HTML error page saved under a PubMed name", "pubmed10n0104.xml.gz",
            b"<!DOCTYPE html><html><body>Service unavailable</body></html>", "", kind="file", whole_file=True),
        Row("documents", "empty-pubmed", "an empty PubMed file", "pubmed10n0105.xml.gz", b"", "", kind="file",
            whole_file=True),
        Row("documents", "entity-article", "a PMC article with an entity no DTD defines", "PMC9000001.1.xml",
            article.read_bytes().replace(b"<article-title>", b"<article-title>&evil;", 1), "entity",
            kind="file", whole_file=True),
        Row("documents", "oversize-article", "a 2 MB PMC article file over --max-article-mb 1", "PMC9000002.1.xml",
            article.read_bytes() + b"<!--" + b" " * 2_000_000 + b"-->", "larger than --max-article-mb",
            kind="file", whole_file=True),
        Row("documents", "surrogate-metadata", "an article whose metadata JSON holds a lone surrogate",
            "PMC9000003.1.json", json.dumps({**metadata, "license_code": "CC BY\ud800"}).encode(),
            "surrogate", kind="file", whole_file=True, reported_as="PMC9000003.1.xml"),
        Row("documents", "metadata-not-object", "an article whose metadata JSON is a list (read without it)",
            "PMC9000004.1.json", b"[1, 2]", "unreadable metadata", kind="file", whole_file=True),
    ]


@pytest.fixture(scope="module")
def documents_runs(tmp_path_factory):
    from pipelines import documents as documents_job

    root = tmp_path_factory.mktemp("bad-documents")
    article = _hostile_article()
    outputs = {}
    for name in ("hostile", "clean"):
        directory = root / "in" / name
        directory.mkdir(parents=True)
        for path in sorted(MIRROR.glob("pubmed/*/*.xml.gz")):
            (directory / path.name).write_bytes(path.read_bytes())
        for path in sorted(MIRROR.glob("pmc-oa-opendata/*/*"))[:8]:
            (directory / path.name).write_bytes(path.read_bytes())
        if name == "hostile":
            for row in document_rows():
                (directory / row.file).write_bytes(row.bad)
                if row.file.endswith(".json"):  # the article beside the metadata, renamed to the same id
                    (directory / row.file.replace(".json", ".xml")).write_bytes(article.read_bytes())
        outputs[name] = root / f"out-{name}"
        documents_job.run(["--pubmed", f"{directory}/*.xml.gz", "--pmc", f"{directory}/PMC*.xml",
                           "--output", str(outputs[name] / "docs"), "--max-record-mb", "1",
                           "--max-article-mb", "1"])
    return outputs


def _documents_written(output: Path) -> list[str]:
    rows = [json.loads(line) for path in sorted(output.glob("docs-*-of-*.jsonl.gz"))
            for line in gzip.decompress(path.read_bytes()).decode().splitlines()]
    return sorted(json.dumps({k: v for k, v in row.items() if k != "origin"}, sort_keys=True) for row in rows
                  if not Path(row["origin"]).name.startswith(("pubmed10n01", "PMC9")))


@pytest.mark.parametrize("row", document_rows(), ids=lambda row: row.name)
def test_documents_row(row, documents_runs):
    letters = [json.loads(line) for path in documents_runs["hostile"].glob("docs-errors-*.jsonl")
               for line in path.read_text().splitlines()]
    check_row(row, [{**letter, "origin": letter["origin"].split("#")[0]} for letter in letters], {})


def test_documents_keeps_every_good_record(documents_runs):
    assert _documents_written(documents_runs["hostile"]) == _documents_written(documents_runs["clean"])


# --- pretraining (python -m pretrain: data, vocabulary, settings) ---------------------------------------------------

@dataclasses.dataclass(frozen=True)
class CliRow:
    """One hostile input of a command: how it is made (from a good set-up), the exit status, what the one-line
    error (or the warning) says."""

    name: str
    what: str
    make: Callable[[dict, Path], list[str]]  # (good set-up, a scratch directory) -> the command's arguments
    status: int
    message: str


def _train(setup: dict, data: str, vocab: Optional[str] = None, *extra: str) -> list[str]:
    return ["train", "--data", data, "--vocab", vocab or setup["vocab"], "--output", setup["run"],
            "--model-size", "tiny", "--max-seq-length", "64", "--train-steps", "2", "--steps-per-loop", "1",
            *extra]


def _damaged_copy(setup: dict, scratch: Path, change: Callable[[bytes], bytes]) -> str:
    shards = sorted(Path(setup["train"].rsplit("/", 1)[0]).glob("pretrain_data.*"))
    for shard in shards:
        data = shard.read_bytes()
        (scratch / shard.name).write_bytes(change(data) if shard.name.endswith("00000-of-00004") else data)
    return f"{scratch}/pretrain_data.tfrecord-*"


def _vocab_copy(setup: dict, scratch: Path, vocab: Optional[bytes] = None, config: Optional[bytes] = None) -> str:
    directory = scratch / "vocab"
    directory.mkdir()
    source = Path(setup["vocab"])
    (directory / "vocab.txt").write_bytes(vocab if vocab is not None else (source / "vocab.txt").read_bytes())
    (directory / "tokenizer_config.json").write_bytes(
        config if config is not None else (source / "tokenizer_config.json").read_bytes())
    return str(directory)


def _flip(data: bytes) -> bytes:
    return data[:40] + bytes([data[40] ^ 0xFF]) + data[41:]


PRETRAIN_ROWS = [
    CliRow("other-length", "shards built at 64 read at 128",
           lambda s, d: _train(s, s["train"])[:-8] + ["--max-seq-length", "128", "--train-steps", "2"], 2,
           "built with max_seq_length=64 but is being read with max_seq_length=128"),
    CliRow("other-vocabulary", "shards built with another vocabulary",
           lambda s, d: _train(s, s["train"], _vocab_copy(
               s, d, (Path(s["vocab"]) / "vocab.txt").read_bytes() + b"zzzz\n")), 2,
           "another vocabulary or casing"),
    CliRow("flipped-byte", "a shard with one flipped byte (--verify-data)",
           lambda s, d: _train(s, _damaged_copy(s, d, _flip), None, "--verify-data"), 2, "fail their checksum"),
    CliRow("cut-shard", "a shard cut short (a partial copy)",
           lambda s, d: _train(s, _damaged_copy(s, d, lambda b: b[: len(b) // 2]), None, "--verify-data"), 2,
           "is cut off"),
    CliRow("not-tfrecord", "a file that is not a TFRecord named as a shard",
           lambda s, d: _train(s, _damaged_copy(s, d, lambda b: b"<html>not data</html>"), None,
                               "--verify-data"), 2, "not a TFRecord file"),
    CliRow("no-match", "--data matching no file", lambda s, d: _train(s, f"{d}/nothing-*"), 2, "no file matches"),
    CliRow("directory", "--data naming a directory", lambda s, d: _train(s, str(d)), 2, "is a directory"),
    CliRow("no-cls", "a vocabulary without [CLS]",
           lambda s, d: _train(s, s["train"], _vocab_copy(s, d, (Path(s["vocab"]) / "vocab.txt").read_bytes()
                                                           .replace(b"[CLS]\n", b"[CLX]\n"))), 2,
           "special tokens ['[CLS]'] are missing"),
    CliRow("vocab-not-utf8", "a vocab.txt that is not UTF-8",
           lambda s, d: _train(s, s["train"], _vocab_copy(
               s, d, (Path(s["vocab"]) / "vocab.txt").read_bytes() + b"caf\xe9\n")), 2, "not UTF-8"),
    CliRow("config-string", 'tokenizer_config.json with "do_lower_case": "false" (a string)',
           lambda s, d: _train(s, s["train"], _vocab_copy(
               s, d, config=b'{"do_lower_case": "false", "strip_accents": true}')), 2, "do_lower_case"),
    CliRow("unknown-setting", "--set of a hyperparameter that does not exist",
           lambda s, d: _train(s, s["train"], None, "--set", "hiden_size=64"), 2, "unknown hyperparameter"),
    CliRow("nan-setting", "--set learning_rate=nan", lambda s, d: _train(s, s["train"], None, "--set",
                                                                         "learning_rate=nan"), 2, "nan"),
    CliRow("diverging", "a learning rate that makes the loss NaN (1e37)",
           lambda s, d: _train(s, s["train"], None, "--set", "learning_rate=1e37", "--train-steps", "6"), 3,
           "training diverged"),
    CliRow("no-metadata", "shards without pretrain_data.json (another tool's): accepted, with a warning",
           lambda s, d: _train(s, _without_metadata(s, d)), 0, "no pretrain_data.json in"),
]


def _without_metadata(setup: dict, scratch: Path) -> str:
    pattern = _damaged_copy(setup, scratch, lambda data: data)
    (scratch / "pretrain_data.json").unlink()
    return pattern


@pytest.fixture(scope="module")
def pretrain_setup(tmp_path_factory) -> dict:
    from tests.pretrain_data import make_dataset

    root = tmp_path_factory.mktemp("bad-pretrain")
    return make_dataset(str(root / "data"))


@pytest.mark.parametrize("row", PRETRAIN_ROWS, ids=lambda row: row.name)
def test_pretrain_row(row, pretrain_setup, tmp_path, caplog):
    import logging

    from pretrain import cli

    setup = {**pretrain_setup, "run": str(tmp_path / "run")}
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with caplog.at_level(logging.WARNING):
        status = cli.main(row.make(setup, scratch))
    messages = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert status == row.status, messages
    assert any(row.message in message for message in messages), messages
    if row.status:
        errors = [m for m in messages if caplog.records[messages.index(m)].levelno >= logging.ERROR]
        assert len(errors) == 1 and "\n" not in errors[0]  # one line


# --- fine-tuning data (the BLURB readers behind python -m finetune) -------------------------------------------------

BLURB = Path(__file__).resolve().parent / "data" / "blurb"


@dataclasses.dataclass(frozen=True)
class FileRow:
    """A BLURB file with one bad line among real ones: the reader's one-line error names file:line."""

    name: str
    what: str
    task: str
    source: str  # a real file under tests/data/blurb
    change: Callable[[list[bytes]], list[bytes]]
    message: str  # None-free: every row here is refused
    split: str = "train"


def _replace_line(index: int, line: bytes) -> Callable[[list[bytes]], list[bytes]]:
    return lambda lines: [*lines[:index], line, *lines[index + 1:]]


FINETUNE_ROWS = [
    FileRow("other-entity-type", "B-Disease in a BC5CDR-chem file", "BC5CDR-chem", "ner/BC5CDR-chem-IOB/train.tsv",
            _replace_line(0, b"Selegiline\tB-Disease"), "train.tsv:1: tag 'B-Disease' is not a BC5CDR-chem tag"),
    FileRow("misspelt-tag", "a misspelt tag I-Chemcial", "BC5CDR-chem", "ner/BC5CDR-chem-IOB/train.tsv",
            _replace_line(0, b"Selegiline\tI-Chemcial"), "did you mean 'I-Chemical'?"),
    FileRow("mixed-schemes", "untyped B after typed tags", "BC5CDR-chem", "ner/BC5CDR-chem-IOB/train.tsv",
            _replace_line(30, b"word\tB"), "all typed"),
    FileRow("not-utf8", "a line in Latin-1", "BC5CDR-chem", "ner/BC5CDR-chem-IOB/train.tsv",
            _replace_line(3, b"postur\xe9l\tO"), "train.tsv:4: not UTF-8"),
    FileRow("no-tab", "a line without its tag", "BC5CDR-chem", "ner/BC5CDR-chem-IOB/train.tsv",
            _replace_line(2, b"induced"), "train.tsv:3"),
    FileRow("score-not-number", "a BIOSSES score that is not a number", "BIOSSES", "similarity/BIOSSES/train.tsv",
            lambda lines: [lines[0], lines[1].rsplit(b"\t", 1)[0] + b"\thigh", *lines[2:]], "is not a number"),
    FileRow("score-off-scale", "a BIOSSES score of 4.5", "BIOSSES", "similarity/BIOSSES/train.tsv",
            lambda lines: [lines[0], lines[1].rsplit(b"\t", 1)[0] + b"\t4.5", *lines[2:]], "scale 0-4"),
    FileRow("repeated-id", "a BIOSSES pair id given twice", "BIOSSES", "similarity/BIOSSES/train.tsv",
            lambda lines: [*lines, lines[1]], "already appears on line 2"),
    FileRow("missing-column", "a DDI row without its label", "DDI", "re/DDI/dev.tsv",
            lambda lines: [lines[0].rsplit(b"\t", 1)[0], *lines[1:]], "tab-separated fields", split="dev"),
    FileRow("unknown-label", "a DDI label that does not exist", "DDI", "re/DDI/dev.tsv",
            lambda lines: [lines[0].rsplit(b"\t", 1)[0] + b"\tDDI-fals", *lines[1:]], "DDI-fals", split="dev"),
    FileRow("empty", "a training file with its header only", "BIOSSES", "similarity/BIOSSES/train.tsv",
            lambda lines: lines[:1], "holds no example"),
    FileRow("no-header", "an empty training file (not even BIOSSES' header)", "BIOSSES",
            "similarity/BIOSSES/train.tsv", lambda lines: [], "expected the header"),
]


@pytest.mark.parametrize("row", FINETUNE_ROWS, ids=lambda row: row.name)
def test_finetune_row(row, tmp_path):
    from evaluation.layouts import read_split
    from evaluation.tasks import DataError, get_task

    source = BLURB / row.source
    target = tmp_path / row.source
    target.parent.mkdir(parents=True)
    for sibling in source.parent.iterdir():  # the other splits, untouched
        (target.parent / sibling.name).write_bytes(sibling.read_bytes())
    lines = source.read_bytes().split(b"\n")
    target.write_bytes(b"\n".join(row.change(lines)))
    task = get_task(row.task)
    with pytest.raises((DataError, FileNotFoundError)) as error:
        read_split(task, str(tmp_path), row.split)
    assert row.message in str(error.value) and "\n" not in str(error.value), error.value
    target.write_bytes(source.read_bytes())
    assert read_split(task, str(tmp_path), row.split)  # the good file is read


# --- the clinical tasks (MedNLI, MEDIQA 2019, BLUE's MedSTS, ShARe/CLEFE, i2b2 2010) ---------------------------------
# Their data cannot be shipped: the good files are written by tests/clinical_data.py in the distributed formats.


@dataclasses.dataclass(frozen=True)
class ClinicalRow:
    """One bad line among the good ones of a file written by `write_clinical_directory`: the reader's one-line
    error names file:line (`line`, counted from 1) and says `message`."""

    name: str
    what: str
    task: str
    file: str  # under the written data directory
    line: int  # the line replaced (or, past the end, added)
    bad: bytes
    message: str
    split: str = "train"


def _clinical_line(pair_index: int, **changes) -> bytes:
    from tests.clinical_data import nli_pairs

    pair, first, second, label = nli_pairs(pair_index, 1)[0]
    record = {"sentence1": first, "pairID": pair, "sentence2": second, "gold_label": label, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not None}).encode()


CLINICAL_ROWS = [
    ClinicalRow("mednli-not-json", "a MedNLI line cut short", "MedNLI", "mednli/mli_train_v1.jsonl", 3,
                b'{"sentence1": "Fever.", "pairID": "x"', "not a JSON object"),
    ClinicalRow("mednli-label", "a MedNLI label misspelt", "MedNLI", "mednli/mli_train_v1.jsonl", 3,
                _clinical_line(2, gold_label="contradicton"), "did you mean 'contradiction'?"),
    ClinicalRow("mednli-snli-dash", "SNLI's '-' label", "MedNLI", "mednli/mli_dev_v1.jsonl", 2,
                _clinical_line(37, gold_label="-"), "gold_label '-'", split="dev"),
    ClinicalRow("mednli-no-label", "a MedNLI line without gold_label", "MedNLI", "mednli/mli_train_v1.jsonl", 3,
                _clinical_line(2, gold_label=None), "physionet.org/content/mednli/1.0.0/"),
    ClinicalRow("mednli-repeated-pair", "a pairID twice", "MedNLI", "mednli/mli_train_v1.jsonl", 3,
                _clinical_line(0), "already appears on line 1"),
    ClinicalRow("mednli-latin1", "a MedNLI line in Latin-1", "MedNLI", "mednli/mli_train_v1.jsonl", 3,
                _clinical_line(2).replace(b"admitted", b"admitt\xe9d"), "MedNLI's files are UTF-8"),
    ClinicalRow("mediqa-unknown-pair", "a ground-truth row for a pair the test file lacks", "MEDIQA-NLI",
                "mednli/mednli_bionlp_shared_task_ground_truth.csv", 11, b"ffffffff-0000,neutral",
                "is in no line of", split="test"),
    ClinicalRow("mediqa-bad-label", "a ground-truth label misspelt", "MEDIQA-NLI",
                "mednli/mednli_bionlp_shared_task_ground_truth.csv", 2,
                b"0000003c-66c7-11e7-a8dc-f45c89b91419,entails", "unknown label 'entails'", split="test"),
    ClinicalRow("medsts-scale", "a MedSTS score above 5", "MedSTS", "MedSTS/train.tsv", 3,
                b"1\tPatient has asthma.\tPatient has asthma.\t6", "outside MedSTS' scale 0-5"),
    ClinicalRow("medsts-columns", "a MedSTS row without its score", "MedSTS", "MedSTS/train.tsv", 3,
                b"1\tPatient has asthma.\tPatient has asthma.", "expected 4 tab-separated fields"),
    ClinicalRow("clefe-two-columns", "a CLEFE line as word<TAB>tag", "ShARe-CLEFE", "clefe/Training.tsv", 2,
                b"evidence\tO", "expected 'word<TAB>file<TAB>offset<TAB>"),
    ClinicalRow("clefe-offset", "a CLEFE offset that is no number", "ShARe-CLEFE", "clefe/Training.tsv", 2,
                b"evidence\t00000-100000-DISCHARGE_SUMMARY.txt\tthree\tO", "offset 'three' is not a number"),
    ClinicalRow("clefe-dev-tag", "a dev tag the training file lacks", "ShARe-CLEFE", "clefe/Development.tsv", 2,
                b"evidence\t00036-100036-DISCHARGE_SUMMARY.txt\t3\tB-Disorder", "never occurs in", split="dev"),
    ClinicalRow("i2b2-label", "an i2b2 label in the wrong case", "i2b2-2010", "i2b2-2010/train.tsv", 3,
                b"1\t@problem$ improved after @treatment$ .\tTRIP", "did you mean 'TrIP'?"),
    ClinicalRow("i2b2-html", "a sign-in page saved as the training file", "i2b2-2010", "i2b2-2010/train.tsv", 1,
                b"<!DOCTYPE html><html><title>Sign in</title>", "an HTML page, not the data"),
]


@pytest.mark.parametrize("row", CLINICAL_ROWS, ids=lambda row: row.name)
def test_clinical_row(row, tmp_path):
    from evaluation.layouts import read_split
    from evaluation.tasks import DataError, get_task
    from tests.clinical_data import write_clinical_directory

    data = write_clinical_directory(tmp_path / "data")
    target = data / row.file
    good = target.read_bytes()
    lines = good.split(b"\n")
    index = row.line - 1
    target.write_bytes(b"\n".join([*lines[:index], row.bad, *lines[index + 1:]]))
    task = get_task(row.task)
    with pytest.raises((DataError, FileNotFoundError)) as error:
        read_split(task, str(data), row.split)
    message = str(error.value)
    assert row.message in message and "\n" not in message, message
    assert message.startswith(f"{target}:{row.line}: "), message
    target.write_bytes(good)
    assert read_split(task, str(data), row.split)  # the good file is read
