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
from typing import Iterable

from corpus.assemble import CorpusDocument

TEXT_DIR, DOCUMENTS_DIR = "text", "documents"


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


def render_shard(documents: Iterable[tuple[bytes, CorpusDocument]], text_name: str) -> tuple[bytes, bytes, int]:
    """(text shard bytes, gzipped documents shard bytes, number of documents), documents in shuffle-key order."""
    ordered = sorted(documents, key=lambda item: (item[0], item[1].id))
    blocks, lines, line = [], [], 1
    for _, document in ordered:
        text = text_of(document)
        blocks.append(text)
        record = document.to_dict()
        record["text_shard"] = text_name
        record["line"] = line
        lines.append(json.dumps(record, ensure_ascii=False, sort_keys=True))
        line += document.num_sentences() + 1
    text = ("\n\n".join(blocks) + "\n") if blocks else ""
    raw = ("\n".join(lines) + "\n") if lines else ""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=6) as handle:
        handle.write(raw.encode("utf-8"))
    return text.encode("utf-8"), buffer.getvalue(), len(ordered)
