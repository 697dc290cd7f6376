"""Scores rule results: each practice loses up to its weight, each finding a share of it by
severity, so every point lost is a finding's; a scored critical finding caps the score under
the pass line, and the cap says so. Grades follow from the 0-100 score."""

from __future__ import annotations

from collections.abc import Sequence

from auditor.model.findings import NOT_JUDGED, STATUS_ORDER, Finding, Practice, Severity, Status
from auditor.model.report import PracticeResult, RuleResult, ScoreCap, ScoredFinding

# Share of its practice's weight one finding costs; a practice never loses more than its weight.
SEVERITY_SHARE: dict[Severity, float] = {
    Severity.CRITICAL: 1.0,
    Severity.HIGH: 1.0,
    Severity.MEDIUM: 0.5,
    Severity.LOW: 0.25,
    Severity.INFO: 0.0,
}
GRADES: tuple[tuple[int, str], ...] = ((90, "A"), (80, "B"), (70, "C"), (60, "D"), (0, "F"))
# The lowest passing score (grade D). A critical finding is a rotate-now flaw whatever else the
# image does right: one that is scored holds the score just under this line, at grade F.
PASS_LINE = 60
CRITICAL_CAP = PASS_LINE - 1


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


def cap_for(uncapped: int, critical: Sequence[ScoredFinding]) -> ScoreCap | None:
    """The cap that scored critical findings put on the score; None when there are none."""
    if not critical:
        return None
    rules = tuple(dict.fromkeys(s.rule.id for s in critical))
    return ScoreCap(limit=CRITICAL_CAP, uncapped=uncapped, rules=rules, findings=len(critical))


def score(
    results: Sequence[RuleResult], practices: Sequence[Practice], score_base: bool = False
) -> tuple[int, str, tuple[PracticeResult, ...], tuple[ScoredFinding, ...], ScoreCap | None]:
    """(score, grade, per-practice results, findings with the points each cost, the cap
    critical findings put on the score, if any)."""
    by_practice = {p.id: [r for r in results if r.rule.practice == p.id] for p in practices}
    applicable = [
        p for p in practices
        if any(r.status not in NOT_JUDGED for r in by_practice[p.id])
    ]
    total_weight = sum(p.weight for p in applicable) or 1
    scale = 100 / total_weight
    scored: list[ScoredFinding] = []
    critical: list[ScoredFinding] = []  # scored, in a practice that counts (weight above 0)
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
            if finding.severity is Severity.CRITICAL and practice.weight > 0:
                critical.append(scored[-1])
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
    critical.sort(key=lambda s: (-s.points, s.rule.id))
    cap = cap_for(total, critical)
    if cap is not None:
        total = min(total, cap.limit)
    return total, grade_for(total), tuple(practice_results), tuple(scored), cap
