"""The TensorFlow side's file I/O, all through `tf.io.gfile` (local, gs://, ram://): atomic writes (a
temporary name, then a rename, so a reader never sees half a file and a killed run leaves none) and reading a
vocabulary directory (parsed by `vocab.vocabulary`, the one definition of one)."""

from __future__ import annotations

import json

import tensorflow as tf

from vocab.vocabulary import Vocabulary, read_vocabulary as _read_vocabulary


def write_atomically(path: str, payload: bytes | str) -> None:
    mode = "wb" if isinstance(payload, bytes) else "w"
    with tf.io.gfile.GFile(path + ".tmp", mode) as f:
        f.write(payload)
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)


def copy_atomically(source: str, target: str) -> None:
    tf.io.gfile.copy(source, target + ".tmp", overwrite=True)
    tf.io.gfile.rename(target + ".tmp", target, overwrite=True)


def write_json(path: str, value: dict) -> None:
    write_atomically(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def read_bytes(path: str) -> bytes:
    """The whole file; FileNotFoundError when it does not exist."""
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(path)
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()


def read_vocabulary(directory: str) -> Vocabulary:
    """A vocabulary directory: a pretraining run's `vocab/`, the vocab job's output or a Hugging Face model
    directory (without `tokenizer_config.json` it is read as uncased, with a warning)."""
    return _read_vocabulary(directory, read_bytes, require_config=False)
