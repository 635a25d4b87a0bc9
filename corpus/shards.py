"""Output shards of the corpus: the seeded shuffle, the shard each document goes to, and the shard files' bytes.

A text shard is ELECTRA's input format: one sentence per line, a blank line between documents, no document
split across files. Its documents shard lists the same documents in the same order as JSON lines, each with
the text shard's name and the 1-based line its first sentence is on, so every line can be traced to a PMID or
PMCID. Both files are byte-for-byte reproducible (gzip without timestamp or name).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
from typing import BinaryIO, Iterable, NamedTuple, Optional

from corpus import compact
from corpus.assemble import CorpusDocument
from corpus.stats import add_document, empty_histograms

TEXT_DIR, DOCUMENTS_DIR = "text", "documents"
# zlib level 4 compresses a documents shard 2.5x faster than the default 6, into a file about 5% larger
# (measured on the 30 MB scale sample's 34 MB of JSON lines: 0.51 s and 11.9 MB against 1.26 s and 11.3 MB).
DOCUMENTS_GZIP_LEVEL = 4


def shuffle_key(seed: int, document_id: str) -> bytes:
    """The document's place in the seeded shuffle (and so its shard): a keyed hash of its id."""
    return hashlib.blake2b(document_id.encode("utf-8"), key=str(seed).encode("utf-8"), digest_size=8).digest()


def shard_count(total_bytes: int, target_shard_bytes: int) -> int:
    if target_shard_bytes < 1:
        raise ValueError(f"shard size must be positive, got {target_shard_bytes}")
    return max(1, math.ceil(total_bytes / target_shard_bytes))


def shard_index(key: bytes, num_shards: int) -> int:
    return int.from_bytes(key, "big") % num_shards


def shard_name(index: int, num_shards: int, suffix: str) -> str:
    return f"part-{index:05d}-of-{num_shards:05d}{suffix}"


def text_of(document: CorpusDocument) -> str:
    """The document's lines: one sentence each, no trailing newline."""
    return "\n".join(document.sentences())


def text_bytes(document: CorpusDocument) -> int:
    """UTF-8 size of the document in a text shard, with its separating blank line."""
    return len(text_of(document).encode("utf-8")) + 2


class Entry(NamedTuple):
    """A document on its way to its shard: the shuffle key, its sentence and word counts, its source, and the
    document itself as `pack` bytes, decoded only when its shard is written. Primitives only, so a
    shuffle moves it (and a local runner holds it) as a few objects and one compressed string, not as a
    document's hundreds of objects. A step in the shard writer that changes a document (the boilerplate lines)
    passes it on decoded, as `document`, rather than packing it again to have it unpacked at once."""

    key: bytes
    id: str
    sentences: int
    words: int
    source: str
    document: bytes | CorpusDocument


def pack(document: CorpusDocument) -> bytes:
    """The document as compact bytes (`CorpusDocument.to_bytes`, compressed with the dictionary trained on such
    documents, `compact.documents_codec`); `unpack` reads it back."""
    return compact.documents_codec().compress(document.to_bytes())


def unpack(data: bytes) -> CorpusDocument:
    return CorpusDocument.from_bytes(compact.documents_codec().decompress(data))


def entry(document: CorpusDocument, key: bytes, words: Optional[int] = None) -> Entry:
    """The document's entry under its shuffle key (`shuffle_key`); `words`: its `num_words`, where the caller
    has counted them."""
    words = document.num_words() if words is None else words
    return Entry(key, document.id, document.num_sentences(), words, document.source, pack(document))


class ShardSummary(NamedTuple):
    documents: int
    sentences: int
    text_bytes: int
    by_source: dict
    histograms: dict  # `corpus.stats` length histograms of the shard's documents


def in_order(entries: Iterable[tuple]) -> list[Entry]:
    """Entries (or plain tuples of an `Entry`'s fields) in a shard's order: by shuffle key, then id."""
    return sorted((Entry._make(item) for item in entries), key=lambda item: (item.key, item.id))


def write_shard(entries: Iterable[Entry], text_name: str, text_file: BinaryIO,
                documents_file: BinaryIO) -> ShardSummary:
    """The text shard and its gzipped documents shard, streamed to the two files from entries already in order
    (`in_order`): one document is decoded at a time (an entry may carry it decoded already), and counted into
    the shard's length histograms."""
    line = 1
    written = documents = sentences = 0
    by_source: dict = {}
    histograms = empty_histograms()
    with gzip.GzipFile(filename="", mode="wb", fileobj=documents_file, mtime=0,
                       compresslevel=DOCUMENTS_GZIP_LEVEL) as jsonl:
        for item in entries:
            document = item.document if isinstance(item.document, CorpusDocument) else unpack(item.document)
            add_document(histograms, document)
            text = ("\n\n" if documents else "") + text_of(document)
            data = text.encode("utf-8")
            text_file.write(data)
            written += len(data)
            record = document.to_dict()
            record["text_shard"] = text_name
            record["line"] = line
            jsonl.write((("\n" if documents else "") + json.dumps(record, ensure_ascii=False, sort_keys=True))
                        .encode("utf-8"))
            line += item.sentences + 1
            documents += 1
            sentences += item.sentences
            by_source[item.source] = by_source.get(item.source, 0) + 1
        if documents:
            text_file.write(b"\n")
            jsonl.write(b"\n")
            written += 1
    return ShardSummary(documents, sentences, written, by_source, histograms)


def render_shard(documents: Iterable[tuple[bytes, CorpusDocument]], text_name: str) -> tuple[bytes, bytes, int]:
    """(text shard bytes, gzipped documents shard bytes, number of documents) in memory, documents in
    shuffle-key order: what `write_shard` streams (for tests and benchmarks)."""
    entries = in_order(entry(document, key) for key, document in documents)
    text, jsonl = io.BytesIO(), io.BytesIO()
    summary = write_shard(entries, text_name, text, jsonl)
    return text.getvalue(), jsonl.getvalue(), summary.documents
