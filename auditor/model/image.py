"""The neutral image model every source builds: config, history, layers and the files
they add. Nothing here does I/O."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


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


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One tar header of a layer. Paths are relative, without a leading slash."""

    path: str
    size: int
    kind: FileKind
    mode: int
    uid: int
    gid: int
    linkname: str = ""


@dataclass(frozen=True, slots=True)
class LayerContent:
    """What one streaming pass over a layer tar learned: headers, whiteouts, a few small files."""

    entries: tuple[FileEntry, ...]
    whiteouts: tuple[str, ...] = ()
    opaque_dirs: tuple[str, ...] = ()
    captured: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))
    tar_size: int = 0


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


@dataclass(frozen=True, slots=True)
class BaseBoundary:
    """Where the base image ends: layers numbered up to own_from - 1 belong to it."""

    own_from_layer: int  # first layer number of the image's own build (1 = all own)
    own_from_history: int  # first history index of the image's own build
    method: str  # "option", "local-image", "archive-image", "label", "history", "none"
    evidence: str
    base_reference: str = ""


@dataclass(frozen=True, slots=True)
class PlacedFile:
    """A path of the final filesystem and the layer that last wrote it."""

    entry: FileEntry
    layer: int


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
