"""OCI and Docker image documents, as every source reads them: media types, digests, the image
config's shape, the entries of an index or manifest list, and which platform an entry is for."""

from __future__ import annotations

import datetime
import enum
import hashlib
import platform as host
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.errors import UnsupportedManifest, UsageError
from auditor.text import printable

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
CONFIG_TYPES = frozenset(
    {"application/vnd.docker.container.image.v1+json", "application/vnd.oci.image.config.v1+json"}
)
# A filesystem layer's media type begins so (tar, +gzip, +zstd, foreign and nondistributable);
# some tools leave it out.
LAYER_TYPE_PREFIXES = ("application/vnd.oci.image.layer.", "application/vnd.docker.image.rootfs.")

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")
DIGEST_FORM = "sha256:<64 hex digits> or sha512:<128 hex digits>"

# platform.machine() to the architecture (and variant) names of image configs, Go's GOARCH
_MACHINES = {
    "x86_64": ("amd64", ""), "amd64": ("amd64", ""), "aarch64": ("arm64", ""),
    "arm64": ("arm64", ""), "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"),
    "i386": ("386", ""), "i686": ("386", ""), "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""), "riscv64": ("riscv64", ""),
}
# the variant an architecture means when none is named
_DEFAULT_VARIANTS = {"arm64": "v8", "arm": "v7"}
# the annotations that name the image an index entry is (containerd's, then OCI's)
_NAME_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")


class DigestAlgorithm(enum.Enum):
    """The algorithms imgaudit can check a digest with, and the hex length of each."""

    SHA256 = "sha256"
    SHA512 = "sha512"

    @property
    def hex_length(self) -> int:
        return 64 if self is DigestAlgorithm.SHA256 else 128


@dataclass(frozen=True, slots=True)
class Digest:
    """A content digest, parsed: an algorithm from a closed set and lowercase hex of its exact
    length. A digest becomes a path, a URL or a cache key only from here, never pasted."""

    algorithm: DigestAlgorithm
    hex: str

    def __post_init__(self) -> None:
        if len(self.hex) != self.algorithm.hex_length or not _HEX.fullmatch(self.hex):
            raise ValueError(f"not {self.algorithm.hex_length} lowercase hex digits")

    @classmethod
    def parse(cls, text: str) -> Digest | None:
        """The digest `text` is (DIGEST_FORM), or None."""
        if _DIGEST.fullmatch(text) is None:
            return None
        algorithm, _, hexpart = text.partition(":")
        return cls(DigestAlgorithm(algorithm), hexpart)

    @classmethod
    def of(cls, data: bytes, algorithm: DigestAlgorithm = DigestAlgorithm.SHA256) -> Digest:
        """The digest of `data` by `algorithm`."""
        return cls(algorithm, hashlib.new(algorithm.value, data).hexdigest())

    def hasher(self) -> Any:
        """A new hashlib object of this digest's algorithm."""
        return hashlib.new(self.algorithm.value)

    @property
    def blob_path(self) -> str:
        """Where an OCI layout keeps the blob: blobs/<algorithm>/<hex>."""
        return f"blobs/{self.algorithm.value}/{self.hex}"

    def __str__(self) -> str:
        return f"{self.algorithm.value}:{self.hex}"


_HEX = re.compile(r"[0-9a-f]+")


def is_digest(text: str) -> bool:
    """Whether `text` is a digest imgaudit can check (DIGEST_FORM)."""
    return Digest.parse(text) is not None


def check_digests(shown: str, what: str, digests: Sequence[object]) -> list[Digest]:
    """Every digest an image names is parsed before anything is read by it: an algorithm
    imgaudit does not know, a malformed digest or no text at all is refused, never trusted.
    `what` names the digest's place, `{n}` its number (from 1)."""
    parsed = []
    for number, text in enumerate(digests, 1):
        digest = Digest.parse(text) if isinstance(text, str) else None
        if digest is None:
            raise UnsupportedManifest(
                f"{shown} names {what.format(n=number)} by {printable(str(text), 80)!r}, not a "
                f"digest imgaudit can check ({DIGEST_FORM})",
                hint="imgaudit verifies sha256 and sha512 digests only; push the image again "
                "with a current Docker or buildah")
        parsed.append(digest)
    return parsed


def json_list(value: Any) -> list[Any]:
    """A JSON value that should be a list: itself, or [] for null or any other type."""
    return value if isinstance(value, list) else []


def tolerant_config(document: Any) -> dict[str, Any] | None:
    """An image config with the one shape its readers rely on: history, a list of objects (a null
    entry, written by some tools, reads as an empty step); rootfs an object whose diff_ids is a
    list; None when it is no JSON object."""
    if not isinstance(document, dict):
        return None
    config: dict[str, Any] = document
    rootfs = config.get("rootfs")
    if rootfs is not None and not (isinstance(rootfs, dict)
                                   and isinstance(rootfs.get("diff_ids", []), list)):
        config = {**config, "rootfs": {"diff_ids": []}}
    history = config.get("history")
    if history is None:
        return config
    steps = json_list(history)
    return {**config, "history": [step if isinstance(step, dict) else {} for step in steps]}


@dataclass(frozen=True, slots=True)
class Platform:
    """OS/ARCH[/VARIANT], as in `--platform linux/arm64`."""

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().lower().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(
                f"{text!r} is not a platform",
                hint="write OS/ARCH[/VARIANT], for example linux/amd64 or linux/arm/v7")
        return cls(*parts)

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> Platform:
        """The platform of an index entry's `platform` object, or of an image config."""
        return cls(str(entry.get("os") or ""), str(entry.get("architecture") or ""),
                   str(entry.get("variant") or ""))

    def matches(self, other: Platform) -> bool:
        """Whether `other` (what an image is) satisfies this (what is wanted); no variant wanted
        takes any, and arm64 means arm64/v8."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        default = _DEFAULT_VARIANTS.get(self.architecture, "")
        return not self.variant or (self.variant or default) == (other.variant or default)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def host_platform() -> Platform:
    """This machine's platform as images name it: linux and Go's name for the CPU."""
    architecture, variant = _MACHINES.get(host.machine().lower(), (host.machine().lower(), ""))
    return Platform("linux", architecture, variant)


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One manifest (or nested index) that an image index or manifest list names by digest."""

    descriptor: Mapping[str, Any]
    platform: Platform

    @property
    def digest(self) -> str:
        return str(self.descriptor["digest"])

    @property
    def media_type(self) -> str:
        return str(self.descriptor.get("mediaType", ""))

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def is_attestation(self) -> bool:
        """BuildKit's provenance and SBOM manifests, listed as platform unknown/unknown."""
        annotations = self.descriptor.get("annotations") or {}
        return "vnd.docker.reference.type" in annotations or self.platform.os == "unknown"

    @property
    def names(self) -> tuple[str, ...]:
        """The image names its annotations give (a `docker save` index has them)."""
        annotations = self.descriptor.get("annotations") or {}
        return tuple(str(annotations[key]) for key in _NAME_ANNOTATIONS if key in annotations)


def entries(index: Mapping[str, Any]) -> list[IndexEntry]:
    """Every entry of an index that names a digest, as listed (attestations too)."""
    return [
        IndexEntry(descriptor, Platform.of(descriptor.get("platform") or {}))
        for descriptor in index.get("manifests") or ()
        if isinstance(descriptor, dict) and descriptor.get("digest")
    ]


def image_entries(index: Mapping[str, Any]) -> list[IndexEntry]:
    """The images a manifest list or index names, with their platforms; attestations left out.
    UnsupportedManifest when one is named by what is not a digest imgaudit can check."""
    found = [entry for entry in entries(index) if not entry.is_attestation]
    check_digests("an index", "its manifest {n}", [entry.digest for entry in found])
    return found


def best_match(found: Sequence[IndexEntry], wanted: Platform | None) -> list[IndexEntry]:
    """The one entry for `wanted` (default: this machine's platform): the exact variant first,
    then the architecture's default variant, then the first listed; [] when none fits."""
    target = wanted or host_platform()
    matching = [entry for entry in found if target.matches(entry.platform)]
    default = _DEFAULT_VARIANTS.get(target.architecture, "")
    matching.sort(key=lambda entry: (entry.platform.variant != target.variant,
                                     entry.platform.variant not in ("", default)))
    return matching[:1]


_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def when_created(created: str) -> datetime.datetime:
    """An image config's `created` (RFC 3339, maybe with nanoseconds) as an aware datetime;
    the epoch when absent or unreadable, so such images rank oldest."""
    text = _FRACTION.sub(r"\1", created.strip()).replace("Z", "+00:00")
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return datetime.datetime.fromtimestamp(0, datetime.timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment
