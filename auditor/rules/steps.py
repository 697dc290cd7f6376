"""Practice 14, predictable build steps: ADD where COPY would do, read from the history of the
image's own steps as either builder words them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from auditor.model.findings import Flag, NotApplicable, Passed, Severity
from auditor.model.image import FileKind, HistoryQuality, HistoryStep, Image
from auditor.model.policy import Limits
from auditor.redact import describe_step, redact
from auditor.rules.registry import Verdict, rule
from auditor.rules.support import own_steps
from auditor.text import printable
from auditor.units import plural

STEPS_PRACTICE = 14
# The classic builder names what it added by a hash only: `file:<hex> in /dest` (`dir:`,
# `multi:`) for the build context, and the bare hash of the content for a URL it downloaded.
_CLASSIC = re.compile(r"^(?:(?P<kind>file|dir|multi):[0-9a-f]+|[0-9a-f]{64}) in (?P<dest>\S*)")
_URL = re.compile(r"^(https?|ftp|git)://|^git@", re.IGNORECASE)
# What ADD unpacks when it copies it from the context (Docker's archive detection).
_ARCHIVE = re.compile(r"\.(tar|tar\.(gz|bz2|xz|zst|lz4)|tgz|tbz2?|txz|tzst)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Verdict:
    severity: Severity | None  # None: legitimate, not flagged
    what: str


def _words(body: str) -> tuple[list[str], list[str]]:
    """(flags, sources and destination) of a BuildKit ADD body, exec (JSON) form or not."""
    words = body.split()
    flags = []
    while words and words[0].startswith("--"):
        flags.append(words.pop(0))
    rest = " ".join(words)
    if rest.startswith("["):
        try:
            parsed = json.loads(rest)
        except (ValueError, RecursionError):  # (a body nested past all reason: no exec form)
            parsed = None
        if isinstance(parsed, list) and all(isinstance(w, str) for w in parsed):
            return flags, parsed
    return flags, words


def _layer_files(image: Image, step: HistoryStep) -> int | None:
    """How many non-directory entries the step's layer holds; None when its content is unread."""
    if step.layer is None:
        return None
    content = image.layer(step.layer).content
    if content is None:
        return None
    return sum(1 for e in content.entries if e.kind is not FileKind.DIR)


def _judge(image: Image, step: HistoryStep) -> _Verdict:
    classic = _CLASSIC.match(step.body)
    if classic:
        kind, dest = classic.group("kind"), printable(classic.group("dest"), 100)
        if kind is None:
            return _Verdict(Severity.MEDIUM, f"ADD downloads a URL into {dest} without a "
                            "checksum (the classic builder records its content hash only)")
        files = _layer_files(image, step)
        if kind == "file" and files is not None and files > 1:
            return _Verdict(None, f"unpacked an archive ({plural(files, 'file')} from one source)")
        what = {"file": "a file", "dir": "a directory", "multi": "several sources"}[kind]
        return _Verdict(Severity.LOW, f"ADD of {what} from the build context into {dest}: COPY "
                        "would do")
    flags, words = _words(step.body)
    sources = words[:-1] if len(words) > 1 else words
    checksum = any(f.startswith("--checksum") for f in flags)
    urls = [s for s in sources if _URL.search(s)]
    local = [s for s in sources if not _URL.search(s) and not _ARCHIVE.search(s)]
    if urls and not checksum:
        shown = ", ".join(printable(redact(u), 100) for u in urls[:3])
        return _Verdict(Severity.MEDIUM, f"ADD downloads {shown} without --checksum: its content "
                        "is not verified")
    if local:
        shown = ", ".join(printable(s, 100) for s in local[:3])
        return _Verdict(Severity.LOW, f"ADD of {shown}: COPY does the same without ADD's "
                        "implicit unpacking and downloads")
    kinds = "a checksummed download" if urls else "a local archive it unpacks"
    return _Verdict(None, kinds)


def _root_filesystem(image: Image, step: HistoryStep) -> bool:
    """A root filesystem: the image's first layer ADDed at /, as base images (and FROM scratch
    images) start."""
    classic = _CLASSIC.match(step.body)
    dest = classic.group("dest") if classic else (_words(step.body)[1] or [""])[-1]
    first = not any(not s.empty_layer for s in image.history[: step.index])
    return first and not step.empty_layer and dest.rstrip("/") == ""


@rule(
    "IA1401",
    practice=STEPS_PRACTICE,
    title="ADD where COPY would do",
    severity=Severity.LOW,
    rationale="ADD also fetches URLs and unpacks archives, so what a step adds depends on the "
    "source's content; a download without a checksum is not verified at all (CIS Docker 4.9).",
    fix="Use COPY for files and folders, `ADD --checksum=sha256:...` for downloads; keep ADD for "
    "local archives it should unpack.",
)
def add_instead_of_copy(image: Image, limits: Limits) -> Iterator[Verdict]:
    """Flag each ADD of the image's own steps that COPY would do: a local file or directory (low),
    and a URL without --checksum (medium). A local tar archive ADD unpacks, a checksummed
    download and a base image's (or the first layer's) root-filesystem ADD are not blamed."""
    if image.history_quality in (HistoryQuality.MISSING, HistoryQuality.SYNTHETIC):
        raise NotApplicable(image.history_note or "the image has no Dockerfile history")
    legitimate = []
    flagged = False
    for step in own_steps(image, "ADD"):
        if _root_filesystem(image, step):
            legitimate.append(f"{describe_step(step)}: a root filesystem")
            continue
        verdict = _judge(image, step)
        if verdict.severity is None:
            legitimate.append(f"{describe_step(step)}: {verdict.what}")
            continue
        flagged = True
        yield Flag(verdict.what, describe_step(step), step=step.index, severity=verdict.severity)
    if not flagged:
        yield Passed("; ".join(legitimate) if legitimate else "no ADD in the image's own steps")
