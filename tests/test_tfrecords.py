"""The TFRecords job on real GENIA abstracts (DirectRunner, in process): contract, packing, accounting,
shuffling, determinism, bad input, and the reader's checks."""
from __future__ import annotations

import argparse
import gzip
import json
import logging
import random
import re
from pathlib import Path

import pytest

from pipelines import tfrecords
from pipelines.common import read_vocabulary
from pretrain.data import read_examples
from pretraining_data.contract import METADATA_KEYS, DataMismatchError
from tests.fixtures import BERT_VOCAB, genia_documents
from tests.reference_electra import ExampleBuilder, FullTokenizer
from tests.tfrecords_data import check_layout, read_records, write_text_shards, write_vocab
from vocab.tokenizer import Tokenizer

MAX_LEN = 128


def run_job(text_dir: Path, vocab: str, output: Path, *flags: str) -> dict:
    return tfrecords.run(["--input", f"{text_dir}/part-*", "--vocab", vocab, "--output", str(output), *flags])


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tfrecords")


@pytest.fixture(scope="module")
def documents() -> tuple[tuple[str, ...], ...]:
    return genia_documents()


@pytest.fixture(scope="module")
def text_dir(work, documents) -> Path:
    write_text_shards(work / "text", documents)
    return work / "text"


@pytest.fixture(scope="module")
def vocab_dir(work) -> str:
    return write_vocab(work / "vocab")


@pytest.fixture(scope="module")
def tokenizer(vocab_dir) -> Tokenizer:
    return Tokenizer.from_vocabulary(read_vocabulary(vocab_dir))


@pytest.fixture(scope="module")
def built(work, text_dir, vocab_dir) -> tuple[Path, dict]:
    output = work / "out128"
    return output, run_job(text_dir, vocab_dir, output, "--num-shards", "4")


@pytest.fixture(scope="module")
def examples(built, tokenizer) -> list[tuple[list[int], list[int]]]:
    """(A, B) of every example written, each checked against the feature contract."""
    output, _ = built
    return [check_layout(r, MAX_LEN, tokenizer.vocab_size, tokenizer.cls_id, tokenizer.sep_id)
            for r in read_records(f"{output}/pretrain_data.tfrecord-*")]


def test_output_files_and_metadata(built, tokenizer):
    output, metadata = built
    names = sorted(p.name for p in output.iterdir())
    assert names == ["errors", "pretrain_data.json"] + [f"pretrain_data.tfrecord-{i:05d}-of-00004" for i in range(4)]
    assert json.loads((output / "pretrain_data.json").read_text()) == metadata
    assert set(METADATA_KEYS) <= set(metadata)
    assert metadata["format"] == "electra-pretraining" and metadata["max_seq_length"] == MAX_LEN
    assert {k: metadata[k] for k in ("vocab_size", "vocab_sha256", "do_lower_case", "strip_accents")} \
        == tokenizer.settings()
    assert metadata["num_shards"] == 4 and metadata["num_documents"] == 148 and metadata["num_files"] == 3
    assert [p.name for p in (output / "errors").iterdir()] == ["tfrecords-00000-of-00001.jsonl"]
    assert (output / "errors" / "tfrecords-00000-of-00001.jsonl").read_text() == ""


def test_every_example_has_the_contract_layout(built, examples):
    """check_layout ran on every record; the tf.data reader with FixedLenFeature reads them all too."""
    output, metadata = built
    assert len(examples) == metadata["num_examples"] > 300
    parsed = list(read_examples(f"{output}/pretrain_data.tfrecord-*", MAX_LEN).as_numpy_iterator())
    assert len(parsed) == len(examples)
    assert all(p["input_ids"].shape == (MAX_LEN,) and p["input_ids"].dtype.name == "int64" for p in parsed)


def test_examples_are_runs_of_one_document_and_every_token_is_accounted_for(built, examples, documents,
                                                                            tokenizer):
    """Map each example back to its document: A starts a sentence, B follows A, the next example starts
    where this one's sentences ended, and the only tokens missing are the documented truncation."""
    _, metadata = built
    docs = [tokenizer.encode_batch(doc) for doc in documents]
    flats = [[t for s in doc for t in s] for doc in docs]
    starts = []
    for doc in docs:
        bounds, position = [], 0
        for sentence in doc:
            bounds.append(position)
            position += len(sentence)
        starts.append(bounds + [position])
    by_first_token: dict[int, list[tuple[int, int]]] = {}
    for d, bounds in enumerate(starts):
        for p in bounds[:-1]:
            if p < len(flats[d]):
                by_first_token.setdefault(flats[d][p], []).append((d, p))
    placed: dict[int, list] = {}
    for first, second in examples:
        matches = [(d, p) for d, p in by_first_token.get(first[0], []) if flats[d][p: p + len(first)] == first]
        assert len(matches) == 1, "an example's segment A is not a run of exactly one document"
        d, p = matches[0]
        placed.setdefault(d, []).append((p, first, second))
    assert len(placed) == len(documents)
    written = truncated = 0
    for d, items in placed.items():
        items.sort(key=lambda item: item[0])
        assert items[0][0] == 0
        ends = [p for p, _, _ in items[1:]] + [len(flats[d])]
        for (p, first, second), next_start in zip(items, ends):
            end = p + len(first)
            if second:  # B is the sentences right after A's (A is never cut when B is not empty)
                assert flats[d][end: end + len(second)] == second and end in starts[d]
                end += len(second)
            gap = next_start - end
            assert next_start in starts[d] and gap >= 0
            assert gap == 0 or len(first) + len(second) >= MAX_LEN - 3, "tokens lost without truncation"
            written += len(first) + len(second)
            truncated += gap
    assert written == metadata["num_tokens"]
    assert truncated == metadata["num_truncated_tokens"]
    assert metadata["num_input_tokens"] == sum(map(len, flats)) == written + truncated
    assert metadata["num_sentences"] == sum(map(len, documents))


@pytest.mark.slow
def test_segment_statistics_match_the_original_builder(built, examples, documents):
    """Single-segment share, full-length share and mean length against the original builder on the same
    abstracts (pooled over seeds), and the short-target share (~5%) from the job's own count."""
    _, metadata = built
    reference = FullTokenizer(str(BERT_VOCAB))
    original = []
    for seed in range(4):
        builder = ExampleBuilder(reference, MAX_LEN, random.Random(seed))
        for doc in documents:
            original += [e for e in (builder.add_line(line) for line in [*doc, ""]) if e]

    def stats(pairs):
        n = len(pairs)
        lengths = sorted(len(a) + len(b) for a, b in pairs)
        return (sum(not b for _, b in pairs) / n,
                sum(len(a) + len(b) == MAX_LEN - 3 + (not b) for a, b in pairs) / n,
                sum(lengths) / n,
                [lengths[int(q * n)] for q in (0.1, 0.25, 0.5)])

    single, full, mean, quantiles = stats(examples)
    single_ref, full_ref, mean_ref, quantiles_ref = stats(original)
    assert 0.1 < single < 0.45 and abs(single - single_ref) < 0.07
    assert abs(full - full_ref) < 0.07
    assert abs(mean - mean_ref) < 0.05 * mean_ref
    assert all(abs(q - r) <= 12 for q, r in zip(quantiles, quantiles_ref)), (quantiles, quantiles_ref)
    assert metadata["num_single_segment_examples"] == sum(not b for _, b in examples)
    assert 0.01 < metadata["num_short_target_examples"] / metadata["num_examples"] < 0.1


def test_shuffled_across_and_within_shards(built, examples, documents, tokenizer):
    """Consecutive records rarely come from the same document, and each shard mixes many documents."""
    output, metadata = built
    first_tokens = {}
    for d, doc in enumerate(documents):
        first_tokens.setdefault(tuple(tokenizer.encode_batch(doc[:1])[0][:6]), d)
    records = [read_records(str(path)) for path in sorted(output.glob("pretrain_data.tfrecord-*"))]
    sizes = [len(r) for r in records]
    assert sum(sizes) == metadata["num_examples"] and min(sizes) > 0.7 * max(sizes)
    # A document's first example starts with its title: those must be spread over every shard.
    for shard in records:
        titles = {first_tokens.get(tuple(check_layout(r, MAX_LEN, tokenizer.vocab_size, tokenizer.cls_id,
                                                      tokenizer.sep_id)[0][:6])) for r in shard} - {None}
        assert len(titles) > 20
    # In input order, each document's examples are adjacent; after shuffling they must not be.
    adjacent = sum(a[0][:4] == b[0][:4] for a, b in zip(examples, examples[1:]))
    assert adjacent < 5


@pytest.mark.slow
def test_same_input_and_seed_give_identical_bytes_and_overwrite_rules(built, work, text_dir, vocab_dir):
    output, metadata = built
    again = work / "again"
    assert run_job(text_dir, vocab_dir, again, "--num-shards", "4") == metadata
    for path in (p for p in output.rglob("*") if p.is_file()):
        name = path.relative_to(output)
        assert (again / name).read_bytes() == path.read_bytes(), name

    with pytest.raises(SystemExit, match="already holds"):
        run_job(text_dir, vocab_dir, again, "--num-shards", "3", "--seed", "7")
    reseeded = run_job(text_dir, vocab_dir, again, "--num-shards", "3", "--seed", "7", "--overwrite")
    assert reseeded["seed"] == 7 and reseeded["num_shards"] == 3
    # The stale 4-shard files are gone; the examples are the same set, packed and placed differently.
    assert sorted(p.name for p in again.glob("pretrain_data.tfrecord-*")) == [
        f"pretrain_data.tfrecord-{i:05d}-of-00003" for i in range(3)]
    assert not list(again.glob(".temp-*"))
    assert sorted(read_records(f"{again}/pretrain_data.tfrecord-*")) != sorted(
        read_records(f"{output}/pretrain_data.tfrecord-*"))
    assert reseeded["num_input_tokens"] == metadata["num_input_tokens"]


def test_phase_two_length_and_reader_checks(work, text_dir, vocab_dir, tokenizer):
    """512 from the same job, shard count from --target-shard-mb; reading it at 128, or with another
    vocabulary or casing, fails with both values named."""
    output = work / "out512"
    metadata = run_job(text_dir, vocab_dir, output, "--max-seq-length", "512", "--target-shard-mb", "0.05")
    records = read_records(f"{output}/pretrain_data.tfrecord-*")
    assert len(records) == metadata["num_examples"]
    for record in records:
        check_layout(record, 512, tokenizer.vocab_size, tokenizer.cls_id, tokenizer.sep_id)
    assert metadata["num_shards"] == -(-metadata["num_record_bytes"] // 50_000) > 1
    assert metadata["num_input_tokens"] == metadata["num_tokens"] + metadata["num_truncated_tokens"]

    pattern = f"{output}/pretrain_data.tfrecord-*"
    assert len(list(read_examples(pattern, 512, read_vocabulary(vocab_dir)))) == metadata["num_examples"]
    with pytest.raises(DataMismatchError, match=r"max_seq_length=512 but is being read with max_seq_length=128"):
        read_examples(pattern, 128)
    other = read_vocabulary(write_vocab(work / "small_cased_vocab", do_lower_case=False, size=2000))
    with pytest.raises(DataMismatchError) as error:
        read_examples(pattern, 512, other)
    for conflict in ("vocab_size: data 30522, vocabulary 2000", "do_lower_case: data True, vocabulary False",
                     "strip_accents: data True, vocabulary False", f"vocab_sha256: data '{tokenizer.vocab_sha256}'"):
        assert conflict in str(error.value)
    with pytest.raises(DataMismatchError, match="no pretrain_data.json"):
        read_examples(f"{text_dir}/part-00000-of-00003.txt", 512)


def test_heavy_truncation_ends_the_job_with_a_warning(work, documents, vocab_dir, caplog):
    """Above 20% of the input tokens truncated (the sample loses 13% at 128), the job warns with the
    fraction; the summary line always gives it."""
    text_dir = work / "few"
    write_text_shards(text_dir, documents[:6], num_files=2)
    with caplog.at_level(logging.INFO, logger="pipelines.tfrecords"):
        short = run_job(text_dir, vocab_dir, work / "out5", "--max-seq-length", "5", "--num-shards", "1")
    fraction = short["num_truncated_tokens"] / short["num_input_tokens"]
    assert fraction > 0.5
    records = [r for r in caplog.records if r.name == "pipelines.tfrecords"]
    assert f"{short['num_truncated_tokens']} truncated ({100 * fraction:.1f}%)" in records[-2].getMessage()
    assert (records[-1].levelno, records[-1].getMessage()) == (logging.WARNING, (
        f"tfrecords: {100 * fraction:.1f}% of the {short['num_input_tokens']} input tokens were truncated "
        "(more than 20%): --max-seq-length 5 is short for this text's sentences; build with a larger "
        "--max-seq-length (ELECTRA uses 128, then 512)"))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pipelines.tfrecords"):
        run_job(text_dir, vocab_dir, work / "out128-few", "--num-shards", "1")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "pipelines.tfrecords"]


def test_bad_input_is_reported_and_nothing_else_is_lost(work, documents, vocab_dir):
    """A line of invalid UTF-8 keeps its document (the bad bytes are dropped as BERT drops U+FFFD); a
    truncated gzip keeps the text before the cut; both are named in the errors file and counted."""
    text_dir = work / "bad"
    text_dir.mkdir()
    good = "\n\n".join("\n".join(doc) for doc in documents[:10]) + "\n"
    # Extra blank and whitespace-only lines, CRLF endings: still 10 documents.
    (text_dir / "part-00000.txt").write_bytes(("\n \n" + good.replace("\n", "\r\n") + "\n\n").encode())
    broken = "\n".join(documents[10]).encode()
    (text_dir / "part-00001.txt").write_bytes(broken[:40] + b"\xff\xfe" + broken[40:] + b"\n")
    cut = gzip.compress(("\n\n".join("\n".join(doc) for doc in documents[11:30]) + "\n").encode())
    (text_dir / "part-00002.txt.gz").write_bytes(cut[: len(cut) // 2])

    metadata = run_job(text_dir, vocab_dir, work / "out_bad", "--num-shards", "2")
    errors = [json.loads(line) for path in (work / "out_bad" / "errors").glob("tfrecords-*.jsonl")
              for line in path.read_text().splitlines()]
    by_file = {Path(e["origin"]).name: e for e in errors}
    assert set(by_file) == {"part-00001.txt", "part-00002.txt.gz"}
    assert all(e["job"] == "tfrecords" for e in errors)
    assert by_file["part-00001.txt"]["line"] == 1 and "invalid UTF-8" in by_file["part-00001.txt"]["reason"]
    assert by_file["part-00001.txt"]["kind"] == "line" and by_file["part-00002.txt.gz"]["kind"] == "file"
    assert "cannot read past line" in by_file["part-00002.txt.gz"]["reason"]
    assert metadata["num_invalid_utf8_lines"] == 1 and metadata["num_failed_files"] == 1
    assert metadata["num_incomplete_documents"] == 1
    assert 11 + 1 < metadata["num_documents"] < 30  # the readable half of the gzip file's documents
    assert metadata["num_input_tokens"] == metadata["num_tokens"] + metadata["num_truncated_tokens"]
    assert len(read_records(f"{work}/out_bad/pretrain_data.tfrecord-*")) == metadata["num_examples"]


def test_command_line_help_and_errors(monkeypatch, capsys):
    """`--help` exits 0 and lists every flag of the usage line in the job's docstring; each default a help line
    states is the default the job's parser applies; a missing required flag exits 2 naming it."""
    parsers = []
    parse = argparse.ArgumentParser.parse_known_args

    def spy(self, *args, **kwargs):  # the parser that run() builds
        parsers.append(self)
        return parse(self, *args, **kwargs)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", spy)
    with pytest.raises(SystemExit) as exit_info:
        tfrecords.run(["--help"])
    assert exit_info.value.code == 0
    listed = set(re.findall(r"--[a-z][a-z-]*[a-z]", capsys.readouterr().out))
    usage = tfrecords.__doc__.split("\n\n")[1]
    assert "python -m pipelines.tfrecords" in usage
    assert set(re.findall(r"--[a-z][a-z-]*[a-z]", usage)) <= listed

    parser, = parsers
    defaults = vars(parse(parser, [])[0])
    stated = [(action.dest, float(match.group(1))) for action in parser._actions
              if (match := re.search(r"\(default (\d+(?:\.\d+)?)", action.help or ""))]
    assert stated and all(defaults[dest] == value for dest, value in stated), stated

    for argv, missing in (([], "--input"), (["--input", "x"], "--vocab"),
                          (["--input", "x", "--vocab", "v"], "--output")):
        with pytest.raises(SystemExit) as exit_info:
            tfrecords.run(argv)
        assert exit_info.value.code == 2 and f"{missing} is required" in capsys.readouterr().err
