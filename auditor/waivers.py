"""Waivers: which findings a team has accepted, for which images and paths, until when. Reads
the policy's waivers and an image's own `io.imgaudit.waive` label; no I/O."""

from __future__ import annotations

import datetime
import fnmatch
import re
from collections.abc import Iterable, Sequence

from auditor.model.findings import Finding, Waiver
from auditor.model.image import HistoryStep, Image, Origin
from auditor.naming import image_names

LABEL = "io.imgaudit.waive"
LABEL_SOURCE = f"label {LABEL}"
# A LABEL step's body as either builder records it: `io.imgaudit.waive=IA201: reason other=x`
# (values unquoted), or `"io.imgaudit.waive"=...` when the Dockerfile quoted the key.
_SETS_LABEL = re.compile(rf'(?:^|\s)"?{re.escape(LABEL)}"?=')
_GLOB = re.compile(r"[*?\[]")


def describe(waiver: Waiver) -> str:
    where = f" at {waiver.paths}" if waiver.paths else ""
    images = "" if waiver.images == "*" else f" on {waiver.images}"
    return f"waiver {waiver.rule}{where}{images} ({waiver.source or 'policy'})"


def from_label(text: str, known_rules: Iterable[str]) -> tuple[tuple[Waiver, ...], tuple[str, ...]]:
    """`RULE: reason; RULE PATH-GLOB: reason` -> waivers, and a notice per entry it cannot read
    or will not apply: the image's author names each rule waived, never a pattern of them."""
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
        if _GLOB.search(rule):
            notices.append(f"{LABEL_SOURCE}: {rule} is a pattern; an image's label must name "
                           "exact rule ids (patterns belong in the policy file); not applied")
            continue
        if rule not in known:
            notices.append(f"{LABEL_SOURCE}: unknown rule {rule}; not applied")
            continue
        path = parts[1].strip().lstrip("/") if len(parts) > 1 else ""
        waivers.append(Waiver(rule=rule, reason=reason.strip(), paths=path, source=LABEL_SOURCE))
    return tuple(waivers), tuple(notices)


def _sets_label(step: HistoryStep) -> bool:
    return step.instruction == "LABEL" and bool(_SETS_LABEL.search(step.body))


def label_refusal(image: Image) -> str:
    """Why the image's waiver label is not honoured, or "" when the image's own build set it:
    a LABEL step of its own history sets it, or no base image was found (it is all its own).
    A label inherited from the base image would let the base's author waive the findings of
    every image built on it."""
    if image.boundary.own_from_layer == 1 or any(map(_sets_label, image.own_history)):
        return ""
    inherited = [s for s in image.history if s.origin is Origin.BASE and _sets_label(s)]
    if inherited:
        where = f"history[{inherited[-1].index}]"
        return (f"{LABEL_SOURCE} not honoured: the base image set it ({where}), not this "
                "image's own build; declare the waiver in the policy file instead")
    return (f"{LABEL_SOURCE} not honoured: no LABEL step of this image's own build sets it, so it "
            "may come from the base image (`docker build --label` also leaves no history step "
            "with BuildKit); declare the waiver in the policy file instead")


def expired(waiver: Waiver, today: datetime.date) -> bool:
    """Whether the waiver's last day has passed (it applies through its expires date)."""
    return waiver.expires is not None and waiver.expires < today


def covers_image(waiver: Waiver, names: Iterable[str]) -> bool:
    """Whether `images` matches one of the image's names (naming.image_names: with the registry
    host it came from)."""
    return any(fnmatch.fnmatchcase(name, waiver.images) for name in names)


def applicable(
    image: Image,
    policy_waivers: Sequence[Waiver],
    image_waivers: bool,
    known_rules: Iterable[str],
    today: datetime.date,
) -> tuple[tuple[Waiver, ...], tuple[str, ...]]:
    """The waivers in force for this image today, and notices: expired waivers, a label refused
    by the policy or not set by the image's own build, label entries that cannot be read."""
    notices: list[str] = []
    names = image_names(image)
    candidates = [w for w in policy_waivers if covers_image(w, names)]
    label = image.config.labels.get(LABEL, "")
    if label:
        refusal = label_refusal(image)
        if not image_waivers:
            notices.append(f"{LABEL_SOURCE} not honoured: the policy sets image-waivers = false")
        elif refusal:
            notices.append(refusal)
        else:
            found, problems = from_label(label, known_rules)
            candidates.extend(found)
            notices.extend(problems)
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


def covers_paths(waiver: Waiver, finding: Finding) -> bool:
    """Whether the waiver's path glob covers the finding: every path of it, so that a waiver
    for one file of a grouped finding never also waives the others it lists."""
    if not waiver.paths:
        return True
    pattern = waiver.paths.lstrip("/")
    paths = finding.all_paths
    return bool(paths) and all(fnmatch.fnmatchcase(p.lstrip("/"), pattern) for p in paths)


def waiver_for(finding: Finding, waivers: Sequence[Waiver]) -> Waiver | None:
    """The first waiver that accepts this finding, if any."""
    for waiver in waivers:
        if fnmatch.fnmatchcase(finding.rule, waiver.rule) and covers_paths(waiver, finding):
            return waiver
    return None


def unused(active: Sequence[Waiver], used: Iterable[Waiver]) -> tuple[str, ...]:
    """A notice for each waiver in force that accepted no finding: a candidate for removal."""
    seen = set(used)
    return tuple(
        f"{describe(w)} matched no finding; remove it if the problem is fixed"
        for w in active if w not in seen
    )
