"""Layers read straight from a local engine's overlay2 storage: each diff ID tied to its directory
through the layer database (chain IDs), checked against the Engine API's GraphDriver paths and kept
under DockerRootDir, then scanned by replaying its tar-split (the headers `docker save` writes)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import ArchiveError, SourceError
from auditor.model.image import ZERO_FILE_MIN, LayerContent
from auditor.sources.documents import Digest, DigestAlgorithm
from auditor.sources.layers import MAX_MEMBER_SIZE, Wanted, normalize, scan_layer

# A tar-split line holds one entry or one run of raw tar bytes: headers (a PAX record up to the
# 1 MiB tar readers allow, base64) and padding. Longer is not what the engine writes.
MAX_LINE = 4 << 20
_ZEROS = bytes(1 << 20)
_CACHE_ID = re.compile(r"[A-Za-z0-9]{1,128}")


class StorageUnreadable(SourceError):
    """The engine's storage cannot be read for this image; the export can."""

    default_hint = "use --read auto or --read export to read the image through the engine's export"


@dataclass(frozen=True, slots=True)
class StoredLayer:
    """Where one layer lies on disk, checked: its tar-split and the directory of its files."""

    diff_id: str
    tar_split: Path
    files: Path


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """The layer store's chain ID of each layer: the first's diff ID, then
    sha256(parent chain ID + " " + diff ID)."""
    chain: list[str] = []
    for diff_id in diff_ids:
        if chain:
            text = f"{chain[-1]} {diff_id}".encode()
            chain.append("sha256:" + hashlib.sha256(text).hexdigest())
        else:
            chain.append(diff_id)
    return chain


def inside(root: Path, path: Path, what: str) -> Path:
    """path with every symlink resolved, refused unless it lies under root."""
    try:
        real = Path(os.path.realpath(path, strict=True))
    except OSError as exc:
        raise StorageUnreadable(f"{what} cannot be read ({_why(exc)})") from exc
    if real != root and root not in real.parents:
        raise StorageUnreadable(f"{what} lies outside the engine's root {root}")
    return real


def _small(path: Path, what: str, limit: int = 256) -> str:
    """A one-word file of the layer database (a digest, a directory name), bounded."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise StorageUnreadable(f"{what} cannot be read ({_why(exc)})") from exc
    if len(data) > limit:
        raise StorageUnreadable(f"{what} is over {limit} bytes")
    return data.decode("ascii", "replace").strip()


def _why(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


def require_local(host: str, engine: str) -> None:
    """StorageUnreadable unless `host` is a unix socket: only a local engine's disk is ours."""
    scheme = host.partition("://")[0] if "://" in host else "unix"
    if scheme != "unix":
        raise StorageUnreadable(f"{engine} is reached over {scheme[:20]}://, not a local socket")


def _sha256(text: str, what: str) -> Digest:
    """`text` parsed as a sha256 digest (the only algorithm the engine's stores name things by),
    before it becomes a path; StorageUnreadable for anything else."""
    digest = Digest.parse(text)
    if digest is None or digest.algorithm is not DigestAlgorithm.SHA256:
        raise StorageUnreadable(f"{what} {text[:80]!r} is not a sha256 digest")
    return digest


def local_store(info: Mapping[str, Any], host: str) -> OverlayStore:
    """The storage of the engine `docker info` describes, when this process can read it: a
    local engine (a unix socket), rootful, overlay2 under the classic image store."""
    require_local(host, "the engine")
    options = [str(o) for o in info.get("SecurityOptions") or ()]
    if any("name=rootless" in option for option in options):
        raise StorageUnreadable("the engine runs rootless")
    status = [[str(part) for part in pair] for pair in info.get("DriverStatus") or ()]
    if any(pair[:1] == ["driver-type"] and "containerd" in pair[-1] for pair in status):
        raise StorageUnreadable("the engine keeps images in containerd's image store")
    driver = str(info.get("Driver") or "")
    if driver != "overlay2":
        raise StorageUnreadable(f"the engine's storage driver is {driver[:40] or 'unknown'}, "
                                "not overlay2")
    root = str(info.get("DockerRootDir") or "")
    if not root.startswith("/"):
        raise StorageUnreadable("the engine reports no DockerRootDir")
    return OverlayStore(root)


class OverlayStore:
    """An engine's overlay2 storage under its DockerRootDir (symlinks resolved)."""

    def __init__(self, root: str) -> None:
        self.root = inside(Path(os.path.realpath(root)), Path(root), f"the engine's root {root}")

    def locate(self, diff_ids: Sequence[str], graph_driver: Mapping[str, Any]
               ) -> list[StoredLayer]:
        """Each diff ID's layer (oldest first), from the layer database by chain ID, checked to
        be the directories the engine reports for the image (UpperDir, then LowerDir)."""
        if str(graph_driver.get("Name") or "") != "overlay2":
            raise StorageUnreadable(
                f"the engine stores the image with {graph_driver.get('Name')!s:.40}, not overlay2")
        layerdb = self.root / "image" / "overlay2" / "layerdb" / "sha256"
        located: list[StoredLayer] = []
        for diff_id, chain_id in zip(diff_ids, chain_ids(diff_ids), strict=True):
            _sha256(diff_id, "diff ID")
            entry = inside(self.root, layerdb / chain_id.removeprefix("sha256:"),
                            f"the layer database entry of {diff_id[:19]}")
            if _small(entry / "diff", "a layer's diff ID") != diff_id:
                raise StorageUnreadable(
                    f"the layer database holds another layer for {diff_id[:19]}")
            cache_id = _small(entry / "cache-id", "a layer's cache-id")
            if not _CACHE_ID.fullmatch(cache_id):
                raise StorageUnreadable(f"the cache-id of {diff_id[:19]} is not a directory name")
            files = inside(self.root, self.root / "overlay2" / cache_id / "diff",
                            f"the files of {diff_id[:19]}")
            tar_split = inside(self.root, entry / "tar-split.json.gz",
                                f"the tar-split of {diff_id[:19]}")
            located.append(StoredLayer(diff_id, tar_split, files))
        data = graph_driver.get("Data") or {}
        reported = [str(data.get("UpperDir") or "")] if located else []
        reported += [p for p in str(data.get("LowerDir") or "").split(":") if p]
        resolved = [inside(self.root, Path(p), "a directory the engine reports")
                    for p in reported]
        if resolved != [layer.files for layer in reversed(located)]:
            raise StorageUnreadable("the layer database and the engine's GraphDriver disagree")
        return located

    def config_path(self, image_id: Digest) -> Path:
        """Where the image database keeps the config of `image_id`."""
        return self.root / "image" / "overlay2" / "imagedb" / "content" / "sha256" / image_id.hex

    def config(self, image_id: str) -> dict[str, Any]:
        """The image's config from the image database, checked against its ID."""
        path = inside(self.root, self.config_path(_sha256(image_id, "image ID")),
                      "the image's config")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StorageUnreadable(f"the image's config cannot be read ({_why(exc)})") from exc
        if "sha256:" + hashlib.sha256(data).hexdigest() != image_id:
            raise StorageUnreadable("the image database holds another config for the image")
        try:
            config = json.loads(data)
        except ValueError as exc:
            raise StorageUnreadable("the image's config is not JSON") from exc
        except RecursionError as exc:  # Go's reader takes 10,000 levels, Python's ~1,000
            raise StorageUnreadable("the image's config nests its JSON too deeply") from exc
        if not isinstance(config, dict):
            raise StorageUnreadable("the image's config is not a JSON object")
        return config


def scan_stored_layer(layer: StoredLayer, wanted: Wanted, label: str = "layer") -> LayerContent:
    """The LayerContent the layer's tar would give, from its tar-split and files: the same
    headers, in the same order, the same tar size; only the wanted small files are opened."""
    members: list[str] = []
    try:
        with gzip.open(layer.tar_split, "rb") as lines:
            replay = _Replay(_pieces(lines, wanted, label, members), layer.files)
            content = scan_layer(replay, wanted, label)
    except (OSError, EOFError) as exc:
        raise StorageUnreadable(f"the tar-split of {label} cannot be read ({exc})") from exc
    except ArchiveError as exc:
        raise StorageUnreadable(f"the tar-split of {label} does not replay as a tar") from exc
    # tarfile ends quietly at a bad header past the first: every member recorded must be read
    read = len(content.entries) + len(content.whiteouts) + len(content.opaque_dirs)
    if read != sum(1 for path in members if path):
        raise StorageUnreadable(f"the tar-split of {label} does not replay as a tar (it records "
                                f"{len(members)} members, the replay gives {read})")
    return content


# What a tar-split replays: raw tar bytes, or a file's data of some size (its bytes read from
# the layer's files, by its path relative to them, when a rule wants it or it is big enough to be
# checked for holding only zeros; else zeros that nobody reads).
_Piece = bytes | tuple[str | None, int]


def _pieces(lines: io.BufferedIOBase, wanted: Wanted, label: str, members: list[str]
            ) -> Iterator[_Piece]:
    """The record's pieces in order; each member's path is added to `members` as it passes."""
    match = wanted.matcher()
    while line := lines.readline(MAX_LINE + 1):
        if len(line) > MAX_LINE:
            raise StorageUnreadable(f"the tar-split of {label} has a line over 4 MiB")
        try:
            entry = json.loads(line)
            kind = entry["type"]
            if kind == 2:
                yield base64.b64decode(entry.get("payload") or "", validate=True)
                continue
            name, size = str(entry.get("name") or ""), int(entry.get("size") or 0)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StorageUnreadable(f"the tar-split of {label} is not what the engine writes"
                                    ) from exc
        if kind != 1 or not 0 <= size <= MAX_MEMBER_SIZE:
            raise StorageUnreadable(f"the tar-split of {label} is not what the engine writes")
        path = normalize(name)
        members.append(path)
        if size == 0:
            continue
        wanted_here = (match is not None and size <= wanted.max_bytes
                       and bool(match.fullmatch(path)))
        # a big file is read up to its first non-zero block, as a tar's is, for IA404
        read = wanted_here or size >= ZERO_FILE_MIN
        yield (path if read else None), size


class _Replay(io.RawIOBase):
    """The layer's tar as a raw stream read forward: seeking forward passes over file data
    without opening the file, which scan_layer does for every file it does not capture."""

    def __init__(self, pieces: Iterator[_Piece], files: Path) -> None:
        self._pieces = pieces
        self._files = files
        self._bytes = memoryview(b"")
        self._path: str | None = None  # the file whose data is next, if wanted
        self._size = 0  # that file's size
        self._left = 0  # bytes of its data still ahead
        self._handle: io.BufferedReader | None = None
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def _ready(self) -> bool:
        """Whether a piece with bytes left is current (taking the next one if need be)."""
        while not self._bytes and not self._left:
            self._close_file()
            piece = next(self._pieces, None)
            if piece is None:
                return False
            if isinstance(piece, bytes):
                self._bytes = memoryview(piece)
            else:
                self._path, self._size = piece
                self._left = self._size
        return True

    def _close_file(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self._handle, self._path = None, None

    def _file(self) -> io.BufferedReader:
        if self._handle is None:
            assert self._path is not None
            self._handle = _open_file(self._files, self._path, self._size)
            self._handle.seek(self._size - self._left)
        return self._handle

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not view or not self._ready():
            return 0
        if self._bytes:
            count = min(len(view), len(self._bytes))
            view[:count] = self._bytes[:count]
            self._bytes = self._bytes[count:]
        else:
            count = min(len(view), self._left, len(_ZEROS))
            if self._path is None:
                view[:count] = _ZEROS[:count]
            else:
                if self._file().readinto(view[:count]) != count:
                    raise StorageUnreadable(f"{self._path} is shorter than its layer says")
            self._left -= count
        self._position += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            offset -= self._position
        elif whence == io.SEEK_END:
            if offset:
                raise io.UnsupportedOperation("a replayed layer seeks only to its end")
            offset = MAX_MEMBER_SIZE << 8
        if offset < 0:
            raise io.UnsupportedOperation("a replayed layer cannot seek backwards")
        while offset > 0 and self._ready():
            if self._bytes:
                count = min(offset, len(self._bytes))
                self._bytes = self._bytes[count:]
            else:
                count = min(offset, self._left)
                self._left -= count
                if self._handle is not None:
                    self._handle.seek(count, io.SEEK_CUR)
            self._position += count
            offset -= count
        return self._position

    def close(self) -> None:
        self._close_file()
        super().close()


def _open_file(files: Path, relative: str, size: int) -> io.BufferedReader:
    """A regular file of the layer, opened below `files` without following any symlink."""
    parts = relative.split("/")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(files, flags | os.O_DIRECTORY)
        try:
            for part in parts[:-1]:
                opened = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd = opened
            handle = os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise StorageUnreadable(f"{relative[:200]} of a layer cannot be read ({_why(exc)})"
                                ) from exc
    info = os.fstat(handle)
    if not stat.S_ISREG(info.st_mode) or info.st_size != size:
        os.close(handle)
        raise StorageUnreadable(f"{relative[:200]} of a layer is not the {size}-byte file its "
                                "tar-split says")
    return open(handle, "rb", closefd=True)
