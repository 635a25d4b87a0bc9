"""One text file's lines -> tokenized, packed, keyed and encoded ELECTRA examples, with their counts.

Input: one sentence per line, a blank line between documents, a document never split across files (the corpus
job's text shards). Packing is `pretraining_data.packing` (ELECTRA's example builder); encoding is
`pretraining_data.encoding`. Sentences are tokenized many per call, and a document's sentences are fed to its
packer as their tokens arrive, so a document is never held whole.

Randomness is seeded per document from (seed, file label, document number), and each example gets a 64-bit key
from (seed, file label, document number, example number): the key picks its shard and its place in the shard,
so examples are shuffled across and within shards identically on every run and runner, without any step that
holds the corpus. The file label is the file's path below the inputs' common directory, so the same files give
the same data wherever they are (disk or bucket).
"""
from __future__ import annotations

import hashlib
import math
import posixpath
import random
from collections import Counter
from typing import TYPE_CHECKING, Iterable, Iterator, Optional

from pretraining_data.encoding import ExampleEncoder
from pretraining_data.packing import DocumentPacker, SegmentPair

if TYPE_CHECKING:
    from vocab.tokenizer import Tokenizer

# Counts kept per file, summed over the job into pretrain_data.json (and reported as counters by the job).
COUNTS = (
    "num_files", "num_failed_files", "num_documents", "num_incomplete_documents", "num_sentences",
    "num_invalid_utf8_lines", "num_input_tokens", "num_tokens", "num_truncated_tokens", "num_examples",
    "num_single_segment_examples", "num_short_target_examples", "num_text_bytes", "num_record_bytes",
    "num_lines_over_max_length",
)


def file_labels(paths: list[str]) -> list[tuple[str, str]]:
    """(label, path) per file; the label, its path below the inputs' common directory, names its documents
    in the random seeds, so that the same files give the same data wherever they are (disk or bucket)."""
    root = posixpath.dirname(posixpath.commonprefix(paths))
    return [(path[len(root):].lstrip("/"), path) for path in paths]


def example_key(seed: int, document: str, index: int) -> int:
    """The example's 64-bit shuffle key: uniform, and the same on every run for the same seed and input."""
    digest = hashlib.blake2b(f"{seed}/{document}/{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def shard_of(key: int, num_shards: int) -> int:
    """Shards hold consecutive key ranges: the examples of a bucket fall into one or a few shards."""
    return (key * num_shards) >> 64


class FileExamples:
    """One file's lines -> (key, serialised example)s, many sentences tokenized per call.

    Sentences are queued until `batch` are waiting, so documents are never held whole: a document's
    sentences are fed to its packer as their tokens arrive. Counts go to `counts` (see COUNTS).
    """

    def __init__(self, label: str, seed: int, max_seq_length: int, tokenizer: Tokenizer,
                 encoder: ExampleEncoder, batch: int, counts: Counter):
        self._label = label
        self._seed = seed
        self._max_seq_length = max_seq_length
        self._tokenizer = tokenizer
        self._encoder = encoder
        self._batch = batch
        self._counts = counts
        self._document = -1  # number of the document being packed, in this file
        self._name = ""  # f"{label}#{document}": names the document in seeds and keys
        self._packer: Optional[DocumentPacker] = None
        self._examples = 0  # examples of the current document so far
        self.ended_inside_document = False  # the last line was not followed by a blank line

    def examples(self, lines: Iterable[str]) -> Iterator[tuple[int, bytes]]:
        queue: list[Optional[str]] = []  # sentences, None where a document ends
        queued = 0
        document_open = False
        for text in lines:
            text = text.strip()
            if text:
                queue.append(text)
                queued += 1
                document_open = True
                if queued >= self._batch:
                    yield from self._pack(queue)
                    queue, queued = [], 0
            elif document_open:
                queue.append(None)
                document_open = False
        self.ended_inside_document = document_open
        if document_open:  # the end of the file ends its last document
            queue.append(None)
        yield from self._pack(queue)

    def _pack(self, queue: list[Optional[str]]) -> Iterator[tuple[int, bytes]]:
        texts = [item for item in queue if item is not None]
        token_ids = iter(self._tokenizer.encode_batch(texts))
        input_tokens = documents = 0
        pairs: list[SegmentPair] = []  # for the counts
        for item in queue:
            if item is None:
                pair = self._packer.finish()
                self._packer = None
                documents += 1
            else:
                if self._packer is None:
                    self._start_document()
                ids = next(token_ids)
                input_tokens += len(ids)
                pair = self._packer.add(ids)
            if pair is not None:
                pairs.append(pair)
                yield example_key(self._seed, self._name, self._examples), self._encoder.encode(pair)
                self._examples += 1
        counts = self._counts
        counts["num_sentences"] += len(texts)
        counts["num_documents"] += documents
        counts["num_input_tokens"] += input_tokens
        counts["num_examples"] += len(pairs)
        counts["num_tokens"] += sum(pair.num_tokens for pair in pairs)
        counts["num_truncated_tokens"] += sum(pair.num_truncated for pair in pairs)
        counts["num_single_segment_examples"] += sum(not pair.second for pair in pairs)
        counts["num_short_target_examples"] += sum(pair.target_length < self._max_seq_length for pair in pairs)

    def _start_document(self) -> None:
        self._document += 1
        self._name = f"{self._label}#{self._document}"
        self._examples = 0
        self._packer = DocumentPacker(self._max_seq_length, random.Random(f"{self._seed}/{self._name}"))


def sum_counts(parts: Iterable[dict]) -> dict:
    """The counts of many files added up (every name in COUNTS present)."""
    total = Counter({name: 0 for name in COUNTS})
    for part in parts:
        total.update(part)
    return dict(total)


def choose_num_shards(counts: dict, num_shards: int, target_shard_mb: float) -> int:
    """`num_shards` when given, else enough shards of about `target_shard_mb` MB for the bytes written."""
    if num_shards:
        return num_shards
    return max(1, math.ceil(counts["num_record_bytes"] / (target_shard_mb * 1e6)))
