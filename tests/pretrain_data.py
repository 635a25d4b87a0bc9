"""Tiny, real pretraining data for the pretrain tests: GENIA abstracts (tests/data/genia-dev/raw),
a WordPiece vocabulary trained on them, and shards packed exactly as docs/tfrecords.md describes
(google-research/electra's ExampleBuilder), written through tf.io so `ram://` works too."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Sequence

import tensorflow as tf
from tokenizers import BertWordPieceTokenizer

from tests.fixtures import genia_documents

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def write_vocabulary(directory: str, documents: Sequence[Sequence[str]], vocab_size: int = 2000,
                     lowercase: bool = True) -> str:
    """Trains a WordPiece vocabulary ([PAD] = 0) and writes vocab.txt + tokenizer_config.json."""
    tokenizer = BertWordPieceTokenizer(lowercase=lowercase, strip_accents=lowercase)
    tokenizer.train_from_iterator((s for d in documents for s in d), vocab_size=vocab_size,
                                  min_frequency=2, special_tokens=SPECIAL_TOKENS)
    tokens = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(f"{directory}/vocab.txt", "w") as f:
        f.write("".join(token + "\n" for token, _ in tokens))
    with tf.io.gfile.GFile(f"{directory}/tokenizer_config.json", "w") as f:
        json.dump({"do_lower_case": lowercase, "strip_accents": lowercase,
                   "tokenize_chinese_chars": True}, f)
    return directory


def _tokenizer(vocab_dir: str, lowercase: bool) -> tuple[BertWordPieceTokenizer, dict[str, int]]:
    with tf.io.gfile.GFile(f"{vocab_dir}/vocab.txt") as f:
        vocab = {token: i for i, token in enumerate(f.read().splitlines())}
    return BertWordPieceTokenizer(vocab, lowercase=lowercase, strip_accents=lowercase), vocab


def build_examples(documents: Sequence[Sequence[str]], vocab_dir: str, max_seq_length: int,
                   seed: int = 0, lowercase: bool = True) -> list[dict[str, list[int]]]:
    """ELECTRA's packing: sentences fill an example up to a target length (5% of the time a
    random one); 10% single-segment, else A takes about half; an example never spans documents."""
    tokenizer, vocab = _tokenizer(vocab_dir, lowercase)
    rng = random.Random(seed)
    examples: list[dict[str, list[int]]] = []
    target = max_seq_length

    def emit(sentences: list[list[int]]) -> None:
        nonlocal target
        first_target = 100000 if rng.random() < 0.1 else (target - 3) // 2
        first: list[int] = []
        second: list[int] = []
        for sentence in sentences:
            if (not first or len(first) + len(sentence) < first_target
                    or (not second and len(first) < first_target and rng.random() < 0.5)):
                first += sentence
            else:
                second += sentence
        first = first[:max_seq_length - 2]
        second = second[:max(0, max_seq_length - len(first) - 3)]
        target = rng.randint(5, max_seq_length) if rng.random() < 0.05 else max_seq_length
        ids = [vocab["[CLS]"]] + first + [vocab["[SEP]"]]
        segments = [0] * len(ids)
        if second:
            ids += second + [vocab["[SEP]"]]
            segments += [1] * (len(second) + 1)
        mask = [1] * len(ids)
        padding = [0] * (max_seq_length - len(ids))
        examples.append({"input_ids": ids + padding, "input_mask": mask + padding,
                         "segment_ids": segments + padding})

    for document in documents:
        current: list[list[int]] = []
        length = 0
        for sentence in document:
            ids = tokenizer.encode(sentence, add_special_tokens=False).ids
            current.append(ids)
            length += len(ids)
            if length >= target:
                emit(current)
                current, length = [], 0
        if current:
            emit(current)
    return examples


def write_shards(directory: str, examples: list[dict[str, list[int]]], vocab_dir: str,
                 max_seq_length: int, num_shards: int = 4, seed: int = 0,
                 lowercase: bool = True, data_info: bool = True) -> str:
    """Shuffled examples round-robin into `pretrain_data.tfrecord-SSSSS-of-NNNNN` plus
    `pretrain_data.json`; returns the glob."""
    examples = list(examples)
    random.Random(seed).shuffle(examples)
    tf.io.gfile.makedirs(directory)
    writers = [tf.io.TFRecordWriter(
        f"{directory}/pretrain_data.tfrecord-{i:05d}-of-{num_shards:05d}")
        for i in range(num_shards)]
    for i, example in enumerate(examples):
        features = {k: tf.train.Feature(int64_list=tf.train.Int64List(value=v))
                    for k, v in example.items()}
        writers[i % num_shards].write(
            tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())
    for writer in writers:
        writer.close()
    if data_info:
        with tf.io.gfile.GFile(f"{vocab_dir}/vocab.txt", "rb") as f:
            raw = f.read()
        info = {"format": "electra-pretraining", "max_seq_length": max_seq_length,
                "vocab_size": len(raw.decode("utf-8").splitlines()),
                "vocab_sha256": hashlib.sha256(raw).hexdigest(), "do_lower_case": lowercase,
                "strip_accents": lowercase, "num_examples": len(examples),
                "num_tokens": sum(sum(e["input_mask"]) for e in examples), "seed": seed,
                "num_shards": num_shards}
        with tf.io.gfile.GFile(f"{directory}/pretrain_data.json", "w") as f:
            json.dump(info, f)
    return f"{directory}/pretrain_data.tfrecord-*"


def make_dataset(root: str, max_seq_length: int = 64, vocab_size: int = 2000,
                 held_out: int = 20) -> dict[str, str]:
    """Vocabulary + training shards + held-out shards under `root` (local path or ram://)."""
    documents = genia_documents()
    vocab_dir = write_vocabulary(f"{root}/vocab", documents, vocab_size)
    train = build_examples(documents[held_out:], vocab_dir, max_seq_length, seed=1)
    heldout = build_examples(documents[:held_out], vocab_dir, max_seq_length, seed=2)
    return {
        "vocab": vocab_dir,
        "train": write_shards(f"{root}/train", train, vocab_dir, max_seq_length, num_shards=4),
        "eval": write_shards(f"{root}/eval", heldout, vocab_dir, max_seq_length, num_shards=1),
    }


def read_scalars(directory: str) -> dict[str, dict[int, float]]:
    """TensorBoard scalars under `directory` as {tag: {step: value}}; later event files win,
    so a resumed run's values replace those of the run it resumed."""
    scalars: dict[str, dict[int, float]] = {}
    for path in sorted(tf.io.gfile.glob(f"{directory}/events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                scalars.setdefault(value.tag, {})[event.step] = float(
                    tf.make_ndarray(value.tensor))
    return scalars
