"""Compact bytes for what a job holds or shuffles in bulk: Zstandard, one compressor per thread.

A local runner keeps every element between steps in memory, and a shuffle moves every byte; a document as one
compressed string costs a few objects and about half its text, where its parsed form is a tree of hundreds of
objects several times its size. Level 3: on the scale benchmark's documents as small as zlib's level 1 (0.6 of
the text, whose resampled words compress less than real text) at three times its speed (~140 MB/s).
Compression contexts are not safe to share between threads, and a runner may run bundles in threads.
"""
from __future__ import annotations

import threading

import zstandard

LEVEL = 3
_LOCAL = threading.local()


def compress(data: bytes) -> bytes:
    compressor = getattr(_LOCAL, "compressor", None)
    if compressor is None:
        compressor = _LOCAL.compressor = zstandard.ZstdCompressor(level=LEVEL)
    return compressor.compress(data)


def decompress(data: bytes) -> bytes:
    decompressor = getattr(_LOCAL, "decompressor", None)
    if decompressor is None:
        decompressor = _LOCAL.decompressor = zstandard.ZstdDecompressor()
    return decompressor.decompress(data)
