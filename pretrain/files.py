"""Writes through `tf.io.gfile` (local, gs://, ram://) under a temporary name, then a rename, so a
reader never sees half a file and a killed run leaves none."""

from __future__ import annotations

import json

import tensorflow as tf


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
