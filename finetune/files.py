"""The evaluation readers' file access on the TF side: tf.io.gfile (local paths, gs://, ram://)."""

from __future__ import annotations

import tensorflow as tf

from evaluation.files import FileAccess
from pretrain.files import read_bytes


def _read(path: str) -> bytes:
    """The whole file; a file tf.io.gfile may not open is a PermissionError, as Python's open gives, so
    that the readers name it in one line (a restricted download, a bucket without read access)."""
    try:
        return read_bytes(path)
    except tf.errors.PermissionDeniedError:
        raise PermissionError(path) from None


GFILE = FileAccess(_read, tf.io.gfile.exists)
