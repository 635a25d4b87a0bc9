"""The on-disk contract of ELECTRA pretraining data (REFERENCE §3), for its writer and its readers.

A data directory holds `pretrain_data.tfrecord-SSSSS-of-NNNNN` shards of `tf.train.Example`s with exactly
three features, `input_ids`, `input_mask` and `segment_ids`, each an int64 list of `max_seq_length` values,
and `pretrain_data.json`, which records how they were built (written last: its presence means the shards
are complete). The original ELECTRA reader (`FixedLenFeature([max_seq_length], tf.int64)`) reads the shards.

Writing goes through plain bytes: `ExampleEncoder` produces exactly protobuf's deterministic serialisation of
the same `tf.train.Example` (checked in tests) at a fraction of its cost (one Python list -> proto conversion
per feature costs more than the whole encoding), and `frame_record` adds the TFRecord framing, so shards can
be written through Beam's filesystems (which reach a GCS emulator; TF's own GCS client cannot).
`read_examples` is the tf.data reader; it checks the metadata first.
"""
from __future__ import annotations

import json
import posixpath
import struct
from typing import Any, Mapping, Optional, Protocol

import google_crc32c
import tensorflow as tf

from corpus.packing import SegmentPair

FORMAT = "electra-pretraining"
FEATURES = ("input_ids", "input_mask", "segment_ids")
METADATA_FILE = "pretrain_data.json"
SHARD_STEM = "pretrain_data.tfrecord"
# The keys pretraining reads; the writer may add more.
METADATA_KEYS = (
    "format", "max_seq_length", "vocab_size", "vocab_sha256", "do_lower_case", "strip_accents",
    "num_examples", "num_tokens", "num_input_tokens", "num_truncated_tokens", "num_documents", "seed",
    "num_shards",
)
VOCAB_KEYS = ("vocab_size", "vocab_sha256", "do_lower_case", "strip_accents")


class DataMismatchError(ValueError):
    """Data read with a sequence length or vocabulary other than the one it was built with."""


def shard_name(index: int, num_shards: int) -> str:
    return f"{SHARD_STEM}-{index:05d}-of-{num_shards:05d}"


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return bytes((tag,)) + _varint(len(payload)) + payload


def _feature_entry(name: str, packed_values: bytes) -> bytes:
    """One `Features.feature` map entry holding an `Int64List` of already varint-encoded values."""
    feature = _field(0x1A, _field(0x0A, packed_values))  # Feature.int64_list { value (packed) }
    return _field(0x0A, _field(0x0A, name.encode()) + _field(0x12, feature))  # map entry {key, value}


class ExampleEncoder:
    """`SegmentPair` -> serialised `tf.train.Example` laid out as `[CLS] A [SEP] B [SEP] [PAD]...`.

    Ids are encoded through a table of their varint bytes; mask and segment ids are 0/1, one byte each, so
    only the length of the packed ids varies, and the framing around them is cached per length.
    """

    def __init__(self, max_seq_length: int, vocab_size: int, cls_id: int, sep_id: int, pad_id: int = 0):
        if pad_id != 0:
            raise ValueError(f"ELECTRA pads with id 0; this vocabulary's [PAD] has id {pad_id}")
        self.max_seq_length = max_seq_length
        self._varints = [_varint(i) for i in range(vocab_size)]
        self._cls = self._varints[cls_id]
        self._sep = self._varints[sep_id]
        # The entries for input_mask and segment_ids, split where their max_seq_length value bytes go.
        self._mask_head = _feature_entry("input_mask", bytes(max_seq_length))[:-max_seq_length]
        self._segments_head = _feature_entry("segment_ids", bytes(max_seq_length))[:-max_seq_length]
        self._heads: dict[int, bytes] = {}  # packed ids length -> everything before the packed ids

    def _head(self, ids_length: int) -> bytes:
        ids_entry = _feature_entry("input_ids", bytes(ids_length))[:-ids_length]
        features_length = (len(ids_entry) + ids_length + len(self._mask_head) + len(self._segments_head)
                           + 2 * self.max_seq_length)
        head = b"\x0a" + _varint(features_length) + ids_entry  # Example.features, then the ids entry
        self._heads[ids_length] = head
        return head

    def encode(self, pair: SegmentPair) -> bytes:
        varints = self._varints
        num_first = len(pair.first) + 2
        num_second = len(pair.second) + 1 if pair.second else 0
        padding = self.max_seq_length - num_first - num_second
        if padding < 0:
            raise ValueError(f"{num_first + num_second} tokens do not fit max_seq_length={self.max_seq_length}")
        parts = [self._cls, *map(varints.__getitem__, pair.first), self._sep]
        if num_second:
            parts += [*map(varints.__getitem__, pair.second), self._sep]
        parts.append(bytes(padding))  # [PAD] = 0, one byte each
        ids = b"".join(parts)
        head = self._heads.get(len(ids)) or self._head(len(ids))
        return b"".join((
            head, ids,
            self._mask_head, b"\x01" * (num_first + num_second), bytes(padding),
            self._segments_head, bytes(num_first), b"\x01" * num_second, bytes(padding),
        ))


def _masked_crc(data: bytes) -> bytes:
    crc = google_crc32c.value(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def frame_record(data: bytes) -> bytes:
    """One TFRecord: length, its masked CRC-32C, the data, the data's masked CRC-32C."""
    length = struct.pack("<Q", len(data))
    return length + _masked_crc(length) + data + _masked_crc(data)


def build_metadata(max_seq_length: int, vocab: Mapping[str, Any], seed: int, num_shards: int,
                   counts: Mapping[str, int]) -> dict:
    """The `pretrain_data.json` contents; `vocab` is `vocab.tokenizer.Tokenizer.settings()`."""
    metadata = {"format": FORMAT, "max_seq_length": max_seq_length, "seed": seed, "num_shards": num_shards}
    metadata.update({key: vocab[key] for key in VOCAB_KEYS})
    metadata.update(counts)
    missing = [key for key in METADATA_KEYS if key not in metadata]
    if missing:
        raise ValueError(f"metadata lacks {missing}")
    return metadata


class HasSettings(Protocol):
    def settings(self) -> dict: ...


def check_metadata(metadata: Mapping[str, Any], where: str, max_seq_length: int,
                   tokenizer: Optional[HasSettings] = None) -> None:
    """Raise DataMismatchError, naming both values, when the data cannot be read as asked."""
    if metadata.get("format") != FORMAT:
        raise DataMismatchError(f"{where} is not ELECTRA pretraining data (format={metadata.get('format')!r})")
    missing = [key for key in METADATA_KEYS if key not in metadata]
    if missing:
        raise DataMismatchError(f"the {METADATA_FILE} of {where} lacks {missing}")
    if metadata["max_seq_length"] != max_seq_length:
        raise DataMismatchError(
            f"{where} was built with max_seq_length={metadata['max_seq_length']} but is being read with "
            f"max_seq_length={max_seq_length}: build data for {max_seq_length} (pipelines.tfrecords "
            f"--max-seq-length {max_seq_length}) or read it with {metadata['max_seq_length']}"
        )
    if tokenizer is not None:
        settings = tokenizer.settings()
        conflicts = [f"{key}: data {metadata[key]!r}, vocabulary {settings[key]!r}"
                     for key in VOCAB_KEYS if metadata[key] != settings[key]]
        if conflicts:
            raise DataMismatchError(
                f"{where} was built with another vocabulary or casing than the one given: " + "; ".join(conflicts)
            )


def read_metadata(directory: str) -> dict:
    """`DIRECTORY/pretrain_data.json` (local, gs:// or any filesystem TF knows), with a clear error if absent."""
    path = f"{directory.rstrip('/')}/{METADATA_FILE}"
    if not tf.io.gfile.exists(path):
        raise DataMismatchError(
            f"no {METADATA_FILE} in {directory}: not written by pipelines.tfrecords, or the job has not finished"
        )
    with tf.io.gfile.GFile(path, "r") as handle:
        return json.load(handle)


def parse_spec(max_seq_length: int) -> dict:
    return {name: tf.io.FixedLenFeature([max_seq_length], tf.int64) for name in FEATURES}


def read_examples(file_pattern: str, max_seq_length: int, tokenizer: Optional[HasSettings] = None):
    """A `tf.data.Dataset` of `{input_ids, input_mask, segment_ids}` int64 tensors of `[max_seq_length]`.

    Every directory the pattern reaches must hold a `pretrain_data.json` that agrees with `max_seq_length`
    and, if a tokenizer (`vocab.tokenizer.Tokenizer`) is given, with its vocabulary and casing.
    """
    files = sorted(tf.io.gfile.glob(file_pattern))
    if not files:
        raise FileNotFoundError(f"no file matches {file_pattern!r}")
    for directory in sorted({posixpath.dirname(f) for f in files}):
        check_metadata(read_metadata(directory), directory, max_seq_length, tokenizer)
    spec = parse_spec(max_seq_length)
    return tf.data.TFRecordDataset(files).map(
        lambda record: tf.io.parse_single_example(record, spec), num_parallel_calls=tf.data.AUTOTUNE
    )
