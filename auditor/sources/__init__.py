"""Sources: however an image arrives (engine, archive, folder), it leaves as one neutral Image."""

from __future__ import annotations

from auditor.model import Image
from auditor.sources.archive import ArchiveSource
from auditor.sources.base import BaseFinder
from auditor.sources.cache import LayerCache
from auditor.sources.daemon import DaemonSource
from auditor.sources.documents import Platform
from auditor.sources.layers import Wanted
from auditor.sources.registry import RegistrySource

__all__ = [
    "BaseFinder", "DaemonSource", "LayerCache", "Platform", "RegistrySource", "Wanted",
    "open_image", "open_images", "split_transport",
]

_TRANSPORTS = ("docker-archive", "oci-archive", "oci", "docker-daemon")


def split_transport(target: str) -> tuple[str, str]:
    """('docker-archive', 'x.tar:app:1') for 'docker-archive:x.tar:app:1'; ('', ref) for a name."""
    if target.startswith("docker://"):
        return "docker", target.removeprefix("docker://")
    head, sep, rest = target.partition(":")
    if sep and head in _TRANSPORTS:
        return head, rest
    return "", target


def open_image(
    target: str,
    wanted: Wanted | None,
    *,
    cache: LayerCache,
    base: str | None = None,
    bases: BaseFinder | None = None,
    registry: RegistrySource | None = None,
    platform: Platform | None = None,
) -> Image:
    """The image a target names. wanted=None reads metadata only and no layer. For docker://
    targets, `platform` picks from a list or index (default: this machine's)."""
    return open_images(target, wanted, cache=cache, base=base, bases=bases,
                       registry=registry, platform=platform)[0]


def open_images(
    target: str,
    wanted: Wanted | None,
    *,
    cache: LayerCache,
    base: str | None = None,
    bases: BaseFinder | None = None,
    registry: RegistrySource | None = None,
    platform: Platform | None = None,
    all_platforms: bool = False,
) -> list[Image]:
    """As open_image; with all_platforms, a docker:// list or index gives one Image per platform.
    `bases`: the BaseFinder every source shares, so that a run searches the engine once."""
    transport, rest = split_transport(target)
    bases = bases or BaseFinder()
    if transport in ("docker-archive", "oci-archive", "oci"):
        return [ArchiveSource(bases).open(rest, wanted, cache, base, reference=target)]
    if transport == "docker":
        return (registry or RegistrySource(bases=bases)).open_all(
            target, wanted, cache, base, platform, all_platforms=all_platforms)
    return [DaemonSource(bases).open(rest, wanted, cache, base)]
