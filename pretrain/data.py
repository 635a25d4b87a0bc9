"""The TFRecord contract (REFERENCE §3) on the reading side: checks and tf.data pipelines.

Shards `pretrain_data.tfrecord-SSSSS-of-NNNNN` hold `input_ids`, `input_mask`, `segment_ids`
(int64, length max_seq_length); `pretrain_data.json` beside them describes how they were built.
"""

from __future__ import annotations

import json
import logging
import posixpath

import tensorflow as tf

from pretrain.errors import PretrainError
from pretrain.vocabulary import Vocabulary

log = logging.getLogger(__name__)

DATA_INFO_FILENAME = "pretrain_data.json"
DATA_FORMAT = "electra-pretraining"
FEATURES = ("input_ids", "input_mask", "segment_ids")


class DataMismatchError(PretrainError):
    """The data cannot be read with this vocabulary or sequence length."""


def resolve_files(patterns: str) -> list[str]:
    """Expands comma-separated globs (local or gs://) into a sorted list of files."""
    files: list[str] = []
    for pattern in filter(None, (p.strip() for p in patterns.split(","))):
        matched = tf.io.gfile.glob(pattern)
        if not matched:
            raise FileNotFoundError(f"no file matches --data {pattern!r}")
        files.extend(m for m in matched if not m.endswith(DATA_INFO_FILENAME))
    if not files:
        raise FileNotFoundError(f"no data shard matches --data {patterns!r}")
    return sorted(set(files))


def read_data_info(files: list[str]) -> list[tuple[str, dict]]:
    """The `pretrain_data.json` of each directory holding shards; warns where one is absent."""
    infos = []
    for directory in sorted({posixpath.dirname(f) for f in files}):
        path = posixpath.join(directory, DATA_INFO_FILENAME)
        if not tf.io.gfile.exists(path):
            log.warning("%s not found: cannot check that the shards match the vocabulary, "
                        "casing and sequence length", path)
            continue
        with tf.io.gfile.GFile(path) as f:
            try:
                info = json.load(f)
            except json.JSONDecodeError as e:
                raise DataMismatchError(f"{path} is not valid JSON: {e}") from None
        if info.get("format") != DATA_FORMAT:
            raise DataMismatchError(f"{path}: format is {info.get('format')!r}, "
                                    f"expected {DATA_FORMAT!r}")
        infos.append((path, info))
    return infos


def check_data(files: list[str], vocab: Vocabulary, max_seq_length: int | None) -> int:
    """Checks the shards against the vocabulary and length; returns the sequence length.

    `max_seq_length=None` means "take it from the data". Every disagreement is a DataMismatchError
    naming both values: a silent mismatch trains a useless model or fails deep inside TensorFlow.
    """
    infos = read_data_info(files)
    for path, info in infos:
        if max_seq_length is None:
            max_seq_length = int(info["max_seq_length"])
        _expect(path, "max_seq_length", info.get("max_seq_length"), max_seq_length,
                "--max-seq-length", "data built at one length cannot be read at another")
        _expect(path, "vocab_size", info.get("vocab_size"), vocab.size,
                f"the {vocab.size} lines of {vocab.directory}/vocab.txt", "")
        _expect(path, "vocab_sha256", info.get("vocab_sha256"), vocab.sha256,
                f"the sha256 of {vocab.directory}/vocab.txt", "the data used another vocab.txt")
        _expect(path, "do_lower_case", info.get("do_lower_case"), vocab.do_lower_case,
                f"{vocab.directory}/tokenizer_config.json", "casing differs")
        _expect(path, "strip_accents", info.get("strip_accents"), vocab.strip_accents,
                f"{vocab.directory}/tokenizer_config.json (effective value)",
                "accent stripping differs")
    first = _first_example(files[0])
    length = len(first["input_ids"])
    if max_seq_length is None:
        max_seq_length = length
    if any(len(first[name]) != max_seq_length for name in FEATURES):
        raise DataMismatchError(
            f"{files[0]}: examples have length {length} but max_seq_length is {max_seq_length}")
    too_big = max(first["input_ids"])
    if too_big >= vocab.size:
        raise DataMismatchError(f"{files[0]}: token id {too_big} is outside the vocabulary "
                                f"of {vocab.size} tokens in {vocab.directory}/vocab.txt")
    return max_seq_length


def count_examples(files: list[str]) -> int | None:
    """num_examples from the data info files, when every directory has one."""
    infos = read_data_info(files)
    directories = {posixpath.dirname(f) for f in files}
    if len(infos) != len(directories):
        return None
    # Counts are per directory: only exact when the glob takes all of each directory's shards.
    total = 0
    for path, info in infos:
        directory = posixpath.dirname(path)
        in_glob = sum(1 for f in files if posixpath.dirname(f) == directory)
        if in_glob != int(info.get("num_shards", in_glob)):
            return None
        total += int(info["num_examples"])
    return total


def _expect(path: str, key: str, found, wanted, wanted_from: str, why: str) -> None:
    if found is None:
        log.warning("%s has no %r: not checked", path, key)
        return
    if found != wanted:
        reason = f" ({why})" if why else ""
        raise DataMismatchError(f"{path} says {key}={found!r} but {wanted_from} gives "
                                f"{wanted!r}{reason}")


def _first_example(path: str) -> dict[str, list[int]]:
    for record in tf.data.TFRecordDataset(path).take(1):
        example = tf.train.Example.FromString(record.numpy())
        missing = [n for n in FEATURES if n not in example.features.feature]
        if missing:
            raise DataMismatchError(f"{path}: examples lack the features {missing}")
        return {n: list(example.features.feature[n].int64_list.value) for n in FEATURES}
    raise DataMismatchError(f"{path} holds no example")


def _parse(max_seq_length: int):
    spec = {n: tf.io.FixedLenFeature([max_seq_length], tf.int64) for n in FEATURES}

    def parse(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        # Parsing whole batches is several times faster than one example at a time.
        parsed = tf.io.parse_example(serialized, spec)
        return {n: tf.cast(parsed[n], tf.int32) for n in FEATURES}

    return parse


def training_dataset(files: list[str], batch_size: int, max_seq_length: int, seed: int,
                     shuffle_buffer: int = 1000, cycle_length: int = 8) -> tf.data.Dataset:
    """Endless, shuffled, statically shaped global batches.

    Deterministic for a seed, so that its iterator (saved in each checkpoint) resumes exactly.
    """
    ds = tf.data.Dataset.from_tensor_slices(files)
    ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.interleave(lambda f: tf.data.TFRecordDataset(f, buffer_size=4 << 20),
                       cycle_length=min(cycle_length, len(files)), block_length=1,
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.shuffle(shuffle_buffer, seed=seed + 1, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=True)
    ds = ds.map(_parse(max_seq_length), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(files: list[str], batch_size: int, max_seq_length: int) -> tf.data.Dataset:
    """One pass in file order; the last batch is padded with empty rows (input_mask 0), which
    every metric ignores, so shapes stay static and no example is dropped."""
    ds = tf.data.TFRecordDataset(files, buffer_size=4 << 20)
    ds = ds.batch(batch_size).map(_parse(max_seq_length), num_parallel_calls=tf.data.AUTOTUNE)

    def pad(batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        missing = batch_size - tf.shape(batch["input_ids"])[0]
        return {n: tf.ensure_shape(tf.pad(t, [[0, missing], [0, 0]]), [batch_size, max_seq_length])
                for n, t in batch.items()}

    return ds.map(pad).prefetch(tf.data.AUTOTUNE)
