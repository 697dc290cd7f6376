"""Streams a layer blob or an archive passes through, whatever source it comes from (a registry, an
archive, a layout, the engine's export): a hashing reader (for the digest of what was read) and the
one decompressor (gzip, zstd, bzip2, xz or lzma, found from the first bytes), each reading a
little at a time, so that memory does not grow with what a stream holds or expands to."""

from __future__ import annotations

import bz2
import hashlib
import io
import lzma
import queue
import threading
from typing import Any, Protocol, cast

import zstandard
from isal import isal_zlib

from auditor.errors import ArchiveError


class Readable(Protocol):
    """Anything with read(size): a file, a tar member, a response stream."""

    def read(self, size: int = -1, /) -> bytes: ...


def read_into(source: Readable, view: memoryview) -> int:
    """Fills view from source without a copy when it can readinto; the byte count (0 at end)."""
    readinto = getattr(source, "readinto", None)
    if readinto is not None:
        return int(readinto(view) or 0)
    data = source.read(len(view))
    view[: len(data)] = data
    return len(data)


CHUNK = 1 << 20
# What inflating bad gzip raises (python-isal's stubs type it as an instance, not the class).
_INFLATE_ERROR = cast("type[Exception]", isal_zlib.error)
# gzip input is fed this much at a time: zeros expand ~1000x, and what one call leaves unconsumed
# is copied whole by the inflater on each call
_GZIP_INPUT = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# bzip2: "BZh", the block size, then the first block's magic (the digits of pi)
_BZIP2 = (b"BZh", b"\x31\x41\x59\x26\x53\x59")
_XZ_MAGIC = b"\xfd7zXZ\x00"
_LZMA_ALONE = b"\x5d\x00\x00"  # the legacy .lzma header: lc=3 lp=0 pb=2, then the dictionary
SNIFFED = 10  # bytes read to tell the format
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


class _Decompressor(io.RawIOBase):
    """What every decompressor is: a raw stream of the bytes its source expands to."""

    what = ""  # the format, as compression() names it

    def readable(self) -> bool:
        return True


class _Gunzip(_Decompressor):
    what = "gzip"

    """gzip, one member after another (pigz, estargz and some tools write several), via ISA-L
    (python-isal: zlib's interface, ~3x zlib's speed at inflating).

    Input is fed a little at a time, so a block that expands a thousandfold (zeros) leaves a
    small unconsumed tail to carry; output leaves as the reader asks, never copied twice."""

    def __init__(self, source: Readable, label: str) -> None:
        self._source = source
        self._label = label
        self._inflate: Any = isal_zlib.decompressobj(31)  # None between members
        self._carry = b""  # input read past the end of the last member
        self._pending = memoryview(b"")

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending:
            if self._inflate is None:
                data, self._carry = self._carry or self._source.read(_GZIP_INPUT), b""
                if not data:
                    return 0
                if not data.strip(b"\0"):
                    continue  # zero padding after the last member (some writers add it)
                self._inflate = isal_zlib.decompressobj(31)
            else:
                data = self._inflate.unconsumed_tail or self._source.read(_GZIP_INPUT)
                if not data:
                    raise ArchiveError(f"{self._label} is truncated or corrupt (it ends inside "
                                       "its gzip stream)")
            try:
                self._pending = memoryview(self._inflate.decompress(data, CHUNK))
            except _INFLATE_ERROR as exc:
                raise ArchiveError(f"{self._label} is truncated or corrupt (not valid gzip: "
                                   f"{exc})") from exc
            if self._inflate.eof:
                self._carry, self._inflate = self._inflate.unused_data, None
        count = min(len(view), len(self._pending))
        view[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


class _Unzstd(_Decompressor):
    what = "zstd"

    def __init__(self, source: Readable, label: str) -> None:
        self._label = label
        self._reader = zstandard.ZstdDecompressor().stream_reader(
            source, read_size=CHUNK, read_across_frames=True  # type: ignore[arg-type]
        )

    def readinto(self, buffer: Any) -> int:
        try:
            return int(self._reader.readinto(buffer))
        except zstandard.ZstdError as exc:
            raise ArchiveError(f"{self._label} is truncated or corrupt (not valid zstd: "
                               f"{exc})") from exc


class _Library(_Decompressor):
    """A stream the standard library decompresses (bz2, lzma), its errors one ArchiveError."""

    def __init__(self, reader: bz2.BZ2File | lzma.LZMAFile, label: str, what: str) -> None:
        self._reader, self._label, self.what = reader, label, what

    def readinto(self, buffer: Any) -> int:
        try:
            return self._reader.readinto(buffer)
        except EOFError as exc:
            raise ArchiveError(f"{self._label} is truncated or corrupt (it ends inside its "
                               f"{self.what} stream)") from exc
        except (OSError, lzma.LZMAError) as exc:
            raise ArchiveError(f"{self._label} is truncated or corrupt (not valid "
                               f"{self.what}: {exc})") from exc


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


def compressed_as(stream: io.RawIOBase) -> str | None:
    """What decompressed() found the stream compressed with, or None."""
    return stream.what if isinstance(stream, _Decompressor) else None


def is_plain(stream: io.RawIOBase) -> bool:
    """Whether decompressed() found the stream not compressed: its bytes are the tar itself."""
    return compressed_as(stream) is None


def compression(head: bytes) -> str | None:
    """The compression the first SNIFFED bytes of a stream show (gzip, zstd, bzip2, xz or lzma),
    or None for none. A bzip2 stream is told by its first block's magic too, not by 'BZh' alone,
    so that a plain tar whose first name begins 'BZh' is not taken for one."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head[:3] == _BZIP2[0] and head[3:4].isdigit() and head[4:10] == _BZIP2[1]:
        return "bzip2"
    if head.startswith(_XZ_MAGIC) or head.startswith(_LZMA_ALONE):
        return "xz or lzma"
    return None


def decompressed(source: Readable, label: str) -> io.RawIOBase:
    """The tar inside a layer blob or an archive, compressed with gzip, zstd, bzip2, xz or lzma,
    or not: a raw stream read once, whose memory does not grow with what it expands to.

    The bytes tell, not the media type or the file name: some tools label a gzip layer as plain.
    """
    head = b""
    while len(head) < SNIFFED:
        more = source.read(SNIFFED - len(head))
        if not more:
            break
        head += more
    peeked = _Peeked(head, source)
    match compression(head):
        case "gzip":
            return _Gunzip(peeked, label)
        case "zstd":
            return _Unzstd(peeked, label)
        case "bzip2":
            return _Library(bz2.BZ2File(io.BufferedReader(peeked)), label, "bzip2")
        case "xz or lzma":
            return _Library(lzma.LZMAFile(io.BufferedReader(peeked)), label, "xz or lzma")
    return peeked
