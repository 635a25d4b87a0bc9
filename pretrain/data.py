"""Reading ELECTRA pretraining data with tf.data: the one reader of the feature spec.

The format and its checks are `pretraining_data.contract` (written by `pipelines.tfrecords`): shards
`pretrain_data.tfrecord-SSSSS-of-NNNNN` of `input_ids`, `input_mask`, `segment_ids` (int64, length
max_seq_length) and `pretrain_data.json` beside them. Everything here goes through `tf.io.gfile`, so local,
gs:// and ram:// paths all work.

A damaged shard makes TensorFlow raise `tf.errors.DataLossError` ("corrupted record at 244") deep in an
iterator, without naming the file: `explain_data_loss` turns it into a DataMismatchError naming the shard, the
record and its byte offset (catch the error around the iteration and raise its result); `verify_shards` checks
every shard before a run.
"""

from __future__ import annotations

import logging
import posixpath
import re

import tensorflow as tf

from pretrain.errors import PretrainError
from pretrain.files import read_bytes
from pretraining_data.contract import (FEATURES, METADATA_FILE, DataMismatchError, check_metadata, is_shard,
                                       parse_metadata)
from pretraining_data.encoding import framing_problem
from vocab.vocabulary import Vocabulary

log = logging.getLogger(__name__)


def resolve_files(patterns: str) -> list[str]:
    """Expands comma-separated globs (local or gs://) into a sorted list of shards (`pretrain_data.json` and
    the job's `errors/` beside them are left out)."""
    files: list[str] = []
    for pattern in filter(None, (p.strip() for p in patterns.split(","))):
        matched = tf.io.gfile.glob(pattern)
        if not matched:
            raise FileNotFoundError(f"no file matches {pattern!r}")
        for m in matched:
            name = posixpath.basename(m.rstrip("/"))
            if is_shard(name):
                files.append(m)
            elif not (name.startswith("pretrain_data.") or name == "errors"):
                if tf.io.gfile.isdir(m):
                    raise PretrainError(f"{m} is a directory: give its shards, e.g. "
                                        f"'{m.rstrip('/')}/pretrain_data.tfrecord-*'")
                files.append(m)
    if not files:
        raise FileNotFoundError(f"no data shard matches {patterns!r}")
    return sorted(set(files))


def read_data_info(files: list[str], strict: bool = False) -> list[tuple[str, dict]]:
    """(directory, its `pretrain_data.json`) for each directory holding shards; where one is absent, an error
    with `strict`, else a warning and no entry."""
    infos = []
    for directory in sorted({posixpath.dirname(f) for f in files}):
        try:
            data = read_bytes(posixpath.join(directory, METADATA_FILE))
        except FileNotFoundError:
            data = None
        info = parse_metadata(data, directory, strict)
        if info is not None:
            infos.append((directory, info))
    return infos


def check_metadata_of(files: list[str], vocab: Vocabulary | None, max_seq_length: int | None,
                      strict: bool) -> int | None:
    """`pretraining_data.contract.check_metadata` for every directory holding shards; returns the sequence
    length (None when no `pretrain_data.json` says it and none was asked for)."""
    settings = vocab.settings() if vocab is not None else None
    source = f"the vocabulary in {vocab.directory}" if vocab is not None else "the vocabulary"
    for directory, info in read_data_info(files, strict):
        max_seq_length = check_metadata(info, directory, max_seq_length, settings, source, strict)
    return max_seq_length


def check_data(files: list[str], vocab: Vocabulary | None, max_seq_length: int | None,
               strict: bool = False) -> int:
    """Checks the shards against the vocabulary and length; returns the sequence length.

    `max_seq_length=None` means "take it from the data". Every disagreement is a DataMismatchError
    naming both values: a silent mismatch trains a useless model or fails deep inside TensorFlow.
    Pretraining reads lenient by default (`strict=False`): shards written by other tools, without a
    `pretrain_data.json`, are checked only by their first example.
    """
    max_seq_length = check_metadata_of(files, vocab, max_seq_length, strict)
    first = _first_example(files[0])
    length = len(first["input_ids"])
    if max_seq_length is None:
        max_seq_length = length
    if any(len(first[name]) != max_seq_length for name in FEATURES):
        raise DataMismatchError(
            f"{files[0]}: examples have length {length} but max_seq_length is {max_seq_length}")
    too_big = max(first["input_ids"])
    if vocab is not None and too_big >= vocab.size:
        raise DataMismatchError(f"{files[0]}: token id {too_big} is outside the vocabulary "
                                f"of {vocab.size} tokens in {vocab.vocab_path}")
    return max_seq_length


def count_examples(files: list[str]) -> int | None:
    """num_examples from the data info files, when every directory has one."""
    infos = read_data_info(files)
    directories = {posixpath.dirname(f) for f in files}
    if len(infos) != len(directories):
        return None
    # Counts are per directory: only exact when the glob takes all of each directory's shards.
    total = 0
    for directory, info in infos:
        in_glob = sum(1 for f in files if posixpath.dirname(f) == directory)
        if in_glob != int(info.get("num_shards", in_glob)):
            return None
        total += int(info["num_examples"])
    return total


def _first_example(path: str) -> dict[str, list[int]]:
    try:
        records = list(tf.data.TFRecordDataset(path).take(1))
    except tf.errors.DataLossError as error:
        raise explain_data_loss(error, [path]) from None
    for record in records:
        example = tf.train.Example.FromString(record.numpy())
        missing = [n for n in FEATURES if n not in example.features.feature]
        if missing:
            raise DataMismatchError(f"{path}: examples lack the features {missing}")
        return {n: list(example.features.feature[n].int64_list.value) for n in FEATURES}
    raise DataMismatchError(f"{path} holds no example")


def shard_problem(path: str, near: int | None = None) -> str | None:
    """What breaks the TFRecord framing of one shard ("record N at byte B ..."), or None: every record's length
    and data checksum, or with `near` (a byte offset TensorFlow reported) only the record holding it."""
    with tf.io.gfile.GFile(path, "rb") as handle:
        return framing_problem(handle, handle.size(), near)


def _damaged(path: str, problem: str) -> DataMismatchError:
    return DataMismatchError(f"{path}: damaged TFRecord shard: {problem}; rebuild it (python -m pipelines.tfrecords) "
                             "or leave it out of --data")


def verify_shards(files: list[str]) -> None:
    """A pre-flight check: every record of every shard whole and passing its checksums (one read of all the
    data); a DataMismatchError naming the first damaged shard, record and byte offset."""
    for path in files:
        problem = shard_problem(path)
        if problem:
            raise _damaged(path, problem)
    log.info("verified the framing and checksums of %d shard(s)", len(files))


_DATA_LOSS_OFFSET = re.compile(r"(?:corrupted|truncated) record at (\d+)")


def explain_data_loss(error: tf.errors.DataLossError, files: list[str]) -> DataMismatchError:
    """The one-line error for a `tf.errors.DataLossError` raised while reading `files`: the damaged shard, record
    and byte offset. TensorFlow names only the offset, so the shards long enough to hold it are walked header to
    header up to it (cheap: 12 bytes a record), and all of them in full if that finds nothing. Call it only on
    failure, and raise what it returns (`raise explain_data_loss(error, files) from None`)."""
    found = _DATA_LOSS_OFFSET.search(str(error.message))
    near = int(found.group(1)) if found else None
    if near is not None:
        for path in files:
            if tf.io.gfile.stat(path).length > near:
                problem = shard_problem(path, near)
                if problem:
                    return _damaged(path, problem)
    for path in files:
        problem = shard_problem(path)
        if problem:
            return _damaged(path, problem)
    reported = str(error.message).split(" [Op:")[0].split("}} ")[-1].strip()
    return DataMismatchError(f"TensorFlow lost data reading {len(files)} shard(s) ({reported}), but every record of "
                             f"{', '.join(files[:3])}{' ...' if len(files) > 3 else ''} is whole and passes its "
                             "checksums now: a read that failed in transit? Run again")


def feature_spec(max_seq_length: int) -> dict[str, tf.io.FixedLenFeature]:
    """The `tf.io.parse_example` spec of the three features (what Google's original ELECTRA reader uses)."""
    return {name: tf.io.FixedLenFeature([max_seq_length], tf.int64) for name in FEATURES}


def read_examples(file_pattern: str, max_seq_length: int, vocab: Vocabulary | None = None,
                  strict: bool = True, verify: bool = False) -> tf.data.Dataset:
    """A `tf.data.Dataset` of `{input_ids, input_mask, segment_ids}` int64 tensors of `[max_seq_length]`,
    one per example in file order, after the metadata checks (strict by default: every directory must hold a
    `pretrain_data.json` that agrees with `max_seq_length` and, when given, the vocabulary). `verify` first
    checks every record's framing (`verify_shards`); otherwise a damaged shard raises DataLossError while
    iterating: `explain_data_loss(error, resolve_files(file_pattern))` names it."""
    files = resolve_files(file_pattern)
    check_metadata_of(files, vocab, max_seq_length, strict)
    if verify:
        verify_shards(files)
    spec = feature_spec(max_seq_length)
    return tf.data.TFRecordDataset(files).map(
        lambda record: tf.io.parse_single_example(record, spec), num_parallel_calls=tf.data.AUTOTUNE)


def _parse(max_seq_length: int):
    spec = feature_spec(max_seq_length)

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


def input_pipelines(strategy: tf.distribute.Strategy) -> int:
    """How many hosts feed the strategy's replicas: a TPU pod slice's hosts, a multi-worker cluster's
    workers; 1 on one machine."""
    extended = strategy.extended
    hosts = getattr(extended, "num_hosts", None)  # TPUStrategy
    if hosts is None:
        hosts = getattr(extended, "_num_workers", 1)  # MultiWorkerMirroredStrategy
    return max(1, int(hosts))


def host_files(files: list[str], context: tf.distribute.InputContext) -> list[str]:
    """The shards one host reads: every `num_input_pipelines`-th of the sorted list, from its
    `input_pipeline_id`, so hosts read disjoint shards that together are all of them."""
    mine = files[context.input_pipeline_id::context.num_input_pipelines]
    if not mine:
        raise PretrainError(f"{len(files)} shard(s) for {context.num_input_pipelines} hosts: every host "
                            f"needs at least one (build the data with more --num-shards)")
    return mine


def host_training_dataset(files: list[str], global_batch_size: int, max_seq_length: int, seed: int,
                          context: tf.distribute.InputContext,
                          shuffle_buffer: int = 1000) -> tf.data.Dataset:
    """One host's part of the input on a pod (for `strategy.distribute_datasets_from_function`): its own
    shards (`host_files`), batched per replica, so the global batch is split across hosts and no host
    reads another's data. Each host shuffles with its own seed."""
    if global_batch_size % context.num_replicas_in_sync:
        raise PretrainError(f"--batch-size {global_batch_size} is not divisible by the "
                            f"{context.num_replicas_in_sync} replicas")
    return training_dataset(host_files(files, context), context.get_per_replica_batch_size(global_batch_size),
                            max_seq_length, seed + 7919 * context.input_pipeline_id, shuffle_buffer)


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
