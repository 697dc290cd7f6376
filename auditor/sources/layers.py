"""Streams one layer tar: keeps every header (by column), the bytes of a few wanted small files,
whiteouts and opaque directories; and merges scanned layers into the final filesystem. Nothing
touches disk."""

from __future__ import annotations

import fnmatch
import hashlib
import io
import posixpath
import re
import struct
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from auditor.errors import ArchiveError
from auditor.model.image import (
    ZERO_FILE_MIN,
    Entries,
    FileKind,
    LayerContent,
    PlacedFile,
    PlacedFiles,
)
from auditor.sources.streams import Readable, compressed_as, decompressed, read_into

# Streams are read in blocks of this size (tarfile's 10 KiB default costs a Python call each).
STREAM_BUFSIZE = 1 << 20
# A file of ZERO_FILE_MIN bytes or more is checked for holding nothing but zeros as its data
# streams past (read anyway: every source hashes what it reads)
_ZEROS = bytes(STREAM_BUFSIZE)
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"

@dataclass(frozen=True, slots=True)
class Wanted:
    """The union of the small files every selected rule reads, as glob patterns."""

    patterns: tuple[str, ...] = ()
    max_bytes: int = 256 * 1024

    def __post_init__(self) -> None:
        object.__setattr__(self, "patterns", tuple(sorted(set(self.patterns))))

    @property
    def key(self) -> str:
        text = "\n".join((str(self.max_bytes), *self.patterns))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def matcher(self) -> re.Pattern[str] | None:
        if not self.patterns:
            return None
        return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in self.patterns))


def normalize(name: str) -> str:
    """A tar member name as a relative path: no './', no leading or trailing slash."""
    path = posixpath.normpath("/" + name).lstrip("/")
    return "" if path == "." else path


def _kind(member: tarfile.TarInfo) -> FileKind:
    if member.isreg():
        return FileKind.FILE
    if member.isdir():
        return FileKind.DIR
    if member.issym():
        return FileKind.SYMLINK
    if member.islnk():
        return FileKind.HARDLINK
    return FileKind.OTHER


# Go's archive/tar refuses a PAX record or GNU long name over 1 MiB; tarfile reads any into memory.
MAX_HEADER_DATA = 1 << 20
# No member of an image is a tebibyte: a size past it is a crafted header, not a file.
MAX_MEMBER_SIZE = 1 << 40
_HEADER_DATA_TYPES = frozenset({tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
                                tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK})


class HeaderRefused(tarfile.TarError):
    """A tar header no honest writer makes: tarfile would read it (as an empty member, or into
    memory), so it is refused; not a HeaderError, which tarfile takes for the archive's end."""


# A ustar/GNU header block: name, mode, uid, gid, size, mtime, chksum, type, linkname, (magic,
# version), uname, gname, devmajor, devminor, prefix, (padding).
_HEADER_FIELDS = struct.Struct("100s8s8s8s12s12s8sc100s8x32s32s8s8s155s12x")


def _text(field: bytes, encoding: str, errors: str) -> str:
    return field.split(b"\0", 1)[0].decode(encoding, errors)


def _octal(field: bytes) -> int:
    return int(field.split(b"\0", 1)[0].strip() or b"0", 8)


class _Header(tarfile.TarInfo):
    """tarfile's TarInfo, read three times faster from the common header: octal numbers, an
    unsigned checksum, no old GNU sparse map. Anything else, including every header that is
    invalid, goes to tarfile's own frombuf, so the outcome is always tarfile's."""

    __slots__ = ()

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> _Header:
        return _bounded(cls._frombuf(buf, encoding, errors))

    @classmethod
    def _frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> _Header:
        try:
            (name, mode, uid, gid, size, mtime, chksum, kind, linkname, uname, gname, major,
             minor, prefix) = _HEADER_FIELDS.unpack(buf)
            checksum = _octal(chksum)
            if kind == tarfile.GNUTYPE_SPARSE or checksum != 256 + sum(buf) - sum(buf[148:156]):
                raise ValueError("not the common case")
            obj = cls()
            obj.mode, obj.uid, obj.gid = _octal(mode), _octal(uid), _octal(gid)
            obj.size, obj.mtime = _octal(size), _octal(mtime)
            obj.devmajor, obj.devminor = _octal(major), _octal(minor)
        except (struct.error, ValueError):
            return super().frombuf(buf, encoding, errors)
        obj.chksum = checksum
        obj.type = kind
        obj.name = _text(name, encoding, errors)
        obj.linkname = _text(linkname, encoding, errors)
        obj.uname = _text(uname, encoding, errors)
        obj.gname = _text(gname, encoding, errors)
        if kind == tarfile.AREGTYPE and obj.name.endswith("/"):
            obj.type = tarfile.DIRTYPE  # old V7 tar: a directory is a file named with a slash
        if obj.type == tarfile.DIRTYPE:
            obj.name = obj.name.rstrip("/")
        ustar_prefix = _text(prefix, encoding, errors)
        if ustar_prefix and obj.type not in tarfile.GNU_TYPES:
            obj.name = ustar_prefix + "/" + obj.name
        return obj


def _bounded(header: _Header) -> _Header:
    if header.size < 0:
        raise HeaderRefused(f"a header gives {header.name[:80]!r} a negative size")
    if header.size > MAX_MEMBER_SIZE:
        raise HeaderRefused(f"a header gives {header.name[:80]!r} a size of {header.size} bytes")
    if header.type in _HEADER_DATA_TYPES and header.size > MAX_HEADER_DATA:
        raise HeaderRefused(f"a PAX record or GNU long name of {header.size} bytes (over 1 MiB)")
    return header


class Forward(io.RawIOBase):
    """A stream read once, as a raw file that tarfile's random-access mode can read: seeking goes
    forward only and passes over the bytes in between by reading them into one scratch buffer,
    so a member's data that nobody reads costs one read at the stream's own speed and no memory.
    `position` counts every byte passed, read or skipped.
    """

    def __init__(self, source: Readable) -> None:
        self._source = source
        self._scratch: memoryview | None = None
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True  # forward only; BufferedReader.seek refuses a raw stream that says False

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: Any) -> int:
        count = read_into(self._source, memoryview(buffer).cast("B"))
        self.position += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            self.drain()
            if offset:
                raise io.UnsupportedOperation("a stream read once seeks only to its end")
            return self.position
        target = offset if whence == io.SEEK_SET else self.position + offset
        if target < self.position:
            raise io.UnsupportedOperation("a stream read once cannot seek backwards")
        while self.position < target and self._skip(target - self.position):
            pass
        return self.position

    def drain(self) -> int:
        """Passes the rest of the stream; returns how many bytes it held in all."""
        while self._skip(STREAM_BUFSIZE):
            pass
        return self.position

    def _skip(self, count: int) -> int:
        if self._scratch is None:
            self._scratch = memoryview(bytearray(STREAM_BUFSIZE))
        return self.readinto(self._scratch[: min(count, STREAM_BUFSIZE)])


@dataclass(frozen=True, slots=True)
class TarStream:
    """A tar read once (`tar`), over what its input decompressed to (`tar_bytes`), and the
    input itself as read (`input`): draining both ends the read and gives the input's size."""

    tar: tarfile.TarFile
    tar_bytes: Forward
    input: Forward

    def finish(self) -> int:
        """Reads the rest (a compressed tail is so checked whole); the input's size in bytes."""
        self.tar_bytes.drain()
        return self.input.drain()


@contextmanager
def open_tar(fileobj: Readable, label: str) -> Iterator[TarStream]:
    """A tar read once from fileobj, which need not seek, plain or compressed (gzip, also in
    several members, zstd, bzip2, xz or lzma, told from its first bytes by streams.decompressed):
    always read as a plain tar over the bytes it expands to, so data nobody reads is passed
    block by block, in time linear in its size and in constant memory."""
    counted = Forward(fileobj)
    stream = decompressed(counted, label)
    tar_bytes = Forward(stream)
    what = compressed_as(stream)
    try:
        with tarfile.open(fileobj=io.BufferedReader(tar_bytes, STREAM_BUFSIZE), mode="r:",
                          tarinfo=_Header) as tar:
            yield TarStream(tar, tar_bytes, counted)
    except (tarfile.TarError, EOFError, OSError) as exc:
        inside = f"its {what} stream holds no valid tar: " if what else ""
        raise ArchiveError(f"{label} is truncated or corrupt ({inside}{_why(exc)})") from exc


def open_tar_file(path: str) -> tarfile.TarFile:
    """A plain tar file for random access, its headers bounded as a layer's are."""
    return tarfile.open(path, mode="r:", tarinfo=_Header)


def scan_layer(fileobj: Readable, wanted: Wanted, label: str = "layer") -> LayerContent:
    """One pass over a layer tar (plain or compressed) from a stream that need not seek."""
    match = wanted.matcher()
    entries = Entries()
    whiteouts: list[str] = []
    opaque: list[str] = []
    captured: dict[str, bytes] = {}
    zero_files: list[str] = []
    with open_tar(fileobj, label) as stream:
        tar = stream.tar
        while (member := tar.next()) is not None:
            tar.members.clear()  # type: ignore[attr-defined]  # every header it read: unused
            path = normalize(member.name)
            if not path:
                continue
            parent, base = posixpath.split(path)
            if base == OPAQUE_MARKER:
                opaque.append(parent)
                continue
            if base.startswith(WHITEOUT_PREFIX):
                whiteouts.append(posixpath.join(parent, base[len(WHITEOUT_PREFIX) :]))
                continue
            kind = _kind(member)
            entries.append(path, member.size if kind is FileKind.FILE else 0, kind, member.mode,
                           member.uid, member.gid,
                           normalize(member.linkname) if member.linkname else "")
            if (
                match is not None
                and kind is FileKind.FILE
                and member.size <= wanted.max_bytes
                and match.fullmatch(path)
            ):
                extracted = tar.extractfile(member)
                if extracted is not None:
                    captured[path] = extracted.read()
            elif kind is FileKind.FILE and member.size >= ZERO_FILE_MIN and _zero_filled(
                tar, member
            ):
                zero_files.append(path)
        tar_size = stream.finish()
    return LayerContent(
        entries=entries,
        whiteouts=tuple(whiteouts),
        opaque_dirs=tuple(opaque),
        captured=MappingProxyType(captured),
        tar_size=tar_size,
        zero_files=tuple(zero_files),
    )


def _zero_filled(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bool:
    """Whether a member's data is all zeros, read in blocks up to the first that is not (the
    rest tarfile passes over). A sparse member is not read: its holes would cost time for data
    the archive does not hold."""
    if member.issparse():
        return False
    extracted = tar.extractfile(member)
    if extracted is None:
        return False
    block = bytearray(STREAM_BUFSIZE)
    while count := read_into(extracted, memoryview(block)):
        if (block if count == STREAM_BUFSIZE else block[:count]) != _ZEROS[:count]:
            return False
    return True


def _why(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:120]


def content_size(content: LayerContent) -> int:
    return sum(content.entries.sizes)


def _below(path: str, roots: set[str]) -> bool:
    """Whether path lies strictly below one of roots."""
    index = path.find("/")
    while index != -1:
        if path[:index] in roots:
            return True
        index = path.find("/", index + 1)
    return False


def _names_a_path(path: str) -> bool:
    """Whether a whiteout or opaque folder names a path of the image: not "", ".", "..", "/"
    nor one that climbs ("a/.."); such a crafted entry hides nothing."""
    return bool(path) and normalize(path) == path


def merge(layers: Iterable[tuple[int, LayerContent]]) -> Mapping[str, PlacedFile]:
    """The final filesystem: each layer's whiteouts and opaque dirs hide what lies below, and a
    file, link or device put where a folder was replaces the folder with all it held."""
    files = PlacedFiles()
    for number, content in layers:
        removed = {path for path in content.whiteouts if _names_a_path(path)}
        opaque = {path for path in content.opaque_dirs if _names_a_path(path)}
        entries = content.entries
        for index, path in enumerate(entries.paths):
            if entries.kind(index) is not FileKind.DIR and files.kind(path) is FileKind.DIR:
                removed.add(path)
        if removed or opaque:
            for path in list(files):
                if path in removed or _below(path, removed) or _below(path, opaque):
                    del files[path]
        files.add_layer(number, content.entries)
    return MappingProxyType(files)
