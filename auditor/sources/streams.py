"""Streams a layer blob passes through, whatever source it comes from (a registry, an archive, a
layout): a hashing reader (for the digest of what was read) and a decompressor (gzip or zstd,
found from the first bytes), each reading a little at a time."""

from __future__ import annotations

import bz2
import hashlib
import io
import lzma
import queue
import threading
import zlib
from typing import Any

import zstandard

from auditor.errors import ArchiveError
from auditor.sources.layers import ZSTD_MAGIC, Readable, read_into

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
# bzip2: "BZh", the block size, then the first block's magic (the digits of pi), so that a plain
# tar whose first name begins "BZh" is not taken for one
_BZIP2 = (b"BZh", b"\x31\x41\x59\x26\x53\x59")
_XZ_MAGIC = b"\xfd7zXZ\x00"
_LZMA_ALONE = b"\x5d\x00\x00"  # the legacy .lzma header: lc=3 lp=0 pb=2, then the dictionary
_SNIFFED = 10  # bytes read to tell the format
# chunks a background hasher may hold before the reader waits for it
_QUEUED = 8


def hasher(digest: str) -> Any:
    """A hashlib object for a digest's algorithm (sha256 or sha512); ValueError for another
    (callers check with is_digest first)."""
    algorithm = digest.partition(":")[0]
    if algorithm not in ("sha256", "sha512"):
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return hashlib.new(algorithm)


class HashingReader(io.RawIOBase):
    """Passes a stream through, hashing every byte read with the algorithm of `digest`.

    With `background`, the hashing runs on a thread of its own (hashlib lets go of the GIL), so
    verifying a layer costs little more time than scanning it; close() (or `digest`) ends it.
    """

    def __init__(self, source: Readable, digest: str, *, background: bool = False) -> None:
        self._source = source
        self.expected = digest
        self._hash = hasher(digest)
        self._queue: queue.Queue[bytes | None] | None = None
        self._worker: threading.Thread | None = None
        if background:
            self._queue = queue.Queue(_QUEUED)
            self._worker = threading.Thread(target=self._run, name="imgaudit-hash", daemon=True)
            self._worker.start()

    def _run(self) -> None:
        assert self._queue is not None
        while (chunk := self._queue.get()) is not None:
            self._hash.update(chunk)

    def _finish(self) -> None:
        if self._queue is not None and self._worker is not None:
            self._queue.put(None)
            self._worker.join()
            self._queue = self._worker = None

    def close(self) -> None:
        self._finish()
        super().close()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = read_into(self._source, view)
        if count:
            if self._queue is not None:
                self._queue.put(bytes(view[:count]))
            else:
                self._hash.update(view[:count])
        return count

    def drain(self) -> None:
        scratch = bytearray(CHUNK)
        while self.readinto(scratch):
            pass

    @property
    def digest(self) -> str:
        self._finish()
        return f"{self.expected.partition(':')[0]}:{self._hash.hexdigest()}"


class _Gunzip(io.RawIOBase):
    """gzip, one member after another (pigz and some tools write several), via zlib."""

    def __init__(self, source: Readable, label: str) -> None:
        self._source = source
        self._label = label
        self._inflate: Any = zlib.decompressobj(31)  # None between members
        self._carry = b""  # input read past the end of the last member
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending:
            if self._inflate is None:
                data, self._carry = self._carry or self._source.read(CHUNK), b""
                if not data:
                    return 0
                if not data.strip(b"\0"):
                    continue  # zero padding after the last member (some writers add it)
                self._inflate = zlib.decompressobj(31)
            else:
                data = self._inflate.unconsumed_tail or self._source.read(CHUNK)
                if not data:
                    raise ArchiveError(f"{self._label} ends inside its gzip stream (truncated)")
            try:
                self._pending = self._inflate.decompress(data, CHUNK)
            except zlib.error as exc:
                raise ArchiveError(f"{self._label} is not valid gzip ({exc})") from exc
            if self._inflate.eof:
                self._carry, self._inflate = self._inflate.unused_data, None
        count = min(len(view), len(self._pending))
        view[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


class _Unzstd(io.RawIOBase):
    def __init__(self, source: Readable, label: str) -> None:
        self._label = label
        self._reader = zstandard.ZstdDecompressor().stream_reader(
            source, read_size=CHUNK, read_across_frames=True  # type: ignore[arg-type]
        )

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return int(self._reader.readinto(buffer))
        except zstandard.ZstdError as exc:
            raise ArchiveError(f"{self._label} is not valid zstd ({exc})") from exc


class _Library(io.RawIOBase):
    """A stream the standard library decompresses (bz2, lzma), its errors one ArchiveError."""

    def __init__(self, reader: bz2.BZ2File | lzma.LZMAFile, label: str, what: str) -> None:
        self._reader, self._label, self._what = reader, label, what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return self._reader.readinto(buffer)
        except EOFError as exc:
            raise ArchiveError(f"{self._label} ends inside its {self._what} stream "
                               "(truncated)") from exc
        except (OSError, lzma.LZMAError) as exc:
            raise ArchiveError(f"{self._label} is not valid {self._what} ({exc})") from exc


class _Peeked(io.RawIOBase):
    """A stream whose first bytes were read to sniff its format, put back in front."""

    def __init__(self, head: bytes, source: Readable) -> None:
        self._head = head
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            count = min(len(view), len(self._head))
            view[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        return read_into(self._source, view)


def is_plain(stream: io.RawIOBase) -> bool:
    """Whether decompressed() found the stream not compressed: its bytes are the tar itself."""
    return isinstance(stream, _Peeked)


def decompressed(source: Readable, label: str) -> io.RawIOBase:
    """The tar inside a layer blob, compressed with gzip, zstd, bzip2, xz or lzma, or not.

    The bytes tell, not the media type: some tools label a gzip layer as plain tar.
    """
    head = b""
    while len(head) < _SNIFFED:
        more = source.read(_SNIFFED - len(head))
        if not more:
            break
        head += more
    peeked = _Peeked(head, source)
    if head.startswith(GZIP_MAGIC):
        return _Gunzip(peeked, label)
    if head.startswith(ZSTD_MAGIC):
        return _Unzstd(peeked, label)
    if head[:3] == _BZIP2[0] and head[3:4].isdigit() and head[4:10] == _BZIP2[1]:
        return _Library(bz2.BZ2File(io.BufferedReader(peeked)), label, "bzip2")
    if head.startswith(_XZ_MAGIC) or head.startswith(_LZMA_ALONE):
        return _Library(lzma.LZMAFile(io.BufferedReader(peeked)), label, "xz or lzma")
    return peeked
