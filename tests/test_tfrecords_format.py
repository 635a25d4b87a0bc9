"""The on-disk contract without Beam: our Example bytes and TFRecord framing are TensorFlow's, byte for byte."""
from __future__ import annotations

import json
import random

import pytest
import tensorflow as tf

from pretrain.data import read_examples
from pretraining_data.contract import METADATA_FILE, DataMismatchError, build_metadata, check_metadata
from pretraining_data.encoding import ExampleEncoder, frame_record
from pretraining_data.packing import SegmentPair, layout, pack_document
from tests.fixtures import BERT_VOCAB, genia_documents
from tests.reference_electra import FullTokenizer

CLS, SEP = 101, 102


@pytest.fixture(scope="module")
def pairs() -> list[tuple[int, SegmentPair]]:
    """(max_seq_length, pair) for real GENIA abstracts packed at three lengths."""
    tokenizer = FullTokenizer(str(BERT_VOCAB))
    docs = [[tokenizer.convert_tokens_to_ids(tokenizer.tokenize(s)) for s in doc] for doc in genia_documents()[:40]]
    rng = random.Random(0)
    return [(length, pair) for length in (8, 128, 512) for doc in docs for pair in pack_document(doc, length, rng)]


def tf_example(pair: SegmentPair, max_seq_length: int) -> tf.train.Example:
    ids, mask, segments = layout(pair, max_seq_length, CLS, SEP)
    feature = lambda values: tf.train.Feature(int64_list=tf.train.Int64List(value=values))  # noqa: E731
    return tf.train.Example(features=tf.train.Features(feature={
        "input_ids": feature(ids), "input_mask": feature(mask), "segment_ids": feature(segments)}))


def test_encoder_writes_protobufs_deterministic_serialisation(pairs):
    encoders = {length: ExampleEncoder(length, 30522, CLS, SEP) for length in (8, 128, 512)}
    for length, pair in pairs:
        assert encoders[length].encode(pair) == tf_example(pair, length).SerializeToString(deterministic=True)


@pytest.mark.slow
def test_encoder_covers_every_varint_width():
    encoder = ExampleEncoder(16, 3_000_000, CLS, SEP)
    pair = SegmentPair([0, 1, 127, 128, 16383, 16384], [2_097_151, 2_097_152, 2_999_999], 0, 16)
    assert encoder.encode(pair) == tf_example(pair, 16).SerializeToString(deterministic=True)
    with pytest.raises(ValueError, match="do not fit"):
        encoder.encode(SegmentPair(list(range(14)), [1], 0, 16))
    with pytest.raises(ValueError, match="pads with id 0"):
        ExampleEncoder(16, 100, CLS, SEP, pad_id=3)


def test_framing_is_tfrecordwriters_and_tf_checks_its_crcs(pairs, tmp_path):
    encoder = ExampleEncoder(128, 30522, CLS, SEP)
    records = [encoder.encode(pair) for length, pair in pairs if length == 128]
    ours = tmp_path / "ours.tfrecord"
    ours.write_bytes(b"".join(frame_record(r) for r in records))
    theirs = tmp_path / "theirs.tfrecord"
    with tf.io.TFRecordWriter(str(theirs)) as writer:
        for record in records:
            writer.write(record)
    assert ours.read_bytes() == theirs.read_bytes()
    assert [r.numpy() for r in tf.data.TFRecordDataset(str(ours))] == records

    damaged = bytearray(ours.read_bytes())
    damaged[40] ^= 0xFF  # inside the first record's data
    (tmp_path / "damaged.tfrecord").write_bytes(bytes(damaged))
    with pytest.raises(tf.errors.DataLossError):
        list(tf.data.TFRecordDataset(str(tmp_path / "damaged.tfrecord")))


VOCAB = {"vocab_size": 30522, "vocab_sha256": "ab" * 32, "do_lower_case": True, "strip_accents": True}


def test_metadata_checks_name_both_values(tmp_path):
    counts = {"num_examples": 0, "num_tokens": 0, "num_input_tokens": 0, "num_truncated_tokens": 0,
              "num_documents": 0}
    metadata = build_metadata(128, VOCAB, seed=1, num_shards=1, counts=counts)
    check_metadata(metadata, "data", 128, VOCAB)
    with pytest.raises(DataMismatchError, match="max_seq_length=128 but is being read with max_seq_length=512"):
        check_metadata(metadata, "data", 512)
    with pytest.raises(DataMismatchError, match="do_lower_case: data True, vocabulary False"):
        check_metadata(metadata, "data", 128, {**VOCAB, "do_lower_case": False})
    with pytest.raises(DataMismatchError, match="not ELECTRA pretraining data"):
        check_metadata({**metadata, "format": "bert"}, "data", 128)
    with pytest.raises(DataMismatchError, match=r"lacks \['num_shards'\]"):
        check_metadata({k: v for k, v in metadata.items() if k != "num_shards"}, "data", 128)
    with pytest.raises(ValueError, match="lacks"):
        build_metadata(128, VOCAB, seed=1, num_shards=1, counts={})

    (tmp_path / "pretrain_data.tfrecord-00000-of-00001").write_bytes(b"")
    with pytest.raises(DataMismatchError, match=f"no {METADATA_FILE}"):
        read_examples(f"{tmp_path}/pretrain_data.tfrecord-*", 128)
    (tmp_path / METADATA_FILE).write_text(json.dumps(metadata))
    assert list(read_examples(f"{tmp_path}/pretrain_data.tfrecord-*", 128)) == []
    with pytest.raises(FileNotFoundError, match="no file matches"):
        read_examples(f"{tmp_path}/nothing-*", 128)
