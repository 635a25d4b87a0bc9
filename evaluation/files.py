"""How the evaluation readers reach files.

A `Files` object has two methods: `read(path) -> bytes` (the whole file; FileNotFoundError when there is
none) and `exists(path) -> bool` (a file is there). The readers never open a file themselves, so the same
code reads local paths (`LOCAL`, the default), tf.io.gfile paths (local, gs://, ram://: `finetune.files.GFILE`,
built on `pretrain.files.read_bytes`) or Beam FileSystems paths
(`FileAccess(pipelines.common.read_bytes, FileSystems.exists)`), as `vocab.vocabulary.read_vocabulary` takes
its `read` callable.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Protocol


class Files(Protocol):
    """A file system as the readers use it."""

    def read(self, path: str) -> bytes:
        """The whole file; FileNotFoundError when it does not exist."""

    def exists(self, path: str) -> bool:
        """Whether a file is at `path`."""


@dataclasses.dataclass(frozen=True)
class FileAccess:
    """A `Files` made of two callables, e.g. `FileAccess(pretrain.files.read_bytes, tf.io.gfile.exists)`."""

    read: Callable[[str], bytes]
    exists: Callable[[str], bool]


def _read_local(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


LOCAL = FileAccess(_read_local, os.path.isfile)
"""Local paths (no gs://): Python's own open."""
