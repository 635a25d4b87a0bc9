"""MinHash signatures over word shingles and the LSH banding that finds near-duplicate candidates.

The permutations are multiply-add-shift hashes `(a * h + b) mod 2^64 >> 32` of 32-bit shingle hashes (a
2-independent family, Dietzfelbinger 1996): the same guarantees as datasketch's `(a * h + b) mod (2^61 - 1)`
without a 64-bit modulo, which is most of the cost. a and b come from a seeded generator, so every worker of a
job computes the same signature for the same text. Shingle hashes are
built from CRC-32 word hashes, never from Python's `hash()`, which differs between processes.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from typing import Iterator, Sequence

import numpy as np

_SHIFT = np.uint64(32)
_MAX_UINT64 = np.iinfo(np.uint64).max
_WORD = re.compile(r"\w+")
# Odd 64-bit multipliers that mix the word hashes of a shingle into one value (wrapping arithmetic).
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
                 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x94D049BB133111EB, 0xBF58476D1CE4E5B9],
                dtype=np.uint64)
_CHUNK = 4096  # shingles per block: memory stays at num_perm * 4096 * 8 bytes for any document length


class WordHashes(dict):
    """A word hash, remembered: a corpus repeats its words, so most lookups are hits. `hash_word(str) -> int`;
    `array(words)` gives the hashes as uint64. At most `limit` words are held (tens of MB); then it starts again."""

    def __init__(self, hash_word, limit: int = 1 << 20):
        super().__init__()
        self._hash_word = hash_word
        self._limit = limit

    def __missing__(self, word: str) -> int:
        value = self[word] = self._hash_word(word)
        return value

    def array(self, words: Sequence[str]) -> np.ndarray:
        if len(self) > self._limit:
            self.clear()
        return np.fromiter(map(self.__getitem__, words), dtype=np.uint64, count=len(words))


_WORD_HASHES = WordHashes(lambda word: zlib.crc32(word.encode("utf-8")))


# `\w` among ASCII bytes: letters, digits and "_" stay, every other byte becomes a space (a bytes.translate table).
ASCII_WORD_BYTES = bytes(byte if chr(byte).isalnum() or byte == ord("_") else ord(" ") for byte in range(128)) + \
    b" " * 128


def normalised_words(text: str) -> list[str]:
    """The words of `text` after Unicode compatibility folding and case folding; punctuation is dropped."""
    if text.isascii():
        return _ascii_word_bytes(text).decode("ascii").split()
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def normalised_word_bytes(text: str) -> list[bytes]:
    """`normalised_words` as UTF-8 bytes; for ASCII text (most sentences) without ever making them strings."""
    if text.isascii():
        return _ascii_word_bytes(text).split()
    return [word.encode("utf-8") for word in normalised_words(text)]


def _ascii_word_bytes(text: str) -> bytes:
    # The words of ASCII text, 3x faster than the regex: NFKC leaves ASCII as it is, case folding ASCII is
    # lowering it, and `\w+` runs in ASCII are the runs of letters, digits and "_" that `ASCII_WORD_BYTES` keeps
    # (every other byte becomes a space).
    return text.encode("ascii").lower().translate(ASCII_WORD_BYTES)


def shingle_hashes(words: Sequence[str] | Sequence[bytes], size: int) -> np.ndarray:
    """32-bit hashes of every run of `size` consecutive words (one run for shorter texts; none for no words).
    The words are strings, or all their UTF-8 bytes (`normalised_word_bytes`), which hash to the same values."""
    if size < 1 or size > len(_MIX):
        raise ValueError(f"shingle size must be in 1..{len(_MIX)}, got {size}")
    if not words:
        return np.zeros(0, dtype=np.uint64)
    if isinstance(words[0], bytes):
        # CRC-32 straight from the bytes: in a running job, faster than looking a string up in `_WORD_HASHES`.
        word_hashes = np.fromiter(map(zlib.crc32, words), dtype=np.uint64, count=len(words))
    else:
        word_hashes = _WORD_HASHES.array(words)
    size = min(size, len(words))
    count = len(words) - size + 1
    mixed = np.zeros(count, dtype=np.uint64)
    # Wrapping uint64 arithmetic on arrays: NumPy neither warns nor raises on its overflow (only scalar
    # arithmetic does), so no errstate context (17 us a call) is needed here or in `signature`.
    for offset in range(size):
        mixed += word_hashes[offset:offset + count] * _MIX[offset]
    return mixed >> np.uint64(32)


class MinHasher:
    """MinHash signatures of `num_perm` 32-bit values; same seed, same signatures, on any worker."""

    def __init__(self, num_perm: int = 128, seed: int = 1):
        if num_perm < 2:
            raise ValueError(f"num_perm must be at least 2, got {num_perm}")
        generator = np.random.RandomState(seed)  # the legacy generator's stream is fixed across NumPy versions
        self.num_perm = num_perm
        self._a = generator.randint(0, 1 << 63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self._b = generator.randint(0, 1 << 63, size=num_perm, dtype=np.uint64)

    def signature(self, hashes: np.ndarray) -> np.ndarray:
        """The signature (uint32 array) of a set of shingle hashes; an empty set gives all-maximum values."""
        # The shift is monotonic, so the minimum is taken over the 64-bit values and shifted once, and the
        # products are computed in place: two passes over a block instead of five.
        signature = np.full(self.num_perm, _MAX_UINT64, dtype=np.uint64)
        block = np.empty((min(len(hashes), _CHUNK), self.num_perm), dtype=np.uint64)
        for start in range(0, len(hashes), _CHUNK):
            chunk = hashes[start:start + _CHUNK, np.newaxis]
            products = block[:len(chunk)]
            np.multiply(chunk, self._a, out=products)
            products += self._b
            np.minimum(signature, products.min(axis=0), out=signature)
        return (signature >> _SHIFT).astype(np.uint32)


def jaccard_estimate(first: np.ndarray, second: np.ndarray) -> float:
    """The fraction of equal signature positions: an unbiased estimate of the Jaccard similarity."""
    return float(np.count_nonzero(first == second)) / len(first)


def _area(values: np.ndarray, start: float, end: float) -> float:
    """Trapezoidal integral of values sampled evenly on [start, end]."""
    step = (end - start) / (len(values) - 1)
    return float((values[1:] + values[:-1]).sum() * step / 2.0)


def _false_positive_area(threshold: float, bands: int, rows: int) -> float:
    similarity = np.linspace(0.0, threshold, 513)
    return _area(1.0 - (1.0 - similarity ** rows) ** bands, 0.0, threshold)


def _false_negative_area(threshold: float, bands: int, rows: int) -> float:
    similarity = np.linspace(threshold, 1.0, 513)
    return _area((1.0 - similarity ** rows) ** bands, threshold, 1.0)


def lsh_parameters(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm that minimise the false positive plus false negative area.

    The same criterion as datasketch's MinHashLSH with equal weights: the probability that two documents
    share a band, 1 - (1 - s^rows)^bands, should be a step at the threshold.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    best, best_error = (1, num_perm), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            error = _false_positive_area(threshold, bands, rows) + _false_negative_area(threshold, bands, rows)
            if error < best_error:
                best, best_error = (bands, rows), error
    return best


_BAND_BYTES, _BAND_HASH_BYTES = 2, 8
BAND_KEY_BYTES = _BAND_BYTES + _BAND_HASH_BYTES  # a band key: the band's number, then its rows' hash


def band_keys(signature: np.ndarray, bands: int, rows: int) -> Iterator[bytes]:
    """One key per band: documents that share any key are near-duplicate candidates."""
    for band in range(bands):
        chunk = signature[band * rows:(band + 1) * rows]
        digest = hashlib.blake2b(chunk.tobytes(), digest_size=_BAND_HASH_BYTES).digest()
        yield band.to_bytes(_BAND_BYTES, "big") + digest
