"""Inputs and checks shared by the TFRecords job's tests: real GENIA abstracts as text shards, real vocabularies."""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Sequence

import tensorflow as tf

from pipelines.common import write_vocabulary
from pretraining_data.contract import FEATURES
from tests.fixtures import BERT_VOCAB


def write_text_shards(directory: Path, documents: Sequence[Sequence[str]], num_files: int = 3) -> list[Path]:
    """The corpus job's format: a blank line between documents; the last file gzipped."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(num_files):
        text = "\n\n".join("\n".join(doc) for doc in documents[i::num_files]) + "\n"
        name = f"part-{i:05d}-of-{num_files:05d}.txt"
        if i == num_files - 1:
            path = directory / (name + ".gz")
            path.write_bytes(gzip.compress(text.encode()))
        else:
            path = directory / name
            path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def bert_tokens(size: int | None = None) -> list[str]:
    tokens = BERT_VOCAB.read_text(encoding="utf-8").splitlines()
    return tokens[:size] if size else tokens


def write_vocab(directory: Path | str, do_lower_case: bool = True, size: int | None = None) -> str:
    write_vocabulary(str(directory), bert_tokens(size), do_lower_case=do_lower_case, strip_accents=do_lower_case)
    return str(directory)


def read_records(pattern: str) -> list[bytes]:
    files = sorted(tf.io.gfile.glob(pattern))
    return [record.numpy() for record in tf.data.TFRecordDataset(files)]


def check_layout(record: bytes, max_seq_length: int, vocab_size: int, cls_id: int, sep_id: int
                 ) -> tuple[list[int], list[int]]:
    """Assert the feature contract (pretraining_data.contract) on one serialised example; return its segments
    A and B."""
    example = tf.train.Example.FromString(record)
    features = example.features.feature
    assert sorted(features) == sorted(FEATURES)
    for name in FEATURES:
        assert features[name].WhichOneof("kind") == "int64_list"
        assert len(features[name].int64_list.value) == max_seq_length
    ids, mask, segments = (list(features[name].int64_list.value) for name in FEATURES)
    length = sum(mask)
    assert mask == [1] * length + [0] * (max_seq_length - length)
    assert ids[length:] == [0] * (max_seq_length - length) and segments[length:] == [0] * (max_seq_length - length)
    assert ids[0] == cls_id and ids[length - 1] == sep_id
    separators = [i for i in range(length) if ids[i] == sep_id]
    assert len(separators) in (1, 2)
    first_end = separators[0]
    assert segments[: first_end + 1] == [0] * (first_end + 1)
    assert segments[first_end + 1: length] == [1] * (length - first_end - 1)
    assert all(0 < i < vocab_size and i not in (cls_id, sep_id) for i in ids[1:first_end] + ids[first_end + 1: length - 1])
    first, second = ids[1:first_end], ids[first_end + 1: length - 1]
    assert first and (len(separators) == 1) == (not second)
    return first, second
