"""Practice 9, no caches left: package-manager caches measured in the layer that wrote them,
including caches a later layer deleted, whose bytes still ship."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from auditor.model.findings import Flag, Passed, Severity
from auditor.model.image import FileKind, Image
from auditor.model.policy import Limits
from auditor.rules.registry import Verdict, rule
from auditor.rules.support import layer_matches, require_content, still_present, where
from auditor.units import human_size, plural

LARGE_CACHE = 1_000_000


@dataclass
class _Cache:
    root: str
    size: int = 0
    files: int = 0
    deleted: int = 0
    roots: set[str] = field(default_factory=set)


def _measure(image: Image, pattern: re.Pattern[str]) -> dict[int, _Cache]:
    found: dict[int, _Cache] = {}
    for layer, entry in layer_matches(image, pattern.search):
        if entry.kind is not FileKind.FILE:
            continue
        match = pattern.search(entry.path)
        assert match is not None  # as layer_matches found it
        cache = found.setdefault(layer.number, _Cache(match.group("root")))
        cache.roots.add(match.group("root"))
        cache.size += entry.size
        cache.files += 1
        if not still_present(image, layer, entry):
            cache.deleted += 1
    return found


def _judge(image: Image, limits: Limits, pattern: re.Pattern[str], what: str
           ) -> Iterator[Verdict]:
    require_content(image)
    found = {n: c for n, c in _measure(image, pattern).items() if c.size >= limits.min_cache_bytes}
    if not found:
        yield Passed(f"no {what} in any layer")
        return
    for number, cache in found.items():
        roots = ", ".join("/" + r for r in sorted(cache.roots)[:3])
        gone = (f"; {cache.deleted} of its files deleted by a later layer, bytes still shipped"
                if cache.deleted else "")
        yield Flag(
            f"{what} left in the image: {human_size(cache.size)} reclaimable",
            f"{where(image, number)}: {roots} ({plural(cache.files, 'file')}, "
            f"{human_size(cache.size)}){gone}",
            layer=number,
            path=cache.root,
            size=cache.size,
            severity=Severity.MEDIUM if cache.size >= LARGE_CACHE else Severity.LOW,
        )


_PIP = re.compile(r"^(?P<root>(.*/)?\.cache/pip|tmp/pip-[^/]+)/")
_OS = re.compile(
    r"^(?P<root>var/cache/apt|var/lib/apt/lists|var/cache/apk|etc/apk/cache|var/cache/yum|"
    r"var/cache/dnf|var/cache/libdnf5|var/cache/tdnf|var/cache/zypp)/(?!(?:.*/)?lock$|partial/?$).+"
)  # apt's empty archives/lock stays after a clean install: a lock file is no cache
_NODE = re.compile(
    r"^(?P<root>(.*/)?\.npm/_cacache|(.*/)?\.cache/yarn|usr/local/share/\.cache/yarn|"
    r"(.*/)?\.pnpm-store|(.*/)?\.cache/pnpm)/"
)


@rule(
    "IA901",
    practice=9,
    title="pip cache left in a layer",
    severity=Severity.MEDIUM,
    rationale="pip keeps downloaded and built wheels under ~/.cache/pip; in an image they are "
    "dead weight, and deleting them in a later layer does not shrink the image.",
    fix="Use `pip install --no-cache-dir` (or `PIP_NO_CACHE_DIR=1`), or a BuildKit cache mount "
    "`RUN --mount=type=cache,target=/root/.cache/pip`.",
    needs_content=True,
)
def pip_cache_left(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Measure bytes under */.cache/pip and /tmp/pip-* in the layer that wrote them."""
    yield from _judge(image, limits, _PIP, "pip cache")


@rule(
    "IA902",
    practice=9,
    title="OS package-manager cache left in a layer",
    severity=Severity.MEDIUM,
    rationale="apt lists and .deb files, apk, dnf, yum and zypper caches are only needed while "
    "installing.",
    fix="Clean in the same RUN: `apt-get install ... && rm -rf /var/lib/apt/lists/*`, "
    "`apk add --no-cache ...`, `dnf install ... && dnf clean all` (yum, tdnf alike) or "
    "`zypper install ... && zypper clean --all`.",
    needs_content=True,
)
def os_package_cache_left(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Measure bytes under apt, apk, yum, dnf (libdnf5), tdnf and zypper caches in the layer
    that wrote them."""
    yield from _judge(image, limits, _OS, "OS package cache")


@rule(
    "IA903",
    practice=9,
    title="Node package cache left in a layer",
    severity=Severity.MEDIUM,
    rationale="npm, yarn and pnpm caches duplicate node_modules in another form.",
    fix="`npm ci && npm cache clean --force` in one RUN, `yarn install && yarn cache clean`, or "
    "a BuildKit cache mount.",
    needs_content=True,
)
def node_cache_left(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Measure bytes under npm, yarn and pnpm caches in the layer that wrote them."""
    yield from _judge(image, limits, _NODE, "Node package cache")
