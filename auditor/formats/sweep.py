"""What every sweep report shows alike: the worst-first order, the practices an image fails, and
the summary (counts, mean and median score, grades, the score histogram)."""

from __future__ import annotations

import datetime
import statistics
from collections import Counter
from dataclasses import dataclass

from auditor.model.findings import Status
from auditor.model.sweep import AuditStatus, SweepAudit, SweepResults, SweepTag

GRADE_LETTERS = ("A", "B", "C", "D", "F")
_FAILING = (Status.ERROR, Status.FAIL, Status.WARN)


@dataclass(frozen=True, slots=True)
class SweepSummary:
    tags: int
    images: int  # distinct manifests (digest, platform)
    repositories: int
    registries: tuple[str, ...]
    errors: int  # manifests (or unresolved tags) that could not be audited
    skipped: int  # manifests that are no container image (Helm charts, signatures...)
    mean: float | None  # over the images audited
    median: float | None
    grades: tuple[tuple[str, int], ...]  # (letter, images), A first
    histogram: tuple[int, ...]  # images scoring 0-9, 10-19, ..., 80-89, 90-100
    rulesets: tuple[str, ...]  # the rule sets the shown audits were made under
    last_seen: float | None  # when a sweep last saw a tag


_ORDER = {AuditStatus.ERROR: 0, AuditStatus.OK: 1, AuditStatus.SKIPPED: 2}


def worst_first(results: SweepResults) -> tuple[SweepTag, ...]:
    """Errors first (they hide an unknown score), then lowest score, then by name; what is no
    image last."""
    return tuple(sorted(results.tags, key=lambda t: (
        _ORDER[t.audit.status], t.audit.score or 0, t.registry, t.repository, t.tag,
        t.platform)))


def failing_practices(audit: SweepAudit) -> tuple[int, ...]:
    """Numbers of the practices that failed or warned."""
    return tuple(p.practice.id for p in audit.practices if p.status in _FAILING)


def summarize(results: SweepResults) -> SweepSummary:
    scores = [a.score for a in results.audits if a.ok and a.score is not None]
    grades = Counter(a.grade for a in results.audits if a.ok)
    histogram = [0] * 10
    for score in scores:
        histogram[min(score // 10, 9)] += 1
    return SweepSummary(
        tags=len(results.tags),
        images=len(results.audits),
        repositories=len({(t.registry, t.repository) for t in results.tags}),
        registries=tuple(sorted({t.registry for t in results.tags})),
        errors=sum(a.failed for a in results.audits),
        skipped=sum(a.status is AuditStatus.SKIPPED for a in results.audits),
        mean=round(statistics.fmean(scores), 1) if scores else None,
        median=statistics.median(scores) if scores else None,
        grades=tuple((letter, grades.get(letter, 0)) for letter in GRADE_LETTERS),
        histogram=tuple(histogram),
        rulesets=tuple(sorted({a.ruleset for a in results.audits if a.ok})),
        last_seen=max((t.seen_at for t in results.tags), default=None),
    )


def timestamp(seconds: float | None) -> str:
    """UTC, to the second, as ISO 8601; "" for None."""
    if seconds is None:
        return ""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def headline(summary: SweepSummary) -> str:
    """The summary in one line."""
    parts = [
        f"{summary.tags} tag(s), {summary.images} image(s) in {summary.repositories} "
        f"repositor{'y' if summary.repositories == 1 else 'ies'}",
        f"{summary.errors} error(s)",
    ]
    if summary.skipped:
        parts.append(f"{summary.skipped} not an image (skipped)")
    if summary.mean is not None:
        parts.append(f"score mean {summary.mean:g}, median {summary.median:g}")
        parts.append("grades " + " ".join(f"{g} {n}" for g, n in summary.grades))
    return "; ".join(parts)
