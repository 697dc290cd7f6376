"""Sources: however an image arrives (engine, archive, folder, registry), it leaves as one neutral
Image. TRANSPORTS names the source class that reads each kind of target; Sources holds one of each
for a run and opens a target with the one its transport names."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from auditor.model.image import Image
from auditor.sources.archive import ArchiveSource
from auditor.sources.base import BaseFinder
from auditor.sources.cache import LayerCache
from auditor.sources.daemon import DaemonSource, PodmanSource
from auditor.sources.documents import Platform
from auditor.sources.interface import DEFAULT, REGISTRY, ImageSource, OpenRequest, Target
from auditor.sources.layers import Wanted
from auditor.sources.registry import RegistryClient, RegistrySource

__all__ = [
    "TRANSPORTS", "ImageSource", "LayerCache", "OpenRequest", "Platform", "Sources", "Target",
    "Wanted", "parse_target",
]

# Which source reads a target, by its transport: the word before `:` (`docker://` for a
# registry), DEFAULT for a bare NAME[:TAG], NAME@DIGEST or image ID.
TRANSPORTS: Mapping[str, type[ImageSource]] = MappingProxyType({
    "docker-archive": ArchiveSource,
    "oci-archive": ArchiveSource,
    "oci": ArchiveSource,
    "docker-daemon": DaemonSource,
    "podman": PodmanSource,
    REGISTRY: RegistrySource,
    DEFAULT: DaemonSource,
})


def parse_target(text: str) -> Target:
    """The target's transport and the rest: `docker-archive:x.tar:app:1` is ('docker-archive',
    'x.tar:app:1'), `docker://reg/app:1` ('docker', 'reg/app:1'), `app:1` ('', 'app:1')."""
    registry = f"{REGISTRY}://"
    if text.startswith(registry):
        return Target(REGISTRY, text.removeprefix(registry))
    head, sep, rest = text.partition(":")
    if sep and head in TRANSPORTS and head not in (REGISTRY, DEFAULT):
        return Target(head, rest)
    return Target(DEFAULT, text)


class Sources:
    """One run's sources, one of each class in TRANSPORTS. They share one BaseFinder, hence one
    engine connection and what it found of the engine's images, and the registry clients;
    PodmanSource has its own, on podman's images."""

    def __init__(self, clients: Callable[[str], RegistryClient] | None = None, *,
                 bases: BaseFinder | None = None) -> None:
        bases = bases or BaseFinder()
        made: Mapping[type[ImageSource], ImageSource] = {
            ArchiveSource: ArchiveSource(bases),
            DaemonSource: DaemonSource(bases),
            PodmanSource: PodmanSource(),
            RegistrySource: RegistrySource(clients, bases=bases),
        }
        self._by_transport = {transport: made[kind] for transport, kind in TRANSPORTS.items()}

    def open(self, target: str, request: OpenRequest) -> list[Image]:
        """The image `target` names (a list or index with all_platforms: one per platform)."""
        parsed = parse_target(target)
        return self._by_transport[parsed.transport].open(parsed, request)
