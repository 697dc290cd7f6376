"""What every source is: a target as the user wrote it (its transport and the rest), what is asked
of it (OpenRequest), and the ImageSource protocol that turns the two into neutral Images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from auditor.model.image import Image
from auditor.model.policy import ReadPath
from auditor.sources.cache import LayerCache
from auditor.sources.documents import Platform
from auditor.sources.layers import Wanted

REGISTRY = "docker"  # the transport written `docker://`; every other is written `NAME:`
DEFAULT = ""  # no transport: NAME[:TAG], NAME@DIGEST or an image ID, in the engine


@dataclass(frozen=True, slots=True)
class Target:
    """`docker-archive:x.tar:app:1` as ('docker-archive', 'x.tar:app:1'), `docker://reg/app:1` as
    ('docker', 'reg/app:1'), `app:1` as ('', 'app:1')."""

    transport: str
    rest: str

    @property
    def text(self) -> str:
        """The target as written."""
        if self.transport == REGISTRY:
            return f"{REGISTRY}://{self.rest}"
        return f"{self.transport}:{self.rest}" if self.transport else self.rest


@dataclass(frozen=True, slots=True)
class OpenRequest:
    """What is wanted of a target: `wanted` files (None: metadata only, no layer is read), the
    layer cache, the --base image, and of a list or index (docker://) the `platform` (None:
    this machine's) or every platform; of an engine's image, how its layers are `read`."""

    wanted: Wanted | None
    cache: LayerCache
    base: str | None = None
    platform: Platform | None = None
    all_platforms: bool = False
    read: ReadPath = ReadPath.AUTO


class ImageSource(Protocol):
    """Reads the images that targets of its transports name."""

    def open(self, target: Target, request: OpenRequest) -> list[Image]:
        """The image the target names; with all_platforms, a list or index gives one per
        platform. Raises only ImgauditError (SourceError and its kinds)."""
        ...
