"""The terminal report, folded to the terminal's width: per-practice statuses, the score (and its
cap), each finding worst first with what it is about, the step that copied several of them in
listed once, each rule's fix once; base-image and waived findings apart. Digests are cut to 12
hex unless verbose. ANSI colour only when asked."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from tabulate import tabulate

from auditor.formats.facts import (
    Standing,
    delta,
    describe_cap,
    describe_delta,
    of_standing,
    short_digests,
)
from auditor.model.findings import NOT_JUDGED, Finding, Severity, Status
from auditor.model.report import ImageReport, Report, ScoredFinding
from auditor.redact import describe_step
from auditor.text import printable
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
WIDTH = 100  # columns when the terminal's width is unknown
MIN_WIDTH = 40

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
    """Text folded to width for a table cell, its control characters escaped; "-" when empty."""
    return "\n".join(textwrap.wrap(printable(text), width)) or "-"


def finding_cell(finding: Finding, width: int) -> str:
    """The finding's message and, when a Dockerfile matched, the lines to fix:
    `at Dockerfile:12`, never broken (a long path widens the column instead)."""
    cell = wrap(finding.message, width)
    if finding.source is not None:
        cell += f"\nat {finding.source.label}"
    return cell


# A finding is one line (wrapped under itself): severity, rule, message; then what it is about.
_SEVERITY_WIDTH = max(len(s.label) for s in Severity)
_RULE_WIDTH = 7
_INDENT = 2 + _SEVERITY_WIDTH + 2 + _RULE_WIDTH + 1
_WHOLE_CONTEXT_NOTE = "copies the whole build context"
_SHIPPED_NOTE = "still shipped"


def fit(text: str, width: int, indent: int | None = None) -> list[str]:
    """One logical line folded to width, continuation lines indented under its text (by
    `indent`, else as deep as the line's own leading spaces); long words are broken. Control
    characters (from a name, a label, a history line) are escaped first, so widths are true."""
    text = printable(text)
    lead = len(text) - len(text.lstrip(" "))
    hang = " " * (lead if indent is None else indent)
    if len(text) <= width:
        return [text]
    return textwrap.wrap(text, width, initial_indent="", subsequent_indent=hang,
                         break_on_hyphens=False, drop_whitespace=True) or [text]


def fitted(lines: list[str], width: int) -> list[str]:
    """Every line of a block folded to width (each may hold several, split on newlines)."""
    return [piece for line in lines for row in line.split("\n") for piece in fit(row, width)]


def order(group: list[ScoredFinding]) -> list[ScoredFinding]:
    """Worst severity first, then by practice and rule; the costliest first among equals."""
    return sorted(group, key=lambda s: (-s.finding.severity, s.rule.practice, s.rule.id,
                                        -s.points, s.finding.path))


@dataclass(frozen=True, slots=True)
class _Cause:
    """The step that brought several findings' files in: listed once, each finding pointing
    at it by label."""

    label: str
    step: str
    index: int
    layer: int
    paths: tuple[str, ...]
    whole_context: bool


def _causes(item: ImageReport, group: list[ScoredFinding]) -> dict[int, _Cause]:
    """The COPY or ADD steps behind two or more findings with paths, by history index."""
    by_step: dict[int, list[ScoredFinding]] = {}
    for s in group:
        step = s.finding.step
        if step is None or not s.finding.all_paths or not 0 <= step < len(item.image.history):
            continue
        if item.image.history[step].instruction in ("COPY", "ADD"):
            by_step.setdefault(step, []).append(s)
    causes: dict[int, _Cause] = {}
    for step, members in sorted(by_step.items()):
        if len(members) < 2:
            continue
        paths = tuple(dict.fromkeys(p for s in members for p in s.finding.all_paths))
        layer = members[0].finding.layer
        causes[step] = _Cause(
            label=f"[{chr(ord('A') + len(causes))}]" if len(causes) < 26 else f"[{step}]",
            step=short_digests(describe_step(item.image.history[step])),
            index=step,
            layer=layer if layer is not None else 0,
            paths=paths,
            whole_context=any(_WHOLE_CONTEXT_NOTE in s.finding.evidence for s in members),
        )
    return causes


def _listed(paths: tuple[str, ...], most: int) -> str:
    shown = ", ".join("/" + p for p in paths[:most])
    return shown + (f" and {len(paths) - most} more" if len(paths) > most else "")


def _cause_line(cause: _Cause) -> str:
    count = len(cause.paths)
    step = cause.step.split(": ", 1)[-1]
    context = ("; it copies the whole build context: add a .dockerignore"
               if cause.whole_context else "")
    return (f"  {cause.label} {count} path{'s' if count != 1 else ''} copied by {step} "
            f"(layer {cause.layer}, history[{cause.index}]): {_listed(cause.paths, 6)}{context}")


def _finding_lines(s: ScoredFinding, cause: _Cause | None, paint: _Paint, width: int,
                   verbose: bool) -> list[str]:
    finding = s.finding
    novelty = f" ({s.novelty.value})" if s.novelty is not None else ""
    message = finding.message if verbose else short_digests(finding.message)
    head = f"  {finding.severity.label:<{_SEVERITY_WIDTH}}  {s.rule.id:<{_RULE_WIDTH}} "
    lines = fit(head + message + novelty, width, _INDENT)
    pad = " " * _INDENT
    if verbose:
        details = [finding.evidence, f"fix: {s.rule.fix}"]
    elif cause is not None:
        # one line: the message, the paths it does not name yet, the step that copied them
        unnamed = [p for p in finding.all_paths if f"/{p}" not in message]
        named = f": {_listed(tuple(unnamed), 3)}" if unnamed else ""
        shipped = (" (deleted later, still shipped)" if _SHIPPED_NOTE in finding.evidence
                   else "")
        lines = fit(f"{head}{message}{named}{shipped} {cause.label}{novelty}", width, _INDENT)
        details = []
    else:
        details = [short_digests(finding.evidence)]
    if finding.source is not None:
        details.append(f"at {finding.source.label}")
    for detail in details:
        lines += fit(pad + detail, width, _INDENT)
    label = finding.severity.label
    lines[0] = lines[0].replace(label, paint.severity(finding.severity), 1)
    return lines


def _findings(item: ImageReport, title: str, group: list[ScoredFinding], paint: _Paint,
              width: int, verbose: bool) -> list[str]:
    ordered = order(group)
    causes = _causes(item, ordered)
    count = len(ordered)
    lines = ["", f"{title} ({count}, worst first):"]
    for s in ordered:
        cause = causes.get(s.finding.step) if s.finding.step is not None else None
        lines += _finding_lines(s, cause, paint, width, verbose)
    if causes:
        lines.append("Copied in by one step:")
        lines += [row for c in causes.values() for row in fit(_cause_line(c), width, 6)]
    if not verbose:
        fixes = dict.fromkeys((s.rule.id, s.rule.fix) for s in ordered)
        lines.append("Fixes:")
        lines += [row for rule_id, fix in fixes
                  for row in fit(f"  {rule_id:<{_RULE_WIDTH}} {fix}", width, 2 + _RULE_WIDTH + 1)]
    return lines


def _waived(group: list[ScoredFinding], width: int, verbose: bool) -> list[str]:
    lines = ["", "Waived findings (ignored, not scored):"]
    for s in order(group):
        waiver = s.finding.waiver
        assert waiver is not None
        until = f", until {waiver.expires.isoformat()}" if waiver.expires else ""
        evidence = s.finding.evidence if verbose else short_digests(s.finding.evidence)
        hang = 2 + _RULE_WIDTH + 1
        lines += fit(f"  {s.rule.id:<{_RULE_WIDTH}} {s.finding.message}", width, hang)
        located = (f"at {s.finding.source.label}",) if s.finding.source is not None else ()
        for detail in (evidence, *located,
                       f"waived: {waiver.reason} ({waiver.source or 'policy'}){until}"):
            lines += fit(" " * hang + detail, width, hang)
    return lines


def _image(item: ImageReport, paint: _Paint, width: int, verbose: bool) -> str:
    image = item.image
    layers = len(image.layers)
    own_layers = len(image.own_layers)
    lines = [
        f"{image.reference}  ({image.id[:19]})",
        f"score {item.score}/100  grade {item.grade}   size {human_size(image.size)} "
        f"({human_size(image.own_size)} own{', compressed' if image.compressed_sizes else ''})"
        f"   {layers} layer{'s' if layers != 1 else ''} ({own_layers} own)",
        f"base: {image.boundary.evidence}",
    ]
    change = delta(item)
    if change is not None:
        lines.append(describe_delta(change))
    if image.history_note:
        lines.append(f"history: {image.history_note}")
    if not image.content_read:
        lines.append("layer contents not read (--no-content): content checks skipped")
    lines = fitted(lines, width)
    if not verbose:
        lines = [short_digests(line) for line in lines]
    grade = f"grade {item.grade}"
    lines[0] = paint(lines[0], "1")
    lines[1] = lines[1].replace(grade, paint(grade, _GRADE_COLOR.get(item.grade, "")), 1)
    practices = [
        (p.practice.id, p.practice.name, paint.status(p.status), p.findings,
         f"-{p.points_lost:g}" if p.points_lost else "")
        for p in item.practices
    ]
    lines += ["", tabulate(practices, headers=("#", "practice", "status", "findings", "points"),
                           tablefmt="simple")]
    if item.cap is not None:
        lines += [paint(row, "1;31") for row in fit(f"score {describe_cap(item.cap)}", width, 2)]
    for title, group in (
        ("Findings", of_standing(item, Standing.SCORED)),
        ("Base image findings, not scored", of_standing(item, Standing.BASE)),
    ):
        if group:
            lines += _findings(item, title, group, paint, width, verbose)
    waived = of_standing(item, Standing.WAIVED)
    if waived:
        lines += _waived(waived, width, verbose)
    odd = [r for r in item.results if r.status in NOT_JUDGED]
    if odd:
        lines += ["", "Not judged:"]
        for r in odd:
            row = fit(f"  {r.rule.id} {_MARK[r.status]}: {r.note}", width, 4)
            row[0] = row[0].replace(_MARK[r.status], paint.status(r.status), 1)
            lines += row
    if item.notices:
        lines += ["", "Notices:", *fitted([f"  {n}" for n in item.notices], width)]
    return "\n".join(lines)


def render(report: Report, *, color: bool = False, width: int = WIDTH,
           verbose: bool = False) -> str:
    """The report folded to `width` columns; `verbose` gives every finding's full evidence
    (digests whole) and fix instead of grouping them. Images that could not be audited are not
    listed: the command line says so once, on stderr."""
    paint = _Paint(color)
    width = max(MIN_WIDTH, width)
    parts = [_image(item, paint, width, verbose) for item in report.images]
    if not parts:
        return ""
    text = ("\n\n" + "=" * width + "\n\n").join(parts) + "\n"
    return text if verbose else short_digests(text)
