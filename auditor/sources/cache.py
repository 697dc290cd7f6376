"""A disk cache of layer scans, keyed by the layer's content digest (diff_id), the scanner's
version and the set of wanted files: a layer's analysis never changes, so it is read once."""

from __future__ import annotations

import gzip
import json
import os
import sys
import tempfile
from array import array
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from auditor.model.image import Entries, LayerContent
from auditor.sources.documents import Digest, DigestAlgorithm
from auditor.sources.layers import Wanted

# Bump when scan_layer or this format changes what it records. 2: only scans of layers whose
# diff_id imgaudit computed (an archive's layers) or the engine or a registry verified are stored,
# so no entry of version 1 (an archive's word) is trusted. 3: zero-filled files. 4: the columns of
# model.image.Entries written and read as they are, in pieces (no JSON text of a whole layer in
# memory: a layer of a million entries was ~100 MB of it).
ANALYSER_VERSION = 4

# A cache file: this line, a JSON line of counts and the tar size, then each int column as
# 64-bit integers in this machine's byte order, the kinds, and each list of strings or bytes as
# its lengths then its bytes (strings as UTF-8, their undecodable bytes kept as tarfile keeps
# them). All of it gzip-compressed.
_MAGIC = f"imgaudit layer scan {ANALYSER_VERSION} {sys.byteorder}\n".encode()
_CHUNK = 1 << 20  # bytes read at once
_BATCH = 4096  # strings encoded or decoded at once
_TEXT = ("utf-8", "surrogatepass")
_Item = TypeVar("_Item", str, bytes)


def default_cache_dir() -> Path:
    if explicit := os.environ.get("IMGAUDIT_CACHE_DIR"):
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "imgaudit"


class LayerCache:
    """Per-layer scans on disk; a cache that cannot be read or written is simply a miss."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    @classmethod
    def disabled(cls) -> LayerCache:
        return cls(None)

    def _path(self, diff_id: str, wanted: Wanted) -> Path | None:
        digest = Digest.parse(diff_id)
        if self.root is None or digest is None or digest.algorithm is not DigestAlgorithm.SHA256:
            return None
        return self.root / f"layers-v{ANALYSER_VERSION}" / wanted.key / f"{digest.hex}.gz"

    def has(self, diff_id: str, wanted: Wanted) -> bool:
        path = self._path(diff_id, wanted)
        return path is not None and path.is_file()

    def get(self, diff_id: str, wanted: Wanted) -> LayerContent | None:
        path = self._path(diff_id, wanted)
        if path is None:
            return None
        try:
            with gzip.open(path, "rb") as handle:
                return _read(handle)
        except (OSError, ValueError, KeyError, TypeError, EOFError):
            return None

    def put(self, diff_id: str, wanted: Wanted, content: LayerContent) -> None:
        path = self._path(diff_id, wanted)
        entries = content.entries
        if path is None or not all(isinstance(column, array) for column in (
                entries.sizes, entries.modes, entries.uids, entries.gids)):
            return  # (a number past 64 bits, from a crafted PAX header: such a layer is rescanned)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as raw, gzip.GzipFile(
                    fileobj=raw, mode="wb", compresslevel=1, mtime=0
                ) as handle:
                    _write(handle, content)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError:
            return


def _write(out: gzip.GzipFile, content: LayerContent) -> None:
    entries = content.entries
    links = sorted(entries.links)
    captured = sorted(content.captured)
    counts = {"entries": len(entries), "links": len(links), "whiteouts": len(content.whiteouts),
              "opaque": len(content.opaque_dirs), "zero_files": len(content.zero_files),
              "captured": len(captured), "tar_size": content.tar_size}
    out.write(_MAGIC)
    out.write(json.dumps(counts).encode() + b"\n")
    for column in (entries.sizes, entries.modes, entries.uids, entries.gids):
        out.write(memoryview(column))  # type: ignore[arg-type]  # an array, as put() checked
    out.write(entries.kinds)
    out.write(memoryview(array("q", links)))
    for strings in (entries.paths, [entries.links[n] for n in links], content.whiteouts,
                    content.opaque_dirs, content.zero_files, captured):
        _write_items(out, strings, lambda text: text.encode(*_TEXT))
    _write_items(out, [content.captured[path] for path in captured], bytes)


def _write_items(out: gzip.GzipFile, items: Sequence[_Item],
                 encode: Callable[[_Item], bytes]) -> None:
    """Lengths first, then the bytes, a batch at a time: each item is encoded twice, never all
    held at once."""
    out.write(memoryview(array("q", (len(encode(item)) for item in items))))
    for start in range(0, len(items), _BATCH):
        out.write(b"".join(encode(item) for item in items[start : start + _BATCH]))


def _read(source: gzip.GzipFile) -> LayerContent:
    if source.read(len(_MAGIC)) != _MAGIC:
        raise ValueError("not a layer scan of this version")
    counts = json.loads(source.readline(1024))
    count, links = _count(counts, "entries"), _count(counts, "links")
    sizes, modes, uids, gids = (_ints(source, count) for _ in range(4))
    kinds = bytearray(_exactly(source, count))
    link_indexes = _ints(source, links)
    paths = list(_strings(source, count))
    targets = dict(zip(link_indexes, _strings(source, links), strict=True))
    whiteouts, opaque, zero_files, captured = (
        tuple(_strings(source, _count(counts, name)))
        for name in ("whiteouts", "opaque", "zero_files", "captured"))
    data = tuple(bytes(item) for item in _items(source, len(captured)))
    if source.read(1):
        raise ValueError("bytes past the end")
    tar_size = counts["tar_size"]
    if not isinstance(tar_size, int):
        raise ValueError("no tar size")
    return LayerContent(
        entries=Entries.from_columns(paths, sizes, kinds, modes, uids, gids, targets),
        whiteouts=whiteouts,
        opaque_dirs=opaque,
        captured=MappingProxyType(dict(zip(captured, data, strict=True))),
        tar_size=tar_size,
        zero_files=zero_files,
    )


def _count(counts: object, name: str) -> int:
    value = counts[name] if isinstance(counts, dict) else None
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"no count of {name}")
    return value


def _exactly(source: gzip.GzipFile, size: int) -> bytes:
    """size bytes, read a piece at a time (a count that lies costs no memory)."""
    pieces = []
    while size:
        piece = source.read(min(size, _CHUNK))
        if not piece:
            raise ValueError("truncated")
        pieces.append(piece)
        size -= len(piece)
    return b"".join(pieces)


def _ints(source: gzip.GzipFile, count: int) -> array[int]:
    column = array("q")
    column.frombytes(_exactly(source, count * column.itemsize))
    return column


def _items(source: gzip.GzipFile, count: int) -> Iterator[memoryview]:
    lengths = _ints(source, count)
    if any(length < 0 for length in lengths):
        raise ValueError("a negative length")
    for start in range(0, count, _BATCH):
        batch = lengths[start : start + _BATCH]
        data = memoryview(_exactly(source, sum(batch)))
        at = 0
        for length in batch:
            yield data[at : at + length]
            at += length


def _strings(source: gzip.GzipFile, count: int) -> Iterator[str]:
    return (str(item, *_TEXT) for item in _items(source, count))
