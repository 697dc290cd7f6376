"""Streams one layer tar: keeps every header, the bytes of a few wanted small files, whiteouts and
opaque directories; and merges scanned layers into the final filesystem. Nothing touches disk."""

from __future__ import annotations

import fnmatch
import hashlib
import posixpath
import re
import tarfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from auditor.errors import ArchiveError
from auditor.model import FileEntry, FileKind, LayerContent, PlacedFile

# tarfile reads a stream in bufsize chunks; its 10 KiB default costs a Python call per chunk.
STREAM_BUFSIZE = 1 << 20
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class Readable(Protocol):
    """Anything with read(size): a file, a tar member, a response stream."""

    def read(self, size: int = -1, /) -> bytes: ...


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


class _Counting:
    """A read-only wrapper that counts the bytes its reader took, after giving back a head
    already read to sniff the format."""

    def __init__(self, raw: Readable, head: bytes) -> None:
        self.raw = raw
        self.head = head
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        if self.head:
            if size < 0:
                data = self.head + self.raw.read()
            else:
                data = self.head[:size]
                if len(data) < size:
                    data += self.raw.read(size - len(data))
            self.head = self.head[size:] if size >= 0 else b""
        else:
            data = self.raw.read(size)
        self.count += len(data)
        return data


def scan_layer(fileobj: Readable, wanted: Wanted, label: str = "layer") -> LayerContent:
    """One pass over a layer tar (plain or gzip) from a stream that need not seek."""
    head = fileobj.read(4)
    if head == ZSTD_MAGIC:
        raise ArchiveError(f"{label} is zstd-compressed, which this build cannot read")
    match = wanted.matcher()
    entries: list[FileEntry] = []
    whiteouts: list[str] = []
    opaque: list[str] = []
    captured: dict[str, bytes] = {}
    counting = _Counting(fileobj, head)
    try:
        with tarfile.open(fileobj=counting, mode="r|*", bufsize=STREAM_BUFSIZE) as tar:  # type: ignore[call-overload]
            for member in tar:
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
                entries.append(
                    FileEntry(
                        path=path,
                        size=member.size if kind is FileKind.FILE else 0,
                        kind=kind,
                        mode=member.mode,
                        uid=member.uid,
                        gid=member.gid,
                        linkname=normalize(member.linkname) if member.linkname else "",
                    )
                )
                if (
                    match is not None
                    and kind is FileKind.FILE
                    and member.size <= wanted.max_bytes
                    and match.fullmatch(path)
                ):
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        captured[path] = extracted.read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ArchiveError(f"{label} is truncated or corrupt ({_why(exc)})") from exc
    return LayerContent(
        entries=tuple(entries),
        whiteouts=tuple(whiteouts),
        opaque_dirs=tuple(opaque),
        captured=MappingProxyType(captured),
        tar_size=counting.count,
    )


def _why(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:120]


def content_size(content: LayerContent) -> int:
    return sum(entry.size for entry in content.entries)


def _below(path: str, roots: set[str]) -> bool:
    """Whether path lies strictly below one of roots."""
    index = path.find("/")
    while index != -1:
        if path[:index] in roots:
            return True
        index = path.find("/", index + 1)
    return False


def merge(layers: Iterable[tuple[int, LayerContent]]) -> Mapping[str, PlacedFile]:
    """The final filesystem: each layer's whiteouts and opaque dirs hide what lies below."""
    files: dict[str, PlacedFile] = {}
    for number, content in layers:
        removed = set(content.whiteouts)
        opaque = set(content.opaque_dirs)
        if removed or opaque:
            for path in list(files):
                if path in removed or _below(path, removed) or _below(path, opaque):
                    del files[path]
        for entry in content.entries:
            files[entry.path] = PlacedFile(entry, number)
    return MappingProxyType(files)
