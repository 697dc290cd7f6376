"""Practice 12, hardened accounts: empty password fields in etc/shadow (and etc/passwd), and
accounts or groups that share an ID. Evidence names accounts, never a field's content."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from auditor.model.findings import Flag, NotApplicable, Passed, Severity
from auditor.model.image import Image, Origin
from auditor.model.policy import Limits
from auditor.rules.hardening import HARDENING_PRACTICE
from auditor.rules.registry import Verdict, rule
from auditor.rules.support import require_content, where
from auditor.text import printable
from auditor.units import plural

SHADOW, PASSWD, GROUP = "etc/shadow", "etc/passwd", "etc/group"


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    empty_password: bool
    id: int | None  # the UID (passwd) or GID (group); None in shadow or when unreadable


def _entries(data: bytes, id_field: int | None) -> list[_Entry]:
    """Every account line of a colon-separated account file, in order, duplicates kept."""
    found = []
    for line in data.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if len(fields) < 2 or not fields[0] or line.startswith(("#", "+", "-")):
            continue  # a comment, or a NIS include (+/-) that names no local account
        number = None
        if id_field is not None and len(fields) > id_field and fields[id_field].isdigit():
            number = int(fields[id_field])
        found.append(_Entry(fields[0], fields[1] == "", number))
    return found


def _base_version(image: Image, path: str) -> bytes | None:
    """The file as the base image's last layer that wrote it held it; None when no base layer
    did (or its bytes were not kept)."""
    for layer in reversed(image.layers):
        content = layer.content
        if layer.origin is Origin.BASE and content is not None and path in content.captured:
            return content.captured[path]
    return None


def _origin(image: Image, path: str, in_base: bool) -> tuple[Origin, int]:
    """Whose the line is: the base's when its version already had it, else the layer's that
    last wrote the file."""
    layer = (image.files or {})[path].layer
    return (Origin.BASE if in_base else image.origin_of_layer(layer)), layer


def _read(image: Image, *paths: str) -> dict[str, bytes]:
    require_content(image)
    found = {p: data for p in paths if (data := image.captured(p)) is not None}
    if not found:
        raise NotApplicable(f"the image has no {' or '.join(paths)}")
    return found


@rule(
    "IA1202",
    practice=HARDENING_PRACTICE,
    title="Account with an empty password",
    severity=Severity.HIGH,
    rationale="An empty password field lets anyone log in or `su` to that account without a "
    "password.",
    fix="Lock the account (`passwd -l NAME`, or `!` in its etc/shadow field) or delete it; "
    "never create users with an empty password.",
    needs_content=True,
    files=(SHADOW, PASSWD),
    tags=("security", "external/cwe/cwe-258"),
)
def empty_password(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag each account whose password field is empty in etc/shadow, or in etc/passwd (where an
    empty field, not `x`, also means no password); the base's own such accounts are shown, not
    scored. The field's content is never shown."""
    files = _read(image, SHADOW, PASSWD)
    flagged = 0
    for path, data in files.items():
        base = _base_version(image, path)
        in_base = {e.name for e in _entries(base, None) if e.empty_password} if base else set()
        for entry in _entries(data, None):
            if not entry.empty_password:
                continue
            flagged += 1
            origin, layer = _origin(image, path, entry.name in in_base)
            name = printable(entry.name, 64)
            yield Flag(f"account {name} has an empty password",
                       f"{where(image, layer)}: /{path}, account {name}: the password field is "
                       "empty", layer=layer, origin=origin)
    if not flagged:
        counted = ", ".join(f"/{p} ({plural(len(_entries(d, None)), 'account')})"
                            for p, d in files.items())
        yield Passed(f"no empty password field in {counted}")


def _shared(entries: list[_Entry]) -> dict[int, list[str]]:
    by_id: dict[int, list[str]] = {}
    for entry in entries:
        if entry.id is not None:
            by_id.setdefault(entry.id, []).append(entry.name)
    return {number: names for number, names in by_id.items() if len(set(names)) > 1}


@rule(
    "IA1203",
    practice=HARDENING_PRACTICE,
    title="Accounts sharing a UID or groups sharing a GID",
    severity=Severity.LOW,
    rationale="Two names for one ID blur who owns which file and who ran which process; a second "
    "UID 0 account is a second root.",
    fix="Give every account its own UID and every group its own GID (delete the duplicate "
    "line), and keep UID 0 for root alone.",
    needs_content=True,
    files=(PASSWD, GROUP),
    tags=("security", "external/cwe/cwe-286"),
)
def shared_ids(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag each UID two accounts of etc/passwd share, and each GID two groups of etc/group
    share; a shared UID 0 (a second root) is medium. Duplicates the base's version already had
    are the base's, shown and not scored."""
    files = _read(image, PASSWD, GROUP)
    flagged = False
    for path, data in files.items():
        what, kind = ("UID", "accounts") if path == PASSWD else ("GID", "groups")
        id_field = 2
        base = _base_version(image, path)
        base_shared = _shared(_entries(base, id_field)) if base else {}
        for number, names in sorted(_shared(_entries(data, id_field)).items()):
            flagged = True
            in_base = set(base_shared.get(number, ())) >= set(names)
            origin, layer = _origin(image, path, in_base)
            shown = ", ".join(printable(n, 64) for n in dict.fromkeys(names))
            root = number == 0 and path == PASSWD
            yield Flag(f"{what} {number} is shared by {kind} {shown}"
                       + (": a second root account" if root else ""),
                       f"{where(image, layer)}: /{path}", layer=layer, origin=origin,
                       severity=Severity.MEDIUM if root else None)
    if not flagged:
        yield Passed("every UID and GID is unique in " + " and ".join(f"/{p}" for p in files))
