"""The evaluation readers' file access on the TF side: tf.io.gfile (local paths, gs://, ram://)."""

from __future__ import annotations

import tensorflow as tf

from evaluation.files import FileAccess
from pretrain.files import read_bytes

GFILE = FileAccess(read_bytes, tf.io.gfile.exists)
