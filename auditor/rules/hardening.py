"""Practice 12, hardened files: setuid and setgid files read from the layers' tar headers, and
sudo shipped in the image or run by its build."""

from __future__ import annotations

import re
from collections.abc import Iterator

from auditor.model.findings import Flag, Passed, Severity
from auditor.model.image import FileKind, Image, Layer, Origin
from auditor.model.policy import Limits
from auditor.redact import describe_step
from auditor.rules.registry import Verdict, rule
from auditor.rules.support import layer_modes, own_steps, require_content, still_present, where
from auditor.text import printable
from auditor.units import plural

HARDENING_PRACTICE = 12
_SETUID, _SETGID = 0o4000, 0o2000
_SUDO_FILE = re.compile(r"^(usr/(local/)?)?s?bin/sudo$|^etc/sudoers(\.d/[^/]+)?$")
# sudo as a command: at the start of the step or of a command after ;, &&, ||, |, ( or $(.
_SUDO_RUN = re.compile(r"(?:^|[;&|(`]|\$\()\s*sudo(?:\s|$)")


def _bits(mode: int) -> str:
    names = [name for bit, name in ((_SETUID, "setuid"), (_SETGID, "setgid")) if mode & bit]
    return " and ".join(names)


def _base_group(image: Image, layer: Layer, found: list[tuple[str, int, int]]) -> Flag:
    shown = ", ".join(f"/{printable(p, 200)} ({_bits(m)}, {m & 0o7777:o})" for p, m, _ in found[:5])
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    return Flag(
        f"{plural(len(found), 'setuid/setgid file')} from the base image (expected of a "
        "distribution's su, passwd and the like)",
        f"{where(image, layer.number)}: {shown}{more}",
        layer=layer.number,
        severity=Severity.INFO,
        origin=Origin.BASE,
        paths=tuple(p for p, _, _ in found),
    )


@rule(
    "IA1201",
    practice=HARDENING_PRACTICE,
    title="Setuid or setgid files added by the image",
    severity=Severity.MEDIUM,
    rationale="A setuid or setgid binary runs with its owner's (usually root's) rights whoever "
    "starts it: each is a way back to root for a process that broke in (CIS Docker 4.8).",
    fix="Clear the bit in the step that adds the file (`chmod u-s,g-s FILE`) or drop its package; "
    "run with `no-new-privileges`.",
    needs_content=True,
    tags=("security", "external/cwe/cwe-250"),
)
def setuid_files_added(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag each regular file of the final filesystem that the image's own layers added with the
    setuid or setgid bit, naming its mode, owner and layer; the base's such files are shown, one
    finding per layer at INFO, and not scored."""
    require_content(image)
    own = 0
    base: dict[int, tuple[Layer, list[tuple[str, int, int]]]] = {}
    for layer, entry in layer_modes(image, _SETUID | _SETGID):
        if (entry.kind not in (FileKind.FILE, FileKind.HARDLINK)
                or not still_present(image, layer, entry)):
            continue
        if layer.origin is Origin.BASE:
            base.setdefault(layer.number, (layer, []))[1].append(
                (entry.path, entry.mode, entry.uid))
            continue
        own += 1
        yield Flag(
            f"{_bits(entry.mode)} file: /{printable(entry.path, 200)}",
            f"{where(image, layer.number)}: /{printable(entry.path, 200)} mode "
            f"{entry.mode & 0o7777:o}, owner UID {entry.uid}",
            layer=layer.number,
            path=entry.path,
        )
    for layer, found in base.values():
        yield _base_group(image, layer, found)
    if not own:
        yield Passed("the image's own layers add no setuid or setgid file")


@rule(
    "IA1204",
    practice=HARDENING_PRACTICE,
    title="sudo shipped in the image or run by its build",
    severity=Severity.MEDIUM,
    rationale="sudo in a container is a privilege escalation path with unpredictable TTY and "
    "signal handling; a build that needs it is running as the wrong user.",
    fix="Do not install sudo; run the steps that need root before `USER app`, and use `gosu` or "
    "`su-exec` if an entrypoint must drop privileges.",
    tags=("security", "external/cwe/cwe-250"),
)
def sudo_used(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag a sudo binary or sudoers file in the final filesystem (the base's shown, not scored)
    and each of the image's own RUN steps that calls sudo."""
    flagged = False
    for step in own_steps(image, "RUN"):
        if _SUDO_RUN.search(step.body):
            flagged = True
            shown = describe_step(step).split(": ", 1)[1][:80]
            yield Flag(f"a build step runs sudo: {shown}", describe_step(step), step=step.index)
    if image.files is not None:
        for path in sorted(filter(_SUDO_FILE.match, image.files)):
            placed = image.files[path]
            if placed.entry.kind is FileKind.DIR:
                continue
            flagged = True
            yield Flag(f"sudo is shipped: /{printable(path, 200)}",
                       f"{where(image, placed.layer)}: /{printable(path, 200)}",
                       layer=placed.layer, path=path)
    if not flagged:
        read = ("no sudo binary or sudoers file" if image.content_read
                else "layer contents were not read (--no-content), so only the history was")
        yield Passed(f"no own build step runs sudo; {read}")
