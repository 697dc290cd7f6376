"""What an image is called: the repository a reference names whatever its transport, every name
a waiver or a baseline may know an image by, and its platform. Pure string work, no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable

from auditor.model.image import Image

REGISTRY = "docker://"
DAEMONS = ("docker-daemon:", "podman:")
# Targets that name a file or folder: the path is no name (it may be a temporary one).
ARCHIVES = ("docker-archive:", "oci-archive:", "oci:")
# `docker://reg/app:1 (linux/arm64)`: the suffix an --all-platforms audit gives each image
_PLATFORM = re.compile(r"\s+\(([A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+){0,2})\)$")
_IMAGE_ID = re.compile(r"^(sha256:)?[0-9a-f]{12,64}$")
# Docker Hub's hosts, which the engine leaves out of its names (`python:3.12`)
_HUB = ("docker.io/", "index.docker.io/")


def platform_suffix(reference: str) -> str:
    """`linux/arm64` of `docker://reg/app:1 (linux/arm64)`; "" when there is none."""
    found = _PLATFORM.search(reference) if reference.startswith(REGISTRY) else None
    return found.group(1) if found else ""


def _plain(name: str) -> str:
    """The name without `docker://` and its platform suffix, or without `docker-daemon:` or
    `podman:`."""
    name = name.strip()
    if name.startswith(REGISTRY):
        return _PLATFORM.sub("", name).removeprefix(REGISTRY)
    return next((name.removeprefix(d) for d in DAEMONS if name.startswith(d)), name)


def familiar(name: str) -> str:
    """A Docker Hub name as the engine shows it: `python:3.12` for
    `docker.io/library/python:3.12`; any other name unchanged."""
    for host in _HUB:
        if name.startswith(host):
            name = name.removeprefix(host)
            return name.removeprefix("library/")
    return name


def _is_archive(name: str) -> bool:
    return name.startswith(ARCHIVES)


def _is_bare_tag(name: str) -> bool:
    """An OCI `ref.name` such as `1` or `latest`: a tag of no particular repository."""
    return ":" not in name and "/" not in name and "@" not in name


def repository(reference: str) -> str:
    """The repository a reference names, with its registry host and without `docker://`, a
    platform suffix, tag or digest: `ghcr.io/org/app` for `docker://ghcr.io/org/app:1.4
    (linux/arm64)`, `ghcr.io/org/app@sha256:...` or `ghcr.io/org/app:1.4`; `localhost:5000/app`
    for `localhost:5000/app:1`; Docker Hub names in the engine's form (`python`). "" for an
    image ID and for an archive or layout target, whose path names no repository."""
    name = _plain(reference)
    if not name or _is_archive(name) or _IMAGE_ID.match(name):
        return ""
    name = name.split("@", 1)[0]
    head, sep, tail = name.rpartition(":")
    if sep and "/" not in tail:
        name = head
    return familiar(name)


def _sources(reference: str, repo_tags: Iterable[str]) -> list[str]:
    return [reference, *(tag for tag in repo_tags if tag and not _is_bare_tag(tag))]


def references(reference: str, repo_tags: Iterable[str] = ()) -> set[str]:
    """The names, tag or digest included, that say which image this is: the reference as
    given and without scheme or platform, and each repository tag, each also in the engine's
    form for Docker Hub."""
    found = {reference} if reference else set()
    for name in _sources(reference, repo_tags):
        plain = _plain(name)
        if plain:
            found.update((plain, familiar(plain)))
    return found


def repositories(reference: str, repo_tags: Iterable[str] = ()) -> set[str]:
    """The repositories of the reference and of each repository tag (see `repository`)."""
    return {repo for repo in map(repository, _sources(reference, repo_tags)) if repo}


def names(reference: str, repo_tags: Iterable[str] = ()) -> set[str]:
    """Every name the image is known by: `references` and `repositories` together."""
    return references(reference, repo_tags) | repositories(reference, repo_tags)


def image_names(image: Image) -> set[str]:
    """Every name of an image: a waiver's `images` glob matches any of them."""
    return names(image.reference, image.repo_tags)


def image_repository(image: Image) -> str:
    """The image's repository: its reference's, else (an archive, an image ID) that of its
    first repository tag; "" when it has none."""
    return next(
        (repo for repo in map(repository, _sources(image.reference, image.repo_tags)) if repo),
        "",
    )


def platform(image: Image) -> str:
    """`os/arch[/variant]` of the image; "" when its architecture is not known."""
    return f"{image.os or 'linux'}/{image.architecture}" if image.architecture else ""


def same_platform(one: str, other: str) -> bool:
    """Whether two `os/arch[/variant]` can be the same platform: an unknown one can be any, and
    a variant counts only when both name one (an engine leaves `v8` out of `linux/arm64`)."""
    if not one or not other:
        return True
    a, b = one.split("/"), other.split("/")
    return a[:2] == b[:2] and (len(a) < 3 or len(b) < 3 or a[2] == b[2])
