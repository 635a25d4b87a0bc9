"""The on-disk contract of ELECTRA pretraining data, for its writer (`pipelines.tfrecords`) and its readers
(`pretrain`, tests, any tf.data user).

A data directory holds `pretrain_data.tfrecord-SSSSS-of-NNNNN` shards of `tf.train.Example`s with exactly three
features, `input_ids`, `input_mask` and `segment_ids`, each an int64 list of `max_seq_length` values laid out as
`[CLS] A [SEP] B [SEP] [PAD]...` (segment 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`, mask 1 on real tokens,
`[PAD]` = 0), and `pretrain_data.json`, which records how they were built (written last: its presence means
the shards are complete). Google's original ELECTRA reader (`FixedLenFeature([max_seq_length], tf.int64)`)
reads the shards unchanged, and so data built at one length cannot be read at another.

`check_metadata` is the one check of data against the length and vocabulary it is read with. `strict=True`
(the default) makes a missing `pretrain_data.json` or key an error; `strict=False` (pretraining, which also
accepts shards written by other tools such as the original ELECTRA script) warns and checks what is there.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Mapping, Optional

from vocab.vocabulary import SETTINGS as VOCAB_KEYS

log = logging.getLogger(__name__)

FORMAT = "electra-pretraining"
FEATURES = ("input_ids", "input_mask", "segment_ids")
METADATA_FILE = "pretrain_data.json"
SHARD_STEM = "pretrain_data.tfrecord"
# The keys pretraining reads; the writer adds more (counts of what was read, truncated, skipped).
METADATA_KEYS = (
    "format", "max_seq_length", "vocab_size", "vocab_sha256", "do_lower_case", "strip_accents",
    "num_examples", "num_tokens", "num_input_tokens", "num_truncated_tokens", "num_documents", "seed",
    "num_shards",
)


class DataMismatchError(ValueError):
    """Data that cannot be read as asked: another sequence length or vocabulary, or not this format."""


def shard_name(index: int, num_shards: int) -> str:
    return f"{SHARD_STEM}-{index:05d}-of-{num_shards:05d}"


def is_shard(name: str) -> bool:
    """Whether a file name (not a path) is a data shard, not the metadata or the errors file."""
    return name.startswith(SHARD_STEM + "-")


def build_metadata(max_seq_length: int, vocab: Mapping[str, Any], seed: int, num_shards: int,
                   counts: Mapping[str, int]) -> dict:
    """The `pretrain_data.json` contents; `vocab` is a vocabulary's `settings()`."""
    metadata = {"format": FORMAT, "max_seq_length": max_seq_length, "seed": seed, "num_shards": num_shards}
    metadata.update({key: vocab[key] for key in VOCAB_KEYS})
    metadata.update(counts)
    missing = [key for key in METADATA_KEYS if key not in metadata]
    if missing:
        raise ValueError(f"metadata lacks {missing}")
    return metadata


def parse_metadata(data: Optional[bytes], where: str, strict: bool = True) -> Optional[dict]:
    """`pretrain_data.json`'s contents (`data` None: the file is absent), or None where lenient allows it."""
    if data is None:
        message = (f"no {METADATA_FILE} in {where}: not written by pipelines.tfrecords, or the job has not "
                   f"finished")
        if strict:
            raise DataMismatchError(message)
        log.warning("%s; cannot check that the shards match the vocabulary, casing and sequence length", message)
        return None
    try:
        metadata = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataMismatchError(f"{where}/{METADATA_FILE} is not valid JSON: {err}") from None
    if not isinstance(metadata, dict):
        raise DataMismatchError(f"{where}/{METADATA_FILE} is not a JSON object")
    return metadata


def check_metadata(metadata: Mapping[str, Any], where: str, max_seq_length: Optional[int],
                   vocabulary: Optional[Mapping[str, Any]] = None, vocabulary_source: str = "the vocabulary",
                   strict: bool = True) -> int:
    """Raise DataMismatchError, naming both values, when the data cannot be read as asked; return its length.

    `max_seq_length` None means "take it from the data"; `vocabulary` is a vocabulary's `settings()`.
    """
    if metadata.get("format") != FORMAT:
        raise DataMismatchError(f"{where} is not ELECTRA pretraining data (format={metadata.get('format')!r} "
                                f"in its {METADATA_FILE})")
    missing = [key for key in METADATA_KEYS if key not in metadata]
    if missing:
        if strict:
            raise DataMismatchError(f"the {METADATA_FILE} of {where} lacks {missing}")
        log.warning("the %s of %s lacks %s: not checked", METADATA_FILE, where, missing)
    recorded = metadata.get("max_seq_length")
    if max_seq_length is None:
        if recorded is None:
            raise DataMismatchError(f"the {METADATA_FILE} of {where} does not say its max_seq_length")
        max_seq_length = int(recorded)
    if recorded is not None and recorded != max_seq_length:
        raise DataMismatchError(
            f"{where} was built with max_seq_length={recorded} but is being read with "
            f"max_seq_length={max_seq_length}: build data for {max_seq_length} (pipelines.tfrecords "
            f"--max-seq-length {max_seq_length}) or read it with {recorded}")
    if vocabulary is not None:
        conflicts = [f"{key}: data {metadata[key]!r}, vocabulary {vocabulary[key]!r}"
                     for key in VOCAB_KEYS if key in metadata and metadata[key] != vocabulary[key]]
        if conflicts:
            raise DataMismatchError(
                f"{where} was built with another vocabulary or casing than {vocabulary_source}: "
                + "; ".join(conflicts))
    return max_seq_length
