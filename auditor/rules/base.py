"""Practice 1, a lightweight base: size, the base's share of it, and build toolchains left in."""

from __future__ import annotations

import re
from collections.abc import Iterator

from auditor.model.findings import Flag, NotApplicable, Passed, Severity, Subject, SubjectKind
from auditor.model.image import FileKind, Image, Origin
from auditor.model.policy import Limits
from auditor.rules.registry import Verdict, rule
from auditor.rules.support import OS_RELEASE_FILES, require_content, where
from auditor.units import human_size, plural


def distribution(image: Image) -> str:
    """PRETTY_NAME (or NAME VERSION_ID) from os-release; '' when unknown."""
    for path in OS_RELEASE_FILES:
        data = image.captured(path)
        if data is None:
            continue
        fields = {}
        for line in data.decode("utf-8", "replace").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                fields[key.strip()] = value.strip().strip("\"'")
        return fields.get("PRETTY_NAME") or " ".join(
            v for v in (fields.get("NAME", ""), fields.get("VERSION_ID", "")) if v
        )
    return ""


@rule(
    "IA101",
    practice=1,
    title="Image is large",
    severity=Severity.MEDIUM,
    rationale="Every megabyte is pulled by every node and scanned by every scanner; large images "
    "start slower and carry more to attack.",
    fix="Start from a -slim, alpine or distroless base and copy only build outputs into the final "
    "stage of a multi-stage build.",
)
def image_is_large(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag an image whose total size, or whose own layers' size, exceeds its limit."""
    flagged = False
    if image.size > limits.max_size:
        flagged = True
        yield Flag(
            f"image is {human_size(image.size)}, over the {human_size(limits.max_size)} limit",
            f"size {human_size(image.size)} in {plural(len(image.layers), 'layer')}",
            origin=Origin.OWN,
        )
    if image.own_size > limits.max_own_size:
        flagged = True
        biggest = max(image.own_layers, key=lambda layer: layer.size)
        yield Flag(
            f"the image's own layers add {human_size(image.own_size)}, over the "
            f"{human_size(limits.max_own_size)} limit",
            f"largest: {where(image, biggest.number)}, {human_size(biggest.size)}",
            layer=biggest.number,
        )
    if not flagged:
        yield Passed(
            f"{human_size(image.size)} in all (limit {human_size(limits.max_size)}), "
            f"{human_size(image.own_size)} own (limit {human_size(limits.max_own_size)})"
        )


@rule(
    "IA102",
    practice=1,
    title="Base image is heavy",
    severity=Severity.LOW,
    rationale="A full distribution base ships compilers, shells and libraries the app never uses.",
    fix="Switch FROM to a -slim, alpine or distroless variant of the same base.",
    files=OS_RELEASE_FILES,
)
def base_is_heavy(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag a base image whose layers exceed the base-size limit; name its distribution."""
    distro = distribution(image)
    named = f" ({distro})" if distro else ""
    base_layers = [layer for layer in image.layers if layer.origin is Origin.BASE]
    if not base_layers:
        if image.boundary.method == "none":
            raise NotApplicable(f"no base image identified{named}")
        yield Passed(f"FROM scratch or an empty base{named}")
        return
    base_size = sum(layer.size for layer in base_layers)
    reference = image.boundary.base_reference or "the base image"
    if base_size > limits.max_base_size:
        yield Flag(
            f"{reference}{named} is {human_size(base_size)}, over the "
            f"{human_size(limits.max_base_size)} limit for a base",
            f"layers 1-{len(base_layers)}: {human_size(base_size)}; {image.boundary.evidence}",
            layer=base_layers[-1].number,
            origin=Origin.OWN,  # choosing the base is the image's own decision
            subject=Subject(SubjectKind.BASE_IMAGE),
        )
        return
    yield Passed(f"{reference}{named}: {human_size(base_size)} in "
                 f"{plural(len(base_layers), 'layer')}")


_TOOLCHAIN = re.compile(
    r"^(usr/(local/)?bin/(gcc|g\+\+|cc|c\+\+|clang|clang\+\+|make|gmake|cmake|ld|as|rustc|cargo|"
    r"go|javac|gfortran)(-[\d.]+)?|usr/local/go/bin/go|usr/lib/gcc/[^/]+/[^/]+/cc1)$"
)
_DEV_PACKAGE = re.compile(r"^var/lib/dpkg/info/(?P<name>[^/]+-dev)(:[a-z0-9]+)?\.list$")
# A path either of the two matches, found in one match: the paths worth asking both.
_BUILD_TOOL = re.compile(f"(?:{_TOOLCHAIN.pattern})|(?:{_DEV_PACKAGE.pattern})")


@rule(
    "IA103",
    practice=1,
    title="Build toolchain left in the final image",
    severity=Severity.MEDIUM,
    rationale="Compilers and headers are needed to build, not to run; shipped, they add size and "
    "hand an attacker a toolchain.",
    fix="Build in a first stage (FROM ... AS build) and COPY --from=build only the artifacts into "
    "a slim final stage.",
    needs_content=True,
    files=("lib/apk/db/installed",),
)
def build_tools_left(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag compilers, make and *-dev packages present in the final filesystem."""
    require_content(image)
    found: dict[Origin, list[tuple[str, int]]] = {Origin.OWN: [], Origin.BASE: []}
    files = image.files or {}
    for path in filter(_BUILD_TOOL.match, files):
        placed = files[path]
        if placed.entry.kind is FileKind.DIR:
            continue
        dev = _DEV_PACKAGE.match(path)
        if _TOOLCHAIN.match(path) or dev:
            label = dev.group("name") + " (package)" if dev else "/" + path
            found[image.layer(placed.layer).origin].append((label, placed.layer))
    apk = image.captured("lib/apk/db/installed")
    if apk and image.files and "lib/apk/db/installed" in image.files:
        layer = image.files["lib/apk/db/installed"].layer
        for line in apk.decode("utf-8", "replace").splitlines():
            name = line[2:].strip()
            if line.startswith("P:") and (name.endswith("-dev") or name in ("gcc", "build-base",
                                                                              "make", "musl-dev")):
                found[image.layer(layer).origin].append((name + " (apk package)", layer))
    if not found[Origin.OWN] and not found[Origin.BASE]:
        yield Passed("no compiler, make or -dev package in the final filesystem")
        return
    for origin, items in found.items():
        if not items:
            continue
        items.sort()
        shown = ", ".join(label for label, _ in items[:5])
        more = f" and {len(items) - 5} more" if len(items) > 5 else ""
        yield Flag(
            f"{plural(len(items), 'build tool')} left in the image, from the "
            f"{'base image' if origin is Origin.BASE else 'image own layers'}",
            f"{where(image, items[0][1])}: {shown}{more}",
            layer=items[0][1],
            origin=origin,
        )
