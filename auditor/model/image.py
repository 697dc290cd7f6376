"""The neutral image model every source builds: config, history, layers and the files
they add. Nothing here does I/O."""

from __future__ import annotations

import enum
from array import array
from collections.abc import ItemsView, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple, overload

# A file at least this large that holds nothing but zeros is noted as its layer streams past
# (LayerContent.zero_files): useradd's faillog and lastlog for a large UID, or a gzip bomb.
# 16 MiB is lastlog at UID ~57,000.
ZERO_FILE_MIN = 16 << 20


class Origin(enum.Enum):
    OWN = "own"
    BASE = "base"


class FileKind(enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    OTHER = "other"


class HistoryQuality(enum.Enum):
    """How far the image's history can be trusted to explain its layers."""

    OK = "ok"
    MISSING = "missing"
    SYNTHETIC = "synthetic"
    INCONSISTENT = "inconsistent"


class FileEntry(NamedTuple):
    """One tar header of a layer. Paths are relative, without a leading slash. (A named tuple:
    Entries makes one each time an entry is asked for, and a tuple is the quickest to make.)"""

    path: str
    size: int
    kind: FileKind
    mode: int
    uid: int
    gid: int
    linkname: str = ""


_KINDS = tuple(FileKind)
_KIND_CODES = {kind: code for code, kind in enumerate(_KINDS)}
_new = tuple.__new__  # a named tuple from its fields, without the checks of its __new__
# mode, uid and gid are kept in 64-bit columns; a PAX header can give a uid past them
_INT64 = 1 << 63


class Entries(Sequence[FileEntry]):
    """A layer's headers in tar order, kept by column (a path, a byte of kind and eight bytes of
    each number per entry rather than an object of each): a FileEntry is made when asked for.
    Filled once by append() as the layer streams past, read-only after."""

    __slots__ = ("gids", "kinds", "links", "modes", "paths", "sizes", "uids")

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.sizes: array[int] | list[int] = array("q")
        self.kinds = bytearray()
        self.modes: array[int] | list[int] = array("q")
        self.uids: array[int] | list[int] = array("q")
        self.gids: array[int] | list[int] = array("q")
        self.links: dict[int, str] = {}  # entry index -> linkname, for links only

    @classmethod
    def of(cls, entries: Iterator[FileEntry] | Sequence[FileEntry]) -> Entries:
        made = cls()
        for e in entries:
            made.append(e.path, e.size, e.kind, e.mode, e.uid, e.gid, e.linkname)
        return made

    @classmethod
    def from_columns(cls, paths: list[str], sizes: array[int], kinds: bytearray,
                     modes: array[int], uids: array[int], gids: array[int],
                     links: dict[int, str]) -> Entries:
        """Entries from columns read back (a cache): ValueError when they do not fit together."""
        count = len(paths)
        if any(len(column) != count for column in (sizes, kinds, modes, uids, gids)):
            raise ValueError("columns of different lengths")
        if kinds and max(kinds) >= len(_KINDS):
            raise ValueError("an unknown kind of entry")
        if any(not 0 <= index < count for index in links):
            raise ValueError("a link of no entry")
        made = cls()
        made.paths, made.sizes, made.kinds = paths, sizes, kinds
        made.modes, made.uids, made.gids, made.links = modes, uids, gids, links
        return made

    def append(self, path: str, size: int, kind: FileKind, mode: int, uid: int, gid: int,
               linkname: str = "") -> None:
        if not (-_INT64 <= size < _INT64 and -_INT64 <= mode < _INT64
                and -_INT64 <= uid < _INT64 and -_INT64 <= gid < _INT64) and isinstance(
                    self.sizes, array):
            self.sizes, self.modes = list(self.sizes), list(self.modes)
            self.uids, self.gids = list(self.uids), list(self.gids)
        if linkname:
            self.links[len(self.paths)] = linkname
        self.paths.append(path)
        self.sizes.append(size)
        self.kinds.append(_KIND_CODES[kind])
        self.modes.append(mode)
        self.uids.append(uid)
        self.gids.append(gid)

    def kind(self, index: int) -> FileKind:
        return _KINDS[self.kinds[index]]

    def __len__(self) -> int:
        return len(self.paths)

    @overload
    def __getitem__(self, index: int) -> FileEntry: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[FileEntry]: ...

    def __getitem__(self, index: int | slice) -> FileEntry | Sequence[FileEntry]:
        if isinstance(index, slice):
            return tuple(self[n] for n in range(*index.indices(len(self))))
        if index < 0:
            index += len(self.paths)
        return _new(FileEntry, (self.paths[index], self.sizes[index], _KINDS[self.kinds[index]],
                                self.modes[index], self.uids[index], self.gids[index],
                                self.links.get(index, "")))

    def __iter__(self) -> Iterator[FileEntry]:
        links, kinds, new = self.links, _KINDS, _new
        for index, (path, size, kind, mode, uid, gid) in enumerate(zip(
                self.paths, self.sizes, self.kinds, self.modes, self.uids, self.gids,
                strict=True)):
            yield new(FileEntry, (path, size, kinds[kind], mode, uid, gid, links.get(index, "")))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entries):
            return NotImplemented
        return (self.paths == other.paths and self.kinds == other.kinds
                and self.links == other.links and list(self.sizes) == list(other.sizes)
                and list(self.modes) == list(other.modes)
                and list(self.uids) == list(other.uids) and list(self.gids) == list(other.gids))

    __hash__ = None  # type: ignore[assignment]  # filled in place, as a list is

    def __repr__(self) -> str:
        return f"Entries({len(self)} entries)"


@dataclass(frozen=True, slots=True)
class LayerContent:
    """What one streaming pass over a layer tar learned: headers, whiteouts, a few small files."""

    entries: Entries
    whiteouts: tuple[str, ...] = ()
    opaque_dirs: tuple[str, ...] = ()
    captured: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))
    tar_size: int = 0
    # files of at least ZERO_FILE_MIN bytes that hold nothing but zeros
    zero_files: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HistoryStep:
    """One entry of the image config's history, oldest first."""

    index: int
    created_by: str
    empty_layer: bool
    created: str = ""
    comment: str = ""
    layer: int | None = None  # 1-based number of the layer this step added
    origin: Origin = Origin.OWN
    # created_by read as a Dockerfile line, whichever builder wrote it
    instruction: str = ""  # RUN, COPY, ADD, CMD, ... ("" when unreadable)
    body: str = ""  # the instruction's arguments, without builder decorations
    build_args: tuple[tuple[str, str], ...] = ()  # the `|N KEY=value` prefix of a RUN


@dataclass(frozen=True, slots=True)
class Layer:
    number: int  # 1-based, oldest first
    diff_id: str
    size: int
    origin: Origin
    history_index: int | None = None
    content: LayerContent | None = None


@dataclass(frozen=True, slots=True)
class ImageConfig:
    user: str = ""
    env: tuple[tuple[str, str], ...] = ()
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    workdir: str = ""
    exposed_ports: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # HEALTHCHECK's test as the config holds it: ("CMD-SHELL", "curl -f ..."), ("CMD", ...), or
    # ("NONE",) for a deliberate `HEALTHCHECK NONE`; None when no HEALTHCHECK is set (or inherited)
    healthcheck: tuple[str, ...] | None = None
    volumes: tuple[str, ...] = ()  # VOLUME paths, sorted


@dataclass(frozen=True, slots=True)
class BaseBoundary:
    """Where the base image ends: layers numbered up to own_from - 1 belong to it."""

    own_from_layer: int  # first layer number of the image's own build (1 = all own)
    own_from_history: int  # first history index of the image's own build
    method: str  # "option", "local-image", "archive-image", "label", "history", "none"
    evidence: str
    base_reference: str = ""


class PlacedFile(NamedTuple):
    """A path of the final filesystem and the layer that last wrote it (a named tuple, made
    each time a path of PlacedFiles is asked for)."""

    entry: FileEntry
    layer: int


class PlacedFiles(Mapping[str, PlacedFile]):
    """The merged filesystem, path -> PlacedFile in the order a dict filled layer by layer
    keeps, held as one int per path (its layer and its index there): a PlacedFile is made when
    asked for. Filled by add_layer() and `del`, read-only after."""

    __slots__ = ("_codes", "_layers")

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}  # path -> index << 32 | slot in _layers
        self._layers: list[tuple[int, Entries]] = []

    def add_layer(self, number: int, entries: Entries) -> None:
        """Places every entry of layer `number`, each over what a lower layer put there."""
        slot = len(self._layers)
        self._layers.append((number, entries))
        self._codes.update(zip(entries.paths, range(slot, slot + (len(entries) << 32), 1 << 32),
                               strict=True))

    def __delitem__(self, path: str) -> None:
        del self._codes[path]

    def kind(self, path: str) -> FileKind | None:
        """What kind of entry lies at path (None: nothing), without making a PlacedFile."""
        code = self._codes.get(path)
        if code is None:
            return None
        return self._layers[code & 0xFFFFFFFF][1].kind(code >> 32)

    def __getitem__(self, path: str) -> PlacedFile:
        code = self._codes[path]
        number, entries = self._layers[code & 0xFFFFFFFF]
        return _new(PlacedFile, (entries[code >> 32], number))

    def items(self) -> ItemsView[str, PlacedFile]:
        return _PlacedItems(self)

    def __contains__(self, path: object) -> bool:
        return path in self._codes

    def __iter__(self) -> Iterator[str]:
        return iter(self._codes)

    def __len__(self) -> int:
        return len(self._codes)


class _PlacedItems(ItemsView[str, PlacedFile]):
    """PlacedFiles.items(), made without looking each path up again."""

    _mapping: PlacedFiles

    def __iter__(self) -> Iterator[tuple[str, PlacedFile]]:
        files, new = self._mapping, _new
        layers = files._layers
        for path, code in files._codes.items():
            number, entries = layers[code & 0xFFFFFFFF]
            yield path, new(PlacedFile, (entries[code >> 32], number))


@dataclass(frozen=True, slots=True)
class Image:
    reference: str
    id: str
    config: ImageConfig
    history: tuple[HistoryStep, ...]
    layers: tuple[Layer, ...]
    boundary: BaseBoundary
    size: int
    history_quality: HistoryQuality = HistoryQuality.OK
    history_note: str = ""
    os: str = "linux"
    architecture: str = ""
    repo_tags: tuple[str, ...] = ()
    # The merged filesystem after whiteouts; None when layer contents were not read.
    files: Mapping[str, PlacedFile] | None = None
    digest: str = ""  # the manifest digest, when read from a registry
    # Layer sizes are a registry's compressed blob sizes (a metadata-only registry audit), not
    # the unpacked sizes every other source reports.
    compressed_sizes: bool = False
    # How an engine's layers were read (storage, export, cache) and why, for --verbose only.
    read_note: str = ""

    @property
    def content_read(self) -> bool:
        return self.files is not None

    @property
    def own_layers(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.layers if layer.origin is Origin.OWN)

    @property
    def own_size(self) -> int:
        return sum(layer.size for layer in self.own_layers)

    @property
    def own_history(self) -> tuple[HistoryStep, ...]:
        return tuple(step for step in self.history if step.origin is Origin.OWN)

    def layer(self, number: int) -> Layer:
        return self.layers[number - 1]

    def captured(self, path: str) -> bytes | None:
        """Bytes of a small file as the final filesystem holds it, if a rule asked for it."""
        if self.files is None or path not in self.files:
            return None
        content = self.layer(self.files[path].layer).content
        return None if content is None else content.captured.get(path)

    def origin_of_layer(self, number: int | None) -> Origin:
        if number is None:
            return Origin.OWN
        return self.layer(number).origin
