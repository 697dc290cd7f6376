"""Waivers: which findings a team has accepted, for which images and paths, until when. Reads
the policy's waivers and an image's own `io.imgaudit.waive` label; no I/O."""

from __future__ import annotations

import datetime
import fnmatch
from collections.abc import Iterable, Sequence

from auditor.model import Finding, Image, Waiver

LABEL = "io.imgaudit.waive"
LABEL_SOURCE = f"label {LABEL}"


def describe(waiver: Waiver) -> str:
    where = f" at {waiver.paths}" if waiver.paths else ""
    images = "" if waiver.images == "*" else f" on {waiver.images}"
    return f"waiver {waiver.rule}{where}{images} ({waiver.source or 'policy'})"


def from_label(text: str, known_rules: Iterable[str]) -> tuple[tuple[Waiver, ...], tuple[str, ...]]:
    """`RULE: reason; RULE PATH-GLOB: reason` -> waivers, and a notice per entry it cannot read."""
    known = set(known_rules)
    waivers: list[Waiver] = []
    notices: list[str] = []
    for entry in text.split(";"):
        entry = entry.strip()
        if not entry:
            continue
        head, sep, reason = entry.partition(":")
        parts = head.split(None, 1)
        rule = parts[0].upper() if parts else ""
        if not sep or not reason.strip() or not parts:
            notices.append(f"{LABEL_SOURCE}: {entry[:60]!r} is not `RULE: reason`; not applied")
            continue
        if not any(fnmatch.fnmatchcase(r, rule) for r in known):
            notices.append(f"{LABEL_SOURCE}: unknown rule {rule}; not applied")
            continue
        path = parts[1].strip().lstrip("/") if len(parts) > 1 else ""
        waivers.append(Waiver(rule=rule, reason=reason.strip(), paths=path, source=LABEL_SOURCE))
    return tuple(waivers), tuple(notices)


def _names(image: Image) -> set[str]:
    names = {image.reference, *image.repo_tags}
    for name in list(names):
        head, sep, tail = name.rpartition(":")
        if sep and "/" not in tail:
            names.add(head)  # the repository without its tag
    return names


def expired(waiver: Waiver, today: datetime.date) -> bool:
    """Whether the waiver's last day has passed (it applies through its expires date)."""
    return waiver.expires is not None and waiver.expires < today


def covers_image(waiver: Waiver, image: Image) -> bool:
    return any(fnmatch.fnmatchcase(name, waiver.images) for name in _names(image))


def applicable(
    image: Image,
    policy_waivers: Sequence[Waiver],
    image_waivers: bool,
    known_rules: Iterable[str],
    today: datetime.date,
) -> tuple[tuple[Waiver, ...], tuple[str, ...]]:
    """The waivers in force for this image today, and notices: expired waivers, label waivers
    refused by the policy, label entries that cannot be read."""
    notices: list[str] = []
    candidates = [w for w in policy_waivers if covers_image(w, image)]
    label = image.config.labels.get(LABEL, "")
    if label:
        if image_waivers:
            found, problems = from_label(label, known_rules)
            candidates.extend(found)
            notices.extend(problems)
        else:
            notices.append(f"{LABEL_SOURCE} not honoured: the policy sets image-waivers = false")
    active = []
    for waiver in candidates:
        if expired(waiver, today):
            assert waiver.expires is not None
            notices.append(
                f"{describe(waiver)} expired on {waiver.expires.isoformat()} and no longer "
                f"applies (reason was: {waiver.reason})"
            )
            continue
        active.append(waiver)
    return tuple(active), tuple(notices)


def waiver_for(finding: Finding, waivers: Sequence[Waiver]) -> Waiver | None:
    """The first waiver that accepts this finding, if any."""
    for waiver in waivers:
        if not fnmatch.fnmatchcase(finding.rule, waiver.rule):
            continue
        if not waiver.paths:
            return waiver
        if finding.path and fnmatch.fnmatchcase(finding.path.lstrip("/"), waiver.paths.lstrip("/")):
            return waiver
    return None


def unused(active: Sequence[Waiver], used: Iterable[Waiver]) -> tuple[str, ...]:
    """A notice for each waiver in force that accepted no finding: a candidate for removal."""
    seen = set(used)
    return tuple(
        f"{describe(w)} matched no finding; remove it if the problem is fixed"
        for w in active if w not in seen
    )
