"""Practice 12, hardened files: what the image's own layers leave writable by anyone, or by the
user the container runs as, judged from the tar headers' modes and owners."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass

from auditor.model.findings import Flag, NotApplicable, Passed, Severity
from auditor.model.image import FileEntry, FileKind, Image, Origin
from auditor.model.policy import Limits
from auditor.rules.registry import Verdict, rule
from auditor.rules.support import (
    PASSWD_FILES,
    RuntimeUser,
    layer_modes,
    require_content,
    runtime_user,
    where,
)
from auditor.units import plural

# Paths a finding names at most; the evidence counts the rest.
MAX_PATHS = 20
_SHOWN = 3
_OTHER_WRITE = 0o002
_GROUP_WRITE = 0o020
_STICKY = 0o1000


@dataclass(frozen=True, slots=True)
class _Found:
    layer: int
    roots: tuple[str, ...]  # flagged paths no flagged directory holds, sorted
    total: int  # every flagged path, those below the roots included


def _changed_by_own_build(image: Image) -> Callable[[str, FileEntry], bool]:
    """Whether an own layer's entry is the image's own doing: a directory an own layer only
    re-emits (to add a file in it) with the base's mode and owner is still the base's."""
    base: dict[str, tuple[int, int, int]] = {}
    for layer in image.layers:
        if layer.content is not None and layer.origin is Origin.BASE:
            entries = layer.content.entries
            base.update(zip(entries.paths, zip(entries.modes, entries.uids, entries.gids,
                                               strict=True), strict=True))

    def changed(path: str, entry: FileEntry) -> bool:
        return base.get(path) != (entry.mode, entry.uid, entry.gid)

    return changed


def _own_final_entries(image: Image, paths: Collection[str] | None = None
                       ) -> Iterator[tuple[int, FileEntry]]:
    """(layer, entry) of the final filesystem's files and directories an own layer wrote, of
    those at `paths` only when given; links are left out (a symlink's mode means nothing, a hard
    link is its target's inode)."""
    changed = _changed_by_own_build(image)
    files = image.files or {}
    for path in files if paths is None else [p for p in files if p in paths]:
        placed = files[path]
        entry = placed.entry
        if entry.kind not in (FileKind.FILE, FileKind.DIR):
            continue
        if image.layer(placed.layer).origin is Origin.OWN and changed(path, entry):
            yield placed.layer, entry


def _group(flagged: Mapping[str, int]) -> list[_Found]:
    """Flagged paths (path -> layer) grouped by layer, each group's paths rolled up under the
    flagged directories that hold them."""
    by_layer: dict[int, list[str]] = {}
    for path, layer in flagged.items():
        by_layer.setdefault(layer, []).append(path)
    found = []
    for layer, paths in sorted(by_layer.items()):
        roots = [p for p in sorted(paths) if not _held(p, flagged)]
        found.append(_Found(layer, tuple(roots), len(paths)))
    return found


def _held(path: str, flagged: Mapping[str, int]) -> bool:
    parent = posixpath.dirname(path)
    while parent:
        if parent in flagged:
            return True
        parent = posixpath.dirname(parent)
    return False


def _describe(image: Image, found: _Found, kinds: Mapping[str, FileKind]) -> str:
    shown = ", ".join("/" + p + ("/" if kinds[p] is FileKind.DIR else "")
                      for p in found.roots[:_SHOWN])
    more = len(found.roots) - _SHOWN
    below = found.total - len(found.roots)
    tail = f" and {more} more" if more > 0 else ""
    tail += f" ({plural(below, 'path')} below them)" if below else ""
    return f"{where(image, found.layer)}: {shown}{tail}"


@rule(
    "IA1205",
    practice=12,
    title="World-writable files in the image's own layers",
    severity=Severity.MEDIUM,
    rationale="A file or directory any user can write lets any process in the container, "
    "whatever its UID, rewrite code or configuration the image ships.",
    fix="Drop `chmod 777`/`a+w` from the build; give write access to the one user that needs "
    "it (`COPY --chown=app`, `chown app /data`) or use a sticky directory like /tmp (1777).",
    needs_content=True,
)
def world_writable_files(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag files and directories of the final filesystem that the image's own layers wrote
    with mode o+w; a directory with the sticky bit (like /tmp) is not flagged, symlinks never
    are, and a directory an own layer only re-emits with the base's mode is the base's."""
    require_content(image)
    flagged: dict[str, int] = {}
    kinds: dict[str, FileKind] = {}
    # Only a path some own layer wrote with o+w can end with such an entry
    writable = {e.path for _, e in layer_modes(image, _OTHER_WRITE, Origin.OWN)}
    for layer, entry in _own_final_entries(image, writable):
        if not entry.mode & _OTHER_WRITE:
            continue
        if entry.kind is FileKind.DIR and entry.mode & _STICKY:
            continue
        flagged[entry.path] = layer
        kinds[entry.path] = entry.kind
    if not flagged:
        yield Passed("no file or directory of the image's own layers is writable by anyone")
        return
    for found in _group(flagged):
        yield Flag(
            f"{plural(found.total, 'path')} writable by any user, from an own layer",
            _describe(image, found, kinds),
            layer=found.layer,
            paths=found.roots[:MAX_PATHS],
        )


# Where an app is expected to write, not code: temporary and runtime folders, /var's state,
# caches and logs, folders named for data, and data-like files. A heuristic: it errs towards
# silence, as a hardening hint should.
_EXPECTED_ROOTS = re.compile(
    r"^(tmp|var/tmp|run|var/run|dev|proc|sys|mnt|media|var/cache|var/log|var/lib|var/spool|"
    r"var/mail)(/|$)"
)
_DATA_DIR = re.compile(
    r"(^|/)(data|\.?cache|tmp|temp|logs?|uploads?|storage|state|sessions|run|var|spool)(/|$)",
    re.IGNORECASE,
)
_DATA_FILE = re.compile(r"\.(log|pid|sock|lock|db|sqlite3?)$", re.IGNORECASE)


def _expected(path: str, home: str) -> bool:
    """Whether the runtime user is expected to write at path: see _EXPECTED_ROOTS. Its home
    directory and the dot folders in it (~/.local from `pip install --user`, ~/.cache, ~/.npm)
    are its own; other files in the home are judged like any."""
    if _EXPECTED_ROOTS.match(path) or _DATA_DIR.search(path) or _DATA_FILE.search(path):
        return True
    return bool(home and home != "." and (path == home or path.startswith(home + "/.")))


def _groups(image: Image, user: RuntimeUser) -> set[int]:
    """The runtime user's GIDs: its primary group, the group config.User names, and the groups
    etc/group lists it in."""
    gids = {user.account.gid} if user.account else set()
    data = image.captured("etc/group") or b""
    names = {user.name, user.account.name if user.account else user.name}
    for line in data.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if len(fields) < 4 or not fields[2].isdigit():
            continue
        gid = int(fields[2])
        if fields[0] == user.group or names & set(fields[3].split(",")):
            gids.add(gid)
    if user.group.isdigit():
        gids.add(int(user.group))
    return gids


@rule(
    "IA1206",
    practice=12,
    title="App code writable by the runtime user",
    severity=Severity.LOW,
    rationale="When the user the container runs as owns (or may write) the app's code, a "
    "compromised process can rewrite it and persist for the container's life.",
    fix="Copy code owned by root (`COPY --chown=root:root`, the default) with read-only modes; "
    "give the runtime user only its data folders (`chown app /app/data`).",
    needs_content=True,
    files=PASSWD_FILES,
)
def code_writable_by_user(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag files the image's own layers wrote that config.User (resolved to a UID through
    etc/passwd) owns or may write through one of its groups, and directories holding such
    files that it may write (it could replace what they hold). Not judged for root (IA201).
    Expected writes are left out by a heuristic: /tmp, /run, /var's caches, logs and state,
    folders named data, cache, tmp, logs, uploads, storage, state, sessions, var or spool,
    *.log, *.pid, *.sock, *.db and *.sqlite files, the user's home and its dot folders (such as
    ~/.local), and virtualenvs (the package trees practice 8 asks the user to own). A
    world-writable path is IA1205's, and an empty directory the user owns is a data folder."""
    require_content(image)
    user = runtime_user(image)
    if not user.text or user.uid == 0:
        raise NotApplicable("the image runs as root (IA201)")
    if user.uid is None:
        raise NotApplicable(f"config.User={user.text!r} cannot be resolved to a UID")
    uid = user.uid
    gids = _groups(image, user)
    home = user.account.home.rstrip("/") if user.account else ""
    venvs = tuple(path.removesuffix("pyvenv.cfg") for path in (image.files or {})
                  if path.endswith("/pyvenv.cfg"))
    holding = {posixpath.dirname(path) for path, placed in (image.files or {}).items()
               if placed.entry.kind is not FileKind.DIR}
    holding |= {parent for path in list(holding) for parent in _parents(path)}
    flagged: dict[str, int] = {}
    kinds: dict[str, FileKind] = {}
    for layer, entry in _own_final_entries(image):
        if entry.mode & _OTHER_WRITE or _expected(entry.path, home):
            continue
        if (entry.path + "/").startswith(venvs):
            continue  # a virtualenv the user owns is practice 8's advice (IA801)
        if entry.kind is FileKind.DIR and entry.path not in holding:
            continue
        if entry.uid == uid or (entry.gid in gids and entry.mode & _GROUP_WRITE):
            flagged[entry.path] = layer
            kinds[entry.path] = entry.kind
    who = f"{user.name} (UID {uid})" if user.name != str(uid) else f"UID {uid}"
    if not flagged:
        yield Passed(f"no code of the image's own layers is writable by {who}")
        return
    for found in _group(flagged):
        yield Flag(
            f"{plural(found.total, 'path')} of the image's own code writable by the runtime "
            f"user {who}",
            _describe(image, found, kinds),
            layer=found.layer,
            paths=found.roots[:MAX_PATHS],
        )


def _parents(path: str) -> Iterator[str]:
    while path:
        path = posixpath.dirname(path)
        if path:
            yield path
