"""Scores rule results: each practice loses up to its weight, each finding a share of it by
severity, so every point lost is a finding's. Grades follow from the 0-100 score."""

from __future__ import annotations

from collections.abc import Sequence

from auditor.model.findings import NOT_JUDGED, STATUS_ORDER, Finding, Practice, Severity, Status
from auditor.model.report import PracticeResult, RuleResult, ScoredFinding

# Share of its practice's weight one finding costs; a practice never loses more than its weight.
SEVERITY_SHARE: dict[Severity, float] = {
    Severity.CRITICAL: 1.0,
    Severity.HIGH: 1.0,
    Severity.MEDIUM: 0.5,
    Severity.LOW: 0.25,
    Severity.INFO: 0.0,
}
GRADES: tuple[tuple[int, str], ...] = ((90, "A"), (80, "B"), (70, "C"), (60, "D"), (0, "F"))


def status_for(findings: Sequence[Finding]) -> Status:
    worst = max(f.severity for f in findings)
    if worst >= Severity.HIGH:
        return Status.FAIL
    if worst >= Severity.LOW:
        return Status.WARN
    return Status.INFO


def worst(statuses: Sequence[Status]) -> Status:
    return min(statuses, key=STATUS_ORDER.index) if statuses else Status.SKIP


def grade_for(score: int) -> str:
    return next(letter for floor, letter in GRADES if score >= floor)


def score(
    results: Sequence[RuleResult], practices: Sequence[Practice], score_base: bool = False
) -> tuple[int, str, tuple[PracticeResult, ...], tuple[ScoredFinding, ...]]:
    """(score, grade, per-practice results, findings with the points each cost)."""
    by_practice = {p.id: [r for r in results if r.rule.practice == p.id] for p in practices}
    applicable = [
        p for p in practices
        if any(r.status not in NOT_JUDGED for r in by_practice[p.id])
    ]
    total_weight = sum(p.weight for p in applicable) or 1
    scale = 100 / total_weight
    scored: list[ScoredFinding] = []
    practice_results = []
    for practice in practices:
        rules = by_practice[practice.id]
        counted = [
            (f, r) for r in rules if r.status not in NOT_JUDGED
            for f in (*r.findings, *(r.base_findings if score_base else ()))
        ]
        shares = sum(SEVERITY_SHARE[f.severity] for f, _ in counted)
        factor = practice.weight * scale * (min(1.0, 1 / shares) if shares else 0.0)
        lost = 0.0
        for finding, result in counted:
            points = round(SEVERITY_SHARE[finding.severity] * factor, 2)
            lost += points
            scored.append(ScoredFinding(finding, result.rule, points))
        for result in rules:
            if not score_base:
                scored.extend(ScoredFinding(f, result.rule, 0.0) for f in result.base_findings)
            if result.status in NOT_JUDGED:
                scored.extend(ScoredFinding(f, result.rule, 0.0) for f in result.findings)
            scored.extend(ScoredFinding(f, result.rule, 0.0) for f in result.waived)
        practice_results.append(
            PracticeResult(
                practice=practice,
                status=worst([r.status for r in rules]) if rules else Status.SKIP,
                findings=sum(len(r.findings) for r in rules),
                points_lost=round(lost, 2),
            )
        )
    total = max(0, min(100, round(100 - sum(p.points_lost for p in practice_results))))
    scored.sort(key=lambda s: (-s.points, -s.finding.severity, s.rule.id))
    return total, grade_for(total), tuple(practice_results), tuple(scored)
