"""GitHub-flavoured Markdown for `$GITHUB_STEP_SUMMARY` and merge-request comments: per image the
score, the practices table and the costliest findings with their fixes; the rest collapsed."""

from __future__ import annotations

import re
from collections.abc import Sequence

from auditor.formats.facts import (
    Standing,
    delta,
    describe_cap,
    of_standing,
    short_digests,
)
from auditor.model.findings import NOT_JUDGED, Finding, Severity, Status
from auditor.model.report import ImageReport, Novelty, Report, ScoredFinding
from auditor.text import printable
from auditor.units import human_size, plural, signed

STATUS: dict[Status, str] = {
    Status.PASS: "✅ pass",
    Status.INFO: "ℹ️ info",
    Status.WARN: "⚠️ warn",
    Status.FAIL: "❌ fail",
    Status.SKIP: "⏭️ skip",
    Status.IGNORED: "🔕 ignored",
    Status.ERROR: "💥 error",
}
TOP = 8  # findings shown before the collapsed sections
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#!&])")


def escape(text: str) -> str:
    """Plain text that Markdown shows as written, on one line, safe in a table cell, its control
    characters escaped."""
    return _SPECIAL.sub(r"\\\1", " ".join(printable(text, lines=True).split()))


def markdown_cell(text: str) -> str:
    """imgaudit's own Markdown (a rule's fix, with `code`), kept on one line in a table cell."""
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;")


def located(finding: Finding) -> str:
    """` at `Dockerfile:12`` after a finding's message when a Dockerfile matched, else ""."""
    if finding.source is None:
        return ""
    label = finding.source.label.replace("`", "").replace("|", "\\|")
    return f" at `{label}`"


def _table(headers: tuple[str, ...], rows: Sequence[Sequence[str]], align: str = "") -> str:
    marks = [":---:" if a == "c" else "---:" if a == "r" else "---"
             for a in align.ljust(len(headers), "l")]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _details(summary: str, body: str) -> list[str]:
    # the blank lines let GitHub render the Markdown inside the HTML block
    return ["", f"<details><summary>{summary}</summary>", "", body, "", "</details>"]


def _novelty(scored: ScoredFinding) -> str:
    if scored.novelty is None:
        return ""
    return "🆕 new" if scored.novelty is Novelty.NEW else "known"


def _header(item: ImageReport) -> list[str]:
    image = item.image
    statuses = {r.status for r in item.results}
    worst = next((s for s in (Status.ERROR, Status.FAIL, Status.WARN) if s in statuses), None)
    icon = STATUS[worst].split()[0] if worst else "✅"
    lines = [f"### {icon} {escape(image.reference)}: {item.score}/100, grade {item.grade}", ""]
    change = delta(item)
    score = f"**{item.score}**/100 ({item.grade})"
    size = f"{human_size(image.size)} ({human_size(image.own_size)} own)"
    layers = f"{len(image.layers)} ({len(image.own_layers)} own)"
    if change is not None:
        score += f" {signed(change.score)}"
        size += f" {signed(change.size, human_size)}"
        layers += f" {signed(change.layers)}"
    lines.append(_table(("Score", "Size", "Layers", "Base image"),
                        [(score, size, layers, escape(image.boundary.evidence))]))
    if item.cap is not None:
        lines += ["", f"**Score {escape(describe_cap(item.cap))}.** A critical finding holds the "
                      "score under the pass line, whatever else the image does right."]
    if change is not None:
        lines += ["", f"Against baseline {escape(change.reference)}: **{change.new} new**, "
                      f"{change.known} known, {plural(change.resolved, 'resolved finding')}."]
    if image.history_note:
        lines += ["", f"History: {escape(image.history_note)}"]
    if not image.content_read:
        lines += ["", "Layer contents were not read (`--no-content`): content checks skipped."]
    return lines


def _practices(item: ImageReport) -> str:
    rows = [
        (str(p.practice.id), escape(p.practice.name), STATUS[p.status], str(p.findings),
         f"-{p.points_lost:g}" if p.points_lost else "")
        for p in item.practices
    ]
    return _table(("#", "Practice", "Status", "Findings", "Points"), rows, "rllrr")


def _finding_row(scored: ScoredFinding, unweighted: bool) -> tuple[str, ...]:
    finding = scored.finding
    severity = finding.severity.label + (" (not scored: weight 0)" if unweighted else "")
    return (severity, f"`{scored.rule.id}`", escape(finding.message) + located(finding),
            escape(finding.evidence), markdown_cell(scored.rule.fix))


def _unweighted(item: ImageReport) -> set[int]:
    """The practices a zero weight leaves unscored."""
    return {p.practice.id for p in item.practices if p.practice.weight == 0}


def top_findings(item: ImageReport) -> list[ScoredFinding]:
    """The findings worth a reader's first look: those that cost points, costliest first, then
    the image's own findings of medium or worse that a zero practice weight left unscored (the
    report's order already puts them so: by points, then severity)."""
    unweighted = _unweighted(item)
    return [
        s for s in of_standing(item, Standing.SCORED)
        if s.points > 0 or (s.finding.severity >= Severity.MEDIUM
                            and s.rule.practice in unweighted)
    ][:TOP]


def _image(item: ImageReport) -> str:
    lines = _header(item)
    lines += ["", _practices(item)]
    scored = of_standing(item, Standing.SCORED)
    top = top_findings(item)
    if top:
        unweighted = _unweighted(item)
        lines += ["", f"**Top findings** ({len(top)} of {len(scored)}, costliest first)", "",
                  _table(("Severity", "Rule", "Finding", "Evidence", "Fix"),
                         [_finding_row(s, s.rule.practice in unweighted and not s.points)
                          for s in top])]
    shown = [s for s in item.findings if s.finding.waiver is None]
    if shown:
        rows = [
            (s.finding.severity.label, f"`{s.rule.id}`",
             escape(s.finding.message) + located(s.finding),
             escape(s.finding.evidence), s.finding.origin.value, f"{s.points:g}", _novelty(s))
            for s in shown
        ]
        lines += _details(f"All findings ({len(shown)})", _table(
            ("Severity", "Rule", "Finding", "Evidence", "Origin", "Points", "Baseline"), rows,
            "llllrrl"))
    waived = of_standing(item, Standing.WAIVED)
    if waived:
        waived_rows: list[tuple[str, ...]] = []
        for s in waived:
            waiver = s.finding.waiver
            assert waiver is not None
            waived_rows.append((
                f"`{s.rule.id}`", escape(s.finding.message) + located(s.finding),
                escape(s.finding.evidence),
                escape(waiver.reason), escape(waiver.source or "policy"),
                waiver.expires.isoformat() if waiver.expires else "",
            ))
        lines += _details(f"🔕 Waived findings ({len(waived)}), not scored", _table(
            ("Rule", "Finding", "Evidence", "Reason", "Waiver from", "Expires"), waived_rows))
    odd = [r for r in item.results if r.status in NOT_JUDGED]
    if odd:
        odd_rows = [(f"`{r.rule.id}`", escape(r.rule.title), STATUS[r.status], escape(r.note))
                    for r in odd]
        lines += _details(f"Rules not judged ({len(odd)}): skipped, ignored or errors",
                          _table(("Rule", "Title", "Status", "Why"), odd_rows))
    if item.notices:
        lines += _details(f"Notices ({len(item.notices)})",
                          "\n".join(f"- {escape(n)}" for n in item.notices))
    return "\n".join(lines)


def render(report: Report) -> str:
    parts = ["## imgaudit"]
    parts += [_image(item) for item in report.images]
    for failure in report.failures:
        hint = f" Hint: {escape(failure.hint)}." if failure.hint else ""
        parts.append(f"### 💥 {escape(failure.reference)}: could not audit\n\n"
                     f"{escape(failure.message)}.{hint}")
    # digests cut to 12 hex, as a person reads them; the JSON and SARIF reports keep them whole
    return short_digests("\n\n".join(parts)) + "\n"
