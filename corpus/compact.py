"""Compact bytes for what a job holds or shuffles in bulk: Zstandard, one compressor per thread.

A local runner keeps every element between steps in memory, and a shuffle moves every byte; a document as one
compressed string costs a few objects and a fraction of its text, where its parsed form is a tree of hundreds of
objects several times its size. Level 3: on the scale benchmark's documents as small as zlib's level 1 at three
times its speed (~140 MB/s). Compression contexts are not safe to share between threads, and a runner may run
bundles in threads.

A document is a few KB, too little for Zstandard to learn its vocabulary from, so the corpus job's documents
(`corpus.shards.pack`) are compressed with a dictionary trained on documents like them: `corpus_documents.zdict`,
64 KB, trained on the bundled sample's corpus documents (`CorpusDocument.to_bytes`; regenerate with
`python -m corpus.compact --input 'out/demo/corpus/documents/*.jsonl.gz' --output corpus/corpus_documents.zdict`
after `make demo`). On held-out documents of the sample it takes a document from 0.49 to 0.35 of its bytes, on the
scale benchmark's from 0.56 to 0.41, and compresses faster. The dictionary only makes the bytes smaller: any
document compresses and decompresses exactly with it, and the compressed bytes never leave a job.
"""
from __future__ import annotations

if __name__ == "__main__":
    import sys

    from corpus.compact import main
    sys.exit(main())

import argparse
import functools
import threading
from importlib import resources
from typing import Optional

import zstandard

LEVEL = 3
DOCUMENTS_DICTIONARY = "corpus_documents.zdict"
DICTIONARY_BYTES = 64_000


class Codec:
    """Zstandard at `LEVEL`, with an optional dictionary; each thread gets its own contexts."""

    def __init__(self, dictionary: Optional[bytes] = None):
        self._dictionary = None
        if dictionary is not None:
            self._dictionary = zstandard.ZstdCompressionDict(dictionary)
            self._dictionary.precompute_compress(level=LEVEL)
        self._local = threading.local()

    def compress(self, data: bytes) -> bytes:
        compressor = getattr(self._local, "compressor", None)
        if compressor is None:
            compressor = self._local.compressor = zstandard.ZstdCompressor(level=LEVEL, dict_data=self._dictionary)
        return compressor.compress(data)

    def decompress(self, data: bytes) -> bytes:
        decompressor = getattr(self._local, "decompressor", None)
        if decompressor is None:
            decompressor = self._local.decompressor = zstandard.ZstdDecompressor(dict_data=self._dictionary)
        return decompressor.decompress(data)


_PLAIN = Codec()
compress = _PLAIN.compress
decompress = _PLAIN.decompress


@functools.lru_cache(maxsize=None)
def documents_codec() -> Codec:
    """The codec of the corpus job's documents, with the packaged dictionary (loaded once per process)."""
    return Codec(resources.files("corpus").joinpath(DOCUMENTS_DICTIONARY).read_bytes())


def train(samples: list[bytes], size: int = DICTIONARY_BYTES) -> bytes:
    """A Zstandard dictionary of `size` bytes for data like `samples` (the same samples give the same bytes)."""
    return zstandard.train_dictionary(size, samples, level=LEVEL).as_bytes()


def main(argv: Optional[list[str]] = None) -> int:
    import glob
    import gzip
    import json

    from corpus.assemble import CorpusDocument

    parser = argparse.ArgumentParser(
        prog="python -m corpus.compact",
        description="Train the dictionary that the corpus job compresses its documents with, on corpus "
                    "documents shards (the corpus job's documents/part-*.jsonl.gz).")
    parser.add_argument("--input", required=True, metavar="GLOB", help="documents shards, .jsonl.gz")
    parser.add_argument("--output", required=True, metavar="FILE", help="the dictionary file to write")
    parser.add_argument("--size", type=int, default=DICTIONARY_BYTES, help="dictionary bytes (default: %(default)s)")
    args = parser.parse_args(argv)
    paths = sorted(glob.glob(args.input))
    if not paths:
        parser.error(f"--input {args.input!r} matches no file")
    samples = []
    for path in paths:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            samples += [CorpusDocument.from_dict(json.loads(line)).to_bytes() for line in lines if line.strip()]
    data = train(samples, args.size)
    with open(args.output, "wb") as out:
        out.write(data)
    print(f"{args.output}: {len(data):,} bytes from {len(samples):,} documents of {len(paths)} file(s)")
    return 0
