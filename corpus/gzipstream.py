"""A gzip stream read so that damage costs nothing before it: every byte decompressed before the damage is handed
out, then the stream ends (`read` returns b"") and `failure` says what broke and where.

Used by `corpus.xmlrecords` (PubMed files) and `corpus.pmc_bulk` (bulk packages) instead of `gzip.GzipFile`,
which loses data around the damage: it raises without handing out what the failing read decompressed, and
`io.BufferedReader` above it drops what it had gathered for that read. Here:

- a truncated stream (cut anywhere, also inside the 8-byte trailer) hands out every byte before the cut;
- a corrupt stream (a zlib error: bad block, bad CRC) hands out every byte zlib produced before the error: the
  failing input is decompressed again one byte at a time from a copy of the decompressor's state;
- several members (`cat a.gz b.gz`) are one stream, as gzip(1) reads them;
- zero bytes after a member (tape or block-device padding, some mirrors) are skipped and counted
  (`zero_padding`), as gzip(1) and Python's gzip module skip them; anything else after a member is a failure
  ("unexpected data after the end of the gzip stream"), after all the data before it.

Memory stays flat: the input is read in COMPRESSED_CHUNK_BYTES pieces and output is bounded by each `read`'s size.
"""
from __future__ import annotations

import zlib
from typing import BinaryIO, Optional

COMPRESSED_CHUNK_BYTES = 1 << 18
GZIP_MAGIC = b"\x1f\x8b"
_WBITS = 16 + zlib.MAX_WBITS  # zlib reads the gzip header and checks the CRC and length at each member's end
TRUNCATED = "truncated gzip stream (ends before its end-of-stream marker)"


class GunzipStream:
    """The decompressed bytes of the gzip file `raw` (a binary file object), as a readable file object.

    `head`: bytes already read from the start of `raw` (a caller that peeked at the magic number). After
    `read` returned b"", `failure` is None when the stream ended cleanly, else the reason, and `failure_offset`
    the byte offset in the compressed file where the damage was found.
    """

    def __init__(self, raw: BinaryIO, head: bytes = b""):
        self._raw = raw
        self._buf = head  # compressed bytes read but not yet consumed by a decompressor
        self._buf_offset = 0  # offset of _buf[0] in the compressed file
        self._decompressor = None  # the member's zlib.decompressobj; None: before or between members
        self._ended = False
        self._held = b""  # salvaged output beyond the size asked for
        self.members = 0  # complete members read
        self.zero_padding = 0  # zero bytes skipped after members
        self.output_bytes = 0  # decompressed bytes handed out
        self.failure: Optional[str] = None
        self.failure_offset: Optional[int] = None

    # -- the file object protocol (what tarfile's stream mode and xmlrecords use) --------------------------------

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all that is left when `size` < 0); b"" at the end or at the damage."""
        if size is None or size < 0:
            parts = []
            while part := self.read(1 << 20):
                parts.append(part)
            return b"".join(parts)
        if self._held:
            data, self._held = self._held[:size], self._held[size:]
        elif self._ended or size == 0:
            return b""
        else:
            data = self._gunzip(size)
        if not data:
            self._ended = True
        self.output_bytes += len(data)
        return data

    # -- internals -----------------------------------------------------------------------------------------------

    def _fail(self, reason: str, offset: int) -> bytes:
        self.failure, self.failure_offset = reason, offset
        self._buf = b""
        return b""

    def _fill(self) -> bool:
        """Make _buf non-empty unless the input is at its end (or unreadable: then `failure` is set)."""
        if not self._buf:
            try:
                self._buf = self._raw.read(COMPRESSED_CHUNK_BYTES)
            except OSError as exc:
                self._fail(f"read failed ({exc})", self._buf_offset)
                return False
        return bool(self._buf)

    def _gunzip(self, size: int) -> bytes:
        while self.failure is None:
            decompressor = self._decompressor
            if decompressor is None:  # before the first member, or between members
                if not self._start_member():
                    return b""
                decompressor = self._decompressor
            if not self._fill():
                return b"" if self.failure else self._fail(TRUNCATED, self._buf_offset)
            data = self._buf
            backup = decompressor.copy()  # ~40 kB of state per read: negligible next to the output
            try:
                output = decompressor.decompress(data, size)
            except zlib.error as exc:
                output = self._salvage(backup, data, exc)
                output, self._held = output[:size], output[size:]
                return output
            rest = decompressor.unused_data if decompressor.eof else decompressor.unconsumed_tail
            self._buf_offset += len(data) - len(rest)
            self._buf = rest
            if decompressor.eof:
                self.members += 1
                self._decompressor = None
            if output:
                return output
        return b""

    def _start_member(self) -> bool:
        """Skip zero padding after a member; True when another member starts here, False at the end."""
        while True:
            if not self._fill():
                if self.failure:
                    return False
                if self.members == 0:
                    self._fail("empty file (no gzip data)", 0)
                return False
            if self.members == 0:
                break  # padding only counts after a member: a file that starts with zeros is not gzip
            stripped = self._buf.lstrip(b"\0")
            skipped = len(self._buf) - len(stripped)
            self.zero_padding += skipped
            self._buf_offset += skipped
            self._buf = stripped
            if stripped:
                break
        if len(self._buf) < len(GZIP_MAGIC):
            try:
                self._buf += self._raw.read(COMPRESSED_CHUNK_BYTES)
            except OSError as exc:
                self._fail(f"read failed ({exc})", self._buf_offset + len(self._buf))
                return False
        if not self._buf.startswith(GZIP_MAGIC):
            if self.members == 0:
                self._fail(f"not gzip data (starts {self._buf[:16]!r})", 0)
            else:
                self._fail(f"unexpected data after the end of the gzip stream (starts {self._buf[:16]!r})",
                           self._buf_offset)
            return False
        self._decompressor = zlib.decompressobj(_WBITS)
        return True

    def _salvage(self, backup, data: bytes, error: zlib.error) -> bytes:
        """The output of `data` up to the byte where zlib fails, from the state before the failing call; then the
        stream ends with the failure. One byte at a time: slow, but only ever over one input chunk of a damaged
        file."""
        output = []
        for position in range(len(data)):
            try:
                output.append(backup.decompress(data[position : position + 1]))
            except zlib.error as exc:
                self._fail(f"corrupt gzip stream ({exc})", self._buf_offset + position)
                break
            if backup.eof:  # cannot happen (the failing call would have stopped here); kept safe anyway
                self.members += 1
                self._decompressor = None
                self._buf = backup.unused_data + data[position + 1 :]
                self._buf_offset += position + 1 - len(backup.unused_data)
                return b"".join(output)
        else:
            self._fail(f"corrupt gzip stream ({error})", self._buf_offset + len(data))
        return b"".join(output)
