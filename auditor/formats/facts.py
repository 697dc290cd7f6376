"""What several formats say alike: a finding's standing (scored, waived, base), the change since
a baseline, status counts, practice names. Reads the report; renders nothing."""

from __future__ import annotations

import enum
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from auditor.model.findings import STATUS_ORDER, Severity, SourceLocation, Status
from auditor.model.image import Origin
from auditor.model.report import ImageReport, Novelty, ScoreCap, ScoredFinding
from auditor.units import human_size, signed


class Standing(enum.Enum):
    """Why a finding does or does not count against the score."""

    SCORED = "scored"  # counts (or would, at info severity)
    WAIVED = "waived"  # a waiver accepted it: shown, not scored
    BASE = "base"  # the base image brought it: shown, not scored (unless --score-base)


def standing(scored: ScoredFinding) -> Standing:
    if scored.finding.waiver is not None:
        return Standing.WAIVED
    if scored.finding.origin is Origin.BASE and scored.points == 0:
        return Standing.BASE
    return Standing.SCORED


def of_standing(item: ImageReport, wanted: Standing) -> list[ScoredFinding]:
    """The image's findings of one standing, costliest first (the report's order)."""
    return [s for s in item.findings if standing(s) is wanted]


def source_document(source: SourceLocation) -> dict[str, Any]:
    """A finding's Dockerfile lines as the JSON reports give them."""
    return {
        "path": source.path,
        "start_line": source.start_line,
        "end_line": source.end_line,
        "instruction": source.instruction,
    }


def practice_names(item: ImageReport) -> dict[int, str]:
    return {p.practice.id: p.practice.name for p in item.practices}


def slug(text: str) -> str:
    """'Non-root user' -> 'non-root-user'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def camel(text: str) -> str:
    """'Image runs as root' -> 'ImageRunsAsRoot' (a SARIF rule name)."""
    return "".join(word[:1].upper() + word[1:] for word in re.split(r"[^A-Za-z0-9]+", text))


def status_counts(item: ImageReport) -> dict[Status, int]:
    counts = Counter(r.status for r in item.results)
    return {status: counts.get(status, 0) for status in STATUS_ORDER}


def describe_counts(item: ImageReport) -> str:
    """'2 fail, 5 warn, 1 info, 12 pass, 2 skip, 1 ignored, 0 error'."""
    return ", ".join(f"{n} {s.value}" for s, n in status_counts(item).items())


@dataclass(frozen=True, slots=True)
class Delta:
    """This image against the baseline report's: positive means more (score, bytes, layers)."""

    reference: str
    score: int
    size: int
    layers: int
    new: int
    known: int
    resolved: int


def delta(item: ImageReport) -> Delta | None:
    if item.baseline is None:
        return None
    novelty = Counter(s.novelty for s in item.findings)
    return Delta(
        reference=item.baseline.reference,
        score=item.score - item.baseline.score,
        size=item.image.size - item.baseline.size,
        layers=len(item.image.layers) - item.baseline.layers,
        new=novelty.get(Novelty.NEW, 0),
        known=novelty.get(Novelty.KNOWN, 0),
        resolved=len(item.resolved),
    )


def describe_delta(change: Delta) -> str:
    """'vs baseline app:0: score -8, size +1.2 MB, layers +1; 3 new, 2 known, 1 resolved'."""
    return (
        f"vs baseline {change.reference}: score {signed(change.score)}, size "
        f"{signed(change.size, human_size)}, layers {signed(change.layers)}; {change.new} new, "
        f"{change.known} known, {change.resolved} resolved"
    )


_DIGEST = re.compile(r"(?<![0-9a-f])([0-9a-f]{12})[0-9a-f]{52}(?![0-9a-f])")


def short_digests(text: str) -> str:
    """Every 64-hex digest (a layer, a `COPY dir:...` source) cut to its first 12 hex, as
    `docker images` shows an ID: for the human formats; JSON and SARIF keep them whole."""
    return _DIGEST.sub(r"\1", text)


def describe_cap(cap: ScoreCap) -> str:
    """'capped at 59 by 2 critical findings (IA401, IA1102): the practices alone give 70, -11';
    when the practices alone give less: 'at most 59 while 1 critical finding stands (IA1101):
    the practices alone give 33'."""
    what = f"{cap.findings} critical finding{'s' if cap.findings != 1 else ''}"
    rules = ", ".join(cap.rules)
    if cap.points:
        return (f"capped at {cap.limit} by {what} ({rules}): the practices alone give "
                f"{cap.uncapped}, -{cap.points}")
    stands = "stand" if cap.findings != 1 else "stands"
    return (f"at most {cap.limit} while {what} {stands} ({rules}): the practices alone give "
            f"{cap.uncapped}")


def cap_document(cap: ScoreCap | None) -> dict[str, Any] | None:
    """The cap as the JSON reports give it."""
    if cap is None:
        return None
    return {"limit": cap.limit, "uncapped_score": cap.uncapped, "points": cap.points,
            "rules": list(cap.rules), "findings": cap.findings, "reason": describe_cap(cap)}


# critical/high break a build, medium is worth a look, low and info are advice.
LEVELS: dict[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
