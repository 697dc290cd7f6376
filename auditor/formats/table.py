"""The terminal report: per-practice statuses, the score, and each finding with its evidence
and fix; base-image and waived findings apart. ANSI colour only when asked."""

from __future__ import annotations

import textwrap

from tabulate import tabulate

from auditor.formats.facts import Standing, delta, describe_cap, describe_delta, of_standing
from auditor.model.findings import NOT_JUDGED, Finding, Severity, Status
from auditor.model.report import ImageReport, Report, ScoredFinding
from auditor.units import human_size

_MARK = {
    Status.PASS: "pass",
    Status.INFO: "info",
    Status.WARN: "WARN",
    Status.FAIL: "FAIL",
    Status.SKIP: "skip",
    Status.IGNORED: "ignored",
    Status.ERROR: "ERROR",
}
WIDTH = 100

# SGR codes: 1 bold, 2 dim, 31 red, 32 green, 33 yellow, 35 magenta, 36 cyan.
_STATUS_COLOR = {
    Status.PASS: "32", Status.INFO: "36", Status.WARN: "33", Status.FAIL: "1;31",
    Status.SKIP: "2", Status.IGNORED: "2", Status.ERROR: "1;35",
}
_SEVERITY_COLOR = {
    Severity.CRITICAL: "1;31", Severity.HIGH: "31", Severity.MEDIUM: "33", Severity.LOW: "36",
    Severity.INFO: "2",
}
_GRADE_COLOR = {"A": "1;32", "B": "32", "C": "33", "D": "33", "F": "1;31"}


class _Paint:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and code else text

    def status(self, status: Status) -> str:
        return self(_MARK[status], _STATUS_COLOR[status])

    def severity(self, severity: Severity) -> str:
        return self(severity.label, _SEVERITY_COLOR[severity])


def wrap(text: str, width: int) -> str:
    """Text folded to width for a table cell; "-" when empty."""
    return "\n".join(textwrap.wrap(text, width)) or "-"


def finding_cell(finding: Finding, width: int) -> str:
    """The finding's message and, when a Dockerfile matched, the lines to fix:
    `at Dockerfile:12`, never broken (a long path widens the column instead)."""
    cell = wrap(finding.message, width)
    if finding.source is not None:
        cell += f"\nat {finding.source.label}"
    return cell


def _findings_table(group: list[ScoredFinding], paint: _Paint) -> str:
    rows = []
    for s in group:
        severity = paint.severity(s.finding.severity)
        if s.novelty is not None:
            severity += f"\n({s.novelty.value})"
        rows.append((
            severity,
            s.rule.id,
            finding_cell(s.finding, 34),
            wrap(s.finding.evidence, 44) + "\nfix: " + wrap(s.rule.fix, 40),
        ))
    return tabulate(rows, headers=("severity", "rule", "finding", "evidence / fix"),
                    tablefmt="simple")


def _waived_table(group: list[ScoredFinding]) -> str:
    rows = []
    for s in group:
        waiver = s.finding.waiver
        assert waiver is not None
        until = f"\nuntil {waiver.expires.isoformat()}" if waiver.expires else ""
        rows.append((
            s.rule.id,
            finding_cell(s.finding, 30),
            wrap(s.finding.evidence, 34),
            wrap(f"{waiver.reason} ({waiver.source or 'policy'})", 28) + until,
        ))
    return tabulate(rows, headers=("rule", "finding", "evidence", "waived because"),
                    tablefmt="simple")


def _image(item: ImageReport, paint: _Paint) -> str:
    image = item.image
    grade = paint(f"grade {item.grade}", _GRADE_COLOR.get(item.grade, ""))
    lines = [
        paint(f"{image.reference}  ({image.id[:19]})", "1"),
        f"score {item.score}/100  {grade}   size {human_size(image.size)} "
        f"({human_size(image.own_size)} own{', compressed' if image.compressed_sizes else ''})"
        f"   layers {len(image.layers)} "
        f"({len(image.own_layers)} own)",
        f"base: {image.boundary.evidence}",
    ]
    change = delta(item)
    if change is not None:
        lines.append(describe_delta(change))
    if image.history_note:
        lines.append(f"history: {image.history_note}")
    if not image.content_read:
        lines.append("layer contents not read (--no-content): content checks skipped")
    practices = [
        (p.practice.id, p.practice.name, paint.status(p.status), p.findings,
         f"-{p.points_lost:g}" if p.points_lost else "")
        for p in item.practices
    ]
    lines += ["", tabulate(practices, headers=("#", "practice", "status", "findings", "points"),
                           tablefmt="simple")]
    if item.cap is not None:
        lines.append(paint(f"score {describe_cap(item.cap)}", "1;31"))
    for title, group in (
        ("Findings", of_standing(item, Standing.SCORED)),
        ("Base image findings (not scored)", of_standing(item, Standing.BASE)),
    ):
        if group:
            lines += ["", f"{title}:", _findings_table(group, paint)]
    waived = of_standing(item, Standing.WAIVED)
    if waived:
        lines += ["", "Waived findings (ignored, not scored):", _waived_table(waived)]
    odd = [r for r in item.results if r.status in NOT_JUDGED]
    if odd:
        lines += ["", "Not judged:"] + [
            f"  {r.rule.id} {paint.status(r.status)}: {r.note}" for r in odd
        ]
    if item.notices:
        lines += ["", "Notices:"] + [f"  {n}" for n in item.notices]
    return "\n".join(lines)


def render(report: Report, *, color: bool = False) -> str:
    paint = _Paint(color)
    parts = [_image(item, paint) for item in report.images]
    for failure in report.failures:
        hint = f" (hint: {failure.hint})" if failure.hint else ""
        parts.append(f"{failure.reference}: {paint('could not audit', '1;31')}: "
                     f"{failure.message}{hint}")
    return ("\n\n" + "=" * WIDTH + "\n\n").join(parts) + "\n"
