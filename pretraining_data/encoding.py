"""Segment pairs -> serialised `tf.train.Example` bytes and TFRecord framing, without TensorFlow.

`ExampleEncoder` produces exactly protobuf's deterministic serialisation of the `tf.train.Example` that
`pretraining_data.contract` specifies (checked in tests) at a fraction of its cost (one Python list -> proto
conversion per feature costs more than the whole encoding), and `frame_record` adds the TFRecord framing, so
shards can be written through Beam's file systems (which reach any Beam file system, a GCS emulator included;
TensorFlow's own GCS client cannot). `framing_problem` reads the framing back and says where it breaks.
"""
from __future__ import annotations

import struct
from typing import BinaryIO, Optional

import google_crc32c

from pretraining_data.packing import SegmentPair


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


HEADER_BYTES = 12  # the data length (uint64, little-endian) and its masked CRC-32C
FOOTER_BYTES = 4  # the data's masked CRC-32C


def framing_problem(handle: BinaryIO, size: int, near: Optional[int] = None) -> Optional[str]:
    """Where the TFRecord framing of a file of `size` bytes (read through `handle`, which can `seek`)
    breaks, as "record N at byte B ...", or None when every record is whole and passes its checksums.

    Without `near` every record's length and data checksums are checked (the whole file is read). With
    `near`, a byte offset TensorFlow reported ("corrupted record at 244"), the walk reads only the 12-byte
    headers of the records before it, checks the record that holds it and stops there.
    """
    if near is not None and near >= size:
        return None
    position = record = 0
    while position < size:
        handle.seek(position)
        header = handle.read(HEADER_BYTES)
        where = f"record {record} at byte {position}"
        if len(header) < HEADER_BYTES:
            return (f"{where} is cut off: the file ends {len(header)} bytes into its {HEADER_BYTES}-byte "
                    "header (a partial copy?)")
        if header[8:] != _masked_crc(header[:8]):
            return f"{where}: its length field fails its checksum (damaged, or not a TFRecord file)"
        length = struct.unpack("<Q", header[:8])[0]
        end = position + HEADER_BYTES + length + FOOTER_BYTES
        if end > size:
            return (f"{where} is cut off: it needs {end - position} bytes, the file ends after "
                    f"{size - position} (a partial copy?)")
        if near is None or near < end:
            data = handle.read(length)
            if handle.read(FOOTER_BYTES) != _masked_crc(data):
                return f"{where}: its {length} data bytes fail their checksum (damaged)"
            if near is not None:
                return None
        position, record = end, record + 1
    return None
