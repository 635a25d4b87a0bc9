"""Where a task's files are in a data directory, and reading one split of a task."""

from __future__ import annotations

import hashlib

from evaluation.files import LOCAL, Files
from evaluation.readers import READERS, decode, parse_tokens, read_bytes, read_relation
from evaluation.tasks import DataError, Example, Task, did_you_mean

# Tags of training files already read: {(path, digest of its bytes): tags}; reading dev needs them.
_TRAIN_TAGS: dict[tuple[str, bytes], frozenset[str]] = {}


def _key(path: str, data: bytes) -> tuple[str, bytes]:
    return path, hashlib.blake2b(data, digest_size=16).digest()


def _tags(examples: list[Example]) -> frozenset[str]:
    return frozenset(t for e in examples for t in e.label)


def train_tags(task: Task, data_dir: str, files: Files = LOCAL) -> frozenset[str]:
    """The tag set of a token task: the tags of its training file, as in BLURB."""
    path = task.path(data_dir, "train")
    try:
        data = files.read(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist: {task.name}'s tags are those of its "
                                "training file") from None
    key = _key(path, data)
    if key not in _TRAIN_TAGS:
        _TRAIN_TAGS[key] = _tags(parse_tokens(decode(data, path), path, task))
    return _TRAIN_TAGS[key]


def read_split(task: Task, data_dir: str, split: str, files: Files = LOCAL) -> list[Example]:
    """The examples of one split of `task` under a BLURB data directory. For token tasks, a tag
    of dev or test that the training file never has is an error (the training file is read too,
    once per process)."""
    path = task.path(data_dir, split)
    if task.head == "token":
        if split == "train":
            data = read_bytes(path, files)
            examples = parse_tokens(decode(data, path), path, task)
            _TRAIN_TAGS[_key(path, data)] = _tags(examples)
        else:
            tags = train_tags(task, data_dir, files)
            examples = parse_tokens(decode(read_bytes(path, files), path), path, task, tags,
                                    task.path(data_dir, "train"))
    elif task.reader == "relation":
        examples = read_relation(path, task.labels, files)
    else:
        examples = READERS[task.reader](path, files=files)
    if not examples:
        raise DataError(f"{path}: holds no example")
    if task.labels and task.head == "sequence":
        for example in examples:
            if example.label not in task.labels:
                raise DataError(f"{path}: {example.guid} has unknown label {example.label!r} "
                                f"(expected one of {', '.join(task.labels)})"
                                f"{did_you_mean(str(example.label), task.labels)}")
    return examples
