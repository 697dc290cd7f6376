"""The terminal report: per-practice statuses, the score, and each finding with its evidence
and fix; base-image findings apart."""

from __future__ import annotations

import textwrap

from tabulate import tabulate

from auditor.model import ImageReport, Origin, Report, Status
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


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) or "-"


def _image(item: ImageReport) -> str:
    image = item.image
    lines = [
        f"{image.reference}  ({image.id[:19]})",
        f"score {item.score}/100  grade {item.grade}   size {human_size(image.size)} "
        f"({human_size(image.own_size)} own{', compressed' if image.compressed_sizes else ''})"
        f"   layers {len(image.layers)} "
        f"({len(image.own_layers)} own)",
        f"base: {image.boundary.evidence}",
    ]
    if image.history_note:
        lines.append(f"history: {image.history_note}")
    if not image.content_read:
        lines.append("layer contents not read (--no-content): content checks skipped")
    practices = [
        (p.practice.id, p.practice.name, _MARK[p.status], p.findings,
         f"-{p.points_lost:g}" if p.points_lost else "")
        for p in item.practices
    ]
    lines += ["", tabulate(practices, headers=("#", "practice", "status", "findings", "points"),
                           tablefmt="simple")]
    own = [s for s in item.findings if s.finding.origin is Origin.OWN]
    base = [s for s in item.findings if s.finding.origin is Origin.BASE]
    for title, group in (("Findings", own), ("Base image findings (not scored)", base)):
        if not group:
            continue
        rows = [
            (
                s.finding.severity.label,
                s.rule.id,
                _wrap(s.finding.message, 34),
                _wrap(s.finding.evidence, 44) + "\nfix: " + _wrap(s.rule.fix, 40),
            )
            for s in group
        ]
        lines += ["", f"{title}:",
                  tabulate(rows, headers=("severity", "rule", "finding", "evidence / fix"),
                           tablefmt="simple")]
    odd = [r for r in item.results if r.status in (Status.ERROR, Status.SKIP, Status.IGNORED)]
    if odd:
        lines += ["", "Not judged:"] + [
            f"  {r.rule.id} {_MARK[r.status]}: {r.note}" for r in odd
        ]
    return "\n".join(lines)


def render(report: Report) -> str:
    parts = [_image(item) for item in report.images]
    for failure in report.failures:
        hint = f" (hint: {failure.hint})" if failure.hint else ""
        parts.append(f"{failure.reference}: could not audit: {failure.message}{hint}")
    return ("\n\n" + "=" * WIDTH + "\n\n").join(parts) + "\n"
