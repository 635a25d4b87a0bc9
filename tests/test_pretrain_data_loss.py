"""A damaged TFRecord shard (a flipped byte, a partial copy, a file that is no TFRecord) is one
DataMismatchError naming the shard, the record and its byte offset, where TensorFlow's own
DataLossError names only an offset; `python -m pretrain` reports it as one line, exit status 2."""

from __future__ import annotations

import logging
import shutil
import struct
from pathlib import Path

import pytest
import tensorflow as tf

from pretrain import cli
from pretrain.data import (DataMismatchError, evaluation_dataset, explain_data_loss, resolve_files,
                           training_dataset, verify_shards)
from tests.fixtures import genia_documents
from tests.pretrain_data import build_examples, write_shards, write_vocabulary

LENGTH = 32


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> dict[str, str]:
    """Two real shards of GENIA examples (pretrain_data.json beside them) and their vocabulary."""
    root = tmp_path_factory.mktemp("shards")
    documents = genia_documents()[:12]
    vocab = write_vocabulary(str(root / "vocab"), documents, vocab_size=500)
    glob = write_shards(str(root / "clean"), build_examples(documents, vocab, LENGTH, seed=1),
                        vocab, LENGTH, num_shards=2)
    return {"vocab": vocab, "clean": str(root / "clean"), "glob": glob}


def _records(data: bytes) -> list[tuple[int, int]]:
    """(byte offset, data length) of each record, read from the framing."""
    records, position = [], 0
    while position < len(data):
        length = struct.unpack("<Q", data[position:position + 8])[0]
        records.append((position, length))
        position += 16 + length
    return records


def _copy(shards: dict, tmp_path: Path) -> tuple[Path, list[Path]]:
    directory = tmp_path / "data"
    shutil.copytree(shards["clean"], directory)
    return directory, sorted(directory.glob("pretrain_data.tfrecord-*"))


def _damaged(path: Path, problem: str) -> str:
    return (f"{path}: damaged TFRecord shard: {problem}; rebuild it (python -m pipelines.tfrecords) "
            "or leave it out of --data")


def test_a_flipped_byte_is_named_by_shard_record_and_offset(shards, tmp_path):
    directory, files = _copy(shards, tmp_path)
    data = bytearray(files[1].read_bytes())
    position, length = _records(bytes(data))[2]
    data[position + 12 + 5] ^= 0xFF  # inside record 2's data
    files[1].write_bytes(bytes(data))
    names = [str(f) for f in files]
    with pytest.raises(tf.errors.DataLossError) as lost:  # what TF says: an offset, no file
        for _ in training_dataset(names, 8, LENGTH, seed=0).take(100):
            pass
    assert "corrupted record at" in lost.value.message and str(files[1]) not in lost.value.message
    expected = _damaged(files[1], f"record 2 at byte {position}: its {length} data bytes fail "
                                  "their checksum (damaged)")
    assert str(explain_data_loss(lost.value, names)) == expected
    with pytest.raises(DataMismatchError) as verified:
        verify_shards(names)
    assert str(verified.value) == expected


def test_a_partial_copy_is_named(shards, tmp_path):
    directory, files = _copy(shards, tmp_path)
    data = files[0].read_bytes()
    position, length = _records(data)[-1]
    files[0].write_bytes(data[:position + 40])  # the last record cut 40 bytes in
    names = [str(f) for f in files]
    with pytest.raises(tf.errors.DataLossError) as lost:
        for _ in evaluation_dataset(names, 8, LENGTH):
            pass
    assert str(explain_data_loss(lost.value, names)) == _damaged(
        files[0], f"record {len(_records(data)) - 1} at byte {position} is cut off: it needs "
                  f"{length + 16} bytes, the file ends after 40 (a partial copy?)")


def test_a_file_that_is_no_tfrecord(shards, tmp_path):
    directory, files = _copy(shards, tmp_path)
    files[1].write_text("Selegiline-induced postural hypotension in Parkinson's disease.\n")
    with pytest.raises(DataMismatchError) as verified:
        verify_shards([str(f) for f in files])
    assert str(verified.value) == _damaged(
        files[1], "record 0 at byte 0: its length field fails its checksum (damaged, or not a "
                  "TFRecord file)")


def test_data_loss_that_no_longer_shows_is_said_so(shards):
    files = resolve_files(shards["glob"])
    error = tf.errors.DataLossError(None, None, "corrupted record at 12")
    assert str(explain_data_loss(error, files)).startswith(
        "TensorFlow lost data reading 2 shard(s) (corrupted record at 12), but every record of ")


def test_the_cli_reports_a_damaged_first_record_in_one_line(shards, tmp_path, caplog):
    directory, files = _copy(shards, tmp_path)
    data = bytearray(files[0].read_bytes())
    data[20] ^= 0xFF  # record 0's data: check_data reads it before anything is built
    files[0].write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR, logger="pretrain"):
        status = cli.main(["train", "--data", f"{directory}/pretrain_data.tfrecord-*", "--vocab",
                           shards["vocab"], "--output", str(tmp_path / "run"), "--model-size", "tiny"])
    assert status == 2
    assert [r.getMessage() for r in caplog.records if r.name == "pretrain"] == [_damaged(
        files[0], f"record 0 at byte 0: its {_records(bytes(data))[0][1]} data bytes fail their "
                  "checksum (damaged)")]


def test_the_cli_verifies_every_shard_first_with_verify_data(shards, tmp_path, caplog):
    directory, files = _copy(shards, tmp_path)
    data = files[1].read_bytes()
    files[1].write_bytes(data[:-3])
    position, length = _records(data)[-1]
    with caplog.at_level(logging.ERROR, logger="pretrain"):
        status = cli.main(["train", "--data", f"{directory}/pretrain_data.tfrecord-*", "--vocab",
                           shards["vocab"], "--output", str(tmp_path / "run"), "--model-size", "tiny",
                           "--verify-data"])
    assert status == 2 and not (tmp_path / "run").exists()
    assert [r.getMessage() for r in caplog.records if r.name == "pretrain"] == [_damaged(
        files[1], f"record {len(_records(data)) - 1} at byte {position} is cut off: it needs "
                  f"{length + 16} bytes, the file ends after {length + 13} (a partial copy?)")]


@pytest.mark.slow
def test_training_and_evaluation_stop_at_a_damaged_record_with_one_line(shards, tmp_path, caplog):
    """The damage is reached mid-run, inside the training loop and the evaluation loop."""
    run = str(tmp_path / "run")
    tiny = ["--model-size", "tiny", "--max-seq-length", str(LENGTH), "--steps-per-loop", "2",
            "--log-every", "2"]
    assert cli.main(["train", "--data", shards["glob"], "--vocab", shards["vocab"], "--output", run,
                     "--train-steps", "2", *tiny]) == 0
    directory, files = _copy(shards, tmp_path)
    data = bytearray(files[1].read_bytes())
    position, length = _records(bytes(data))[5]
    data[position + 12 + 3] ^= 0xFF
    files[1].write_bytes(bytes(data))
    expected = _damaged(files[1], f"record 5 at byte {position}: its {length} data bytes fail "
                                  "their checksum (damaged)")
    glob = f"{directory}/pretrain_data.tfrecord-*"
    with caplog.at_level(logging.ERROR, logger="pretrain"):
        assert cli.main(["evaluate", "--checkpoint", run, "--data", glob]) == 2
        assert cli.main(["train", "--data", glob, "--vocab", shards["vocab"], "--output", run,
                         "--train-steps", "40", *tiny]) == 2
    assert [r.getMessage() for r in caplog.records if r.name == "pretrain"] == [expected, expected]
