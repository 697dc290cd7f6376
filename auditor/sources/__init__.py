"""Sources: however an image arrives (engine, archive, folder), it leaves as one neutral Image."""

from __future__ import annotations

import dataclasses

from auditor.errors import UnsupportedSource
from auditor.model import Image
from auditor.sources.archive import ArchiveSource
from auditor.sources.cache import LayerCache
from auditor.sources.daemon import DaemonSource
from auditor.sources.layers import Wanted

__all__ = ["DaemonSource", "LayerCache", "Wanted", "open_image", "split_transport"]

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
    daemon: DaemonSource | None = None,
) -> Image:
    """The image a target names. wanted=None reads metadata only and no layer."""
    transport, rest = split_transport(target)
    if transport in ("docker-archive", "oci-archive", "oci"):
        image = ArchiveSource(daemon).open(rest, wanted, cache, base)
        return dataclasses.replace(image, reference=target)
    if transport == "docker":
        raise UnsupportedSource(
            f"registry sources (docker://) are not supported by this version: {target}",
            hint="pull or save the image first: docker save IMAGE -o image.tar",
        )
    return (daemon or DaemonSource()).open(rest, wanted, cache, base)
