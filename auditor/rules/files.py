"""Files the image's layers added that it should not ship, with the step that most likely
dragged them in: VCS metadata, build clutter and huge zero-filled files (practice 4, only
necessary files), and secret-bearing files (the secrets group)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from auditor.model.findings import Flag, Passed, Severity
from auditor.model.image import ZERO_FILE_MIN, FileEntry, FileKind, Image, Layer, Origin
from auditor.model.policy import Limits
from auditor.redact import describe_step
from auditor.rules.registry import Verdict, rule
from auditor.rules.secrets import SECRETS_PRACTICE
from auditor.rules.support import (
    any_component,
    is_library_path,
    layer_matches,
    layer_step,
    require_content,
    still_present,
    where,
)
from auditor.units import human_size

_SECRET_FILE = re.compile(
    r"(^|/)(\.env(\.(?!example$|sample$|template$|dist$|defaults?$)[\w.-]+)?|"
    r"id_(rsa|dsa|ecdsa|ed25519)|[^/]*private[^/]*\.(pem|key)|[^/]+\.key|[^/]+\.(p12|pfx|jks|kdbx)|"
    r"\.git-credentials|credentials\.json|service[-_]account[^/]*\.json|\.htpasswd|\.pgpass)$"
)  # cloud and tool logins (.aws/, .npmrc, .docker/config.json, ...) are IA1104's, by content
# Files that are a credential by themselves, not files that may hold one (.env, .npmrc): private
# keys and key stores, git and cloud credential stores. Leaked, each is a rotate-now finding.
_CREDENTIAL_FILE = re.compile(
    r"(^|/)(id_(rsa|dsa|ecdsa|ed25519)|[^/]*private[^/]*\.(pem|key)|[^/]+\.key|"
    r"[^/]+\.(p12|pfx|jks)|\.git-credentials|service[-_]account[^/]*\.json|"
    r"\.pgpass)$"
)
_VCS = re.compile(r"(^|/)(\.git|\.svn|\.hg|\.bzr)(/|$)")
_CLUTTER: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Dockerfile",
     re.compile(r"(^|/)(Dockerfile|[^/]+\.dockerfile|Containerfile|\.dockerignore)$")),
    ("compose file", re.compile(r"(^|/)(docker-)?compose[^/]*\.ya?ml$")),
    ("test suite", re.compile(r"(^|/)(tests?|__tests__|spec)/")),
    ("bytecode cache", re.compile(r"(^|/)__pycache__/")),
    ("IDE folder", re.compile(r"(^|/)(\.idea|\.vscode|\.vs|\.eclipse)/")),
    ("OS clutter", re.compile(r"(^|/)(\.DS_Store|Thumbs\.db|desktop\.ini)$")),
    ("tool cache", re.compile(r"(^|/)(\.pytest_cache|\.mypy_cache|\.ruff_cache|\.tox|\.nox|"
                              r"\.coverage|htmlcov|\.cache/pre-commit)(/|$)")),
    ("CI config", re.compile(r"(^|/)(\.github|\.gitlab-ci\.yml|\.circleci|\.travis\.yml)(/|$)")),
)
# A path any of _CLUTTER finds, found in one search: the entries worth asking _clutter_kind.
_ANY_CLUTTER = any_component(pattern for _, pattern in _CLUTTER)
# Copy steps that take the whole build context: `COPY . .`, `COPY . /app`, classic `dir:<hash>`.
_WHOLE_CONTEXT = re.compile(r"^(--\S+\s+)*\.(/)?\s+\S+$|^dir:[0-9a-f]+ in ")


def _copies_context(image: Image, layer: Layer) -> str:
    step = layer_step(image, layer)
    if step is None or step.instruction not in ("COPY", "ADD"):
        return ""
    if _WHOLE_CONTEXT.match(step.body):
        return (f"; likely cause: {describe_step(step)} copies the whole build context "
                "(add a .dockerignore)")
    return ""


@dataclass
class _Group:
    layer: Layer
    paths: list[str] = field(default_factory=list)
    size: int = 0
    deleted: int = 0


def _report(image: Image, label: str, groups: dict[int, _Group]) -> Iterator[Flag]:
    """One flag per layer's group, covering every path of it."""
    for group in groups.values():
        shown = ", ".join("/" + p for p in group.paths[:3])
        more = f" and {len(group.paths) - 3} more" if len(group.paths) > 3 else ""
        deleted = (f"; {group.deleted} deleted by a later layer but still shipped"
                   if group.deleted else "")
        yield Flag(
            f"{label} in the image: {len(group.paths)} path{'s' if len(group.paths) != 1 else ''}"
            f", {human_size(group.size)}",
            f"{where(image, group.layer.number)}: {shown}{more}{deleted}"
            f"{_copies_context(image, group.layer)}",
            layer=group.layer.number,
            paths=tuple(group.paths),
            size=group.size,
        )


def _collect(image: Image, match: re.Pattern[str]) -> dict[int, _Group]:
    """Own-layer paths matching `match`, grouped by layer, one path per match root (the .git
    folder rather than each object in it); the size is that of every entry below the roots."""
    groups: dict[int, _Group] = {}
    seen_roots: set[tuple[int, str]] = set()
    for layer, entry in layer_matches(image, match.search, Origin.OWN):
        if is_library_path(entry.path):
            continue
        found = match.search(entry.path)
        assert found is not None  # as layer_matches found it
        group = groups.setdefault(layer.number, _Group(layer))
        group.size += entry.size
        root = entry.path[: found.end()].rstrip("/")
        if (layer.number, root) in seen_roots:
            continue
        seen_roots.add((layer.number, root))
        group.paths.append(root)
        if not still_present(image, layer, entry):
            group.deleted += 1
    return {k: g for k, g in groups.items() if g.paths}


@rule(
    "IA401",
    practice=SECRETS_PRACTICE,
    title="Secret-bearing files copied into the image",
    severity=Severity.HIGH,
    rationale="Anyone who can pull the image can read a copied .env, private key or token file, "
    "even after a later layer deletes it.",
    fix="List .env, keys and credential files in .dockerignore; pass secrets at run time or with "
    "`RUN --mount=type=secret`.",
    needs_content=True,
    tags=("security", "external/cwe/cwe-538"),
)
def secret_files_copied(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag .env files, private keys and credential files in the image's own layers, one
    finding per file: each is its own secret to rotate, waive or fix. A private key or a
    credential store is critical: it is a credential by itself, not a file that may hold one."""
    require_content(image)
    found = False
    for layer, entry in layer_matches(image, _SECRET_FILE.search, Origin.OWN):
        if entry.kind is FileKind.DIR or is_library_path(entry.path):
            continue
        found = True
        deleted = ("; deleted by a later layer but still shipped"
                   if not still_present(image, layer, entry) else "")
        yield Flag(
            f"secret-bearing file in the image: /{entry.path}, {human_size(entry.size)}",
            f"{where(image, layer.number)}: /{entry.path}{deleted}{_copies_context(image, layer)}",
            layer=layer.number,
            severity=Severity.CRITICAL if _CREDENTIAL_FILE.search(entry.path) else None,
            path=entry.path,
            size=entry.size,
        )
    if not found:
        yield Passed("no .env, private key or credential file in the image's own layers")


@rule(
    "IA402",
    practice=4,
    title="Version-control metadata copied into the image",
    severity=Severity.MEDIUM,
    rationale="A .git folder ships the whole history, often with removed secrets and internal "
    "URLs, and bloats the layer.",
    fix="Add .git (and .svn, .hg) to .dockerignore, or copy only the files the app needs.",
    needs_content=True,
)
def vcs_metadata_copied(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag .git, .svn, .hg and .bzr folders in the image's own layers."""
    require_content(image)
    groups = _collect(image, _VCS)
    if not groups:
        yield Passed("no .git, .svn, .hg or .bzr folder in the image's own layers")
        return
    yield from _report(image, "version-control metadata", groups)


def _clutter_kind(entry: FileEntry) -> str:
    for label, pattern in _CLUTTER:
        if pattern.search(entry.path):
            return label
    return ""


@rule(
    "IA403",
    practice=4,
    title="Build and development clutter copied into the image",
    severity=Severity.LOW,
    rationale="Dockerfiles, compose files, test suites, caches and IDE folders are not needed at "
    "run time; they add size and reveal internals.",
    fix="Add them to .dockerignore and copy explicit paths (`COPY app/ ./app/`) instead of the "
    "whole context.",
    needs_content=True,
)
def build_clutter_copied(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag Dockerfiles, compose files, tests, __pycache__ from the context, IDE folders and the
    like in the image's own layers (pip's own __pycache__ under site-packages is not clutter)."""
    require_content(image)
    by_kind: dict[str, dict[int, _Group]] = {}
    for layer, entry in layer_matches(image, _ANY_CLUTTER.search, Origin.OWN):
        if is_library_path(entry.path) or entry.kind is FileKind.DIR:
            continue
        kind = _clutter_kind(entry)
        if not kind:
            continue
        step = layer_step(image, layer)
        if kind == "bytecode cache" and step is not None and step.instruction == "RUN":
            continue  # compiled by the build itself, not copied from the context
        group = by_kind.setdefault(kind, {}).setdefault(layer.number, _Group(layer))
        group.size += entry.size
        group.paths.append(entry.path)
        if not still_present(image, layer, entry):
            group.deleted += 1
    if not by_kind:
        yield Passed("no Dockerfile, compose file, tests, caches or IDE folders in own layers")
        return
    for kind, groups in sorted(by_kind.items()):
        yield from _report(image, kind, groups)


# What `useradd` writes for a UID of N unless told --no-log-init: records up to N, zeros below.
_LOGIN_LOG = re.compile(r"^var/log/(faillog|lastlog)$")


@rule(
    "IA404",
    practice=4,
    title="Huge zero-filled file in a layer",
    severity=Severity.MEDIUM,
    rationale="A layer's tar holds no holes: a file of nothing but zeros ships its full size, "
    "to pull, store and unpack for nothing. `useradd` with a large UID writes /var/log/faillog "
    "and /var/log/lastlog so, sized by the UID.",
    fix="Create users with `useradd --no-log-init` (or empty /var/log/faillog and lastlog in the "
    "same RUN); make large files at run time, not in the image.",
    needs_content=True,
)
def zero_filled_file_shipped(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag files of 16 MiB or more that hold nothing but zeros, in any layer, seen as the layer
    streamed past. A zero-filled faillog or lastlog is named as what useradd left for a large
    UID, with its own fix."""
    require_content(image)
    found = False
    for layer in image.layers:
        if layer.content is None or not layer.content.zero_files:
            continue
        zero = set(layer.content.zero_files)
        for entry in layer.content.entries:
            if entry.path not in zero:
                continue
            found = True
            deleted = ("; deleted by a later layer but still shipped"
                       if not still_present(image, layer, entry) else "")
            if _LOGIN_LOG.match(entry.path):
                message = (f"login log filled with zeros by useradd: /{entry.path}, "
                           f"{human_size(entry.size)}")
                cause = ("; likely cause: `useradd` for a large UID without --no-log-init: add "
                         f"--no-log-init, or empty it (`: > /{entry.path}`) in the same RUN")
            else:
                message = (f"zero-filled file in the image: /{entry.path}, "
                           f"{human_size(entry.size)}")
                cause = ""
            yield Flag(
                message,
                f"{where(image, layer.number)}: /{entry.path} ({entry.size} bytes, all zero)"
                f"{deleted}{cause}",
                layer=layer.number,
                path=entry.path,
                size=entry.size,
            )
    if not found:
        yield Passed(f"no file of {human_size(ZERO_FILE_MIN)} or more holds only zeros")
