"""JUnit XML for CI test reports (Jenkins, GitLab, GitHub test reporters): a test suite per image,
a test case per rule. fail and warn are failures, skip and ignored are skipped, error is an error;
deterministic (no timestamps), so two runs on one image give the same bytes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence

from auditor.formats.facts import delta, describe_cap, practice_names, slug
from auditor.model.findings import Status
from auditor.model.image import Origin
from auditor.model.report import ImageReport, Report, RuleResult, ScoredFinding
from auditor.units import human_size, plural, signed

# Characters XML 1.0 cannot hold, even escaped.
_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_FAILED = (Status.FAIL, Status.WARN)
_SKIPPED = (Status.SKIP, Status.IGNORED)


def clean(text: str) -> str:
    return _INVALID.sub("", text)


def _element(parent: ET.Element, tag: str, text: str = "", **attributes: str) -> ET.Element:
    child = ET.SubElement(parent, tag, {k: clean(v) for k, v in attributes.items()})
    if text:
        child.text = clean(text)
    return child


def _describe(scored: ScoredFinding) -> str:
    finding = scored.finding
    mark = f" [{scored.novelty.value}]" if scored.novelty is not None else ""
    lines = [f"- [{finding.severity.label}]{mark} {finding.message}",
             f"  evidence: {finding.evidence}"]
    if finding.source is not None:
        lines.append(f"  at {finding.source.label}")
    if finding.origin is Origin.BASE:
        lines.append("  from the base image" + ("" if scored.points else " (not scored)"))
    if finding.waiver is not None:
        waiver = finding.waiver
        until = f", until {waiver.expires.isoformat()}" if waiver.expires else ""
        lines.append(f"  waived: {waiver.reason} ({waiver.source or 'policy'}{until})")
    return "\n".join(lines)


def _text(result: RuleResult, findings: Iterable[ScoredFinding], *, note: bool) -> str:
    shown = list(findings)
    parts = [result.note] if note and result.note else []
    parts += [_describe(s) for s in shown]
    if any(s.finding.waiver is None and s.finding.origin is Origin.OWN for s in shown):
        parts.append(f"fix: {result.rule.fix}")
    return "\n".join(parts)


def _place(findings: Sequence[ScoredFinding]) -> dict[str, str]:
    """`file` and `line` of the first of the findings a Dockerfile line explains (CI test
    reporters annotate that line), or none."""
    source = next((s.finding.source for s in findings if s.finding.source is not None), None)
    return {} if source is None else {"file": source.path, "line": str(source.start_line)}


def _case(suite: ET.Element, item: ImageReport, result: RuleResult, practice: str) -> None:
    info = result.rule
    findings = [s for s in item.findings if s.rule.id == info.id]
    scored = [s for s in findings if s.finding.waiver is None and s.points > 0] or [
        s for s in findings if s.finding.waiver is None
    ]
    place = _place([*scored, *findings])
    case = _element(suite, "testcase", name=f"{info.id} {info.title}",
                    classname=f"imgaudit.{slug(practice) or info.practice}", time="0", **place)
    # skip, ignored and error carry the note as their message; pass and info lead with it
    text = _text(result, findings, note=result.status in _FAILED)
    match result.status:
        case Status.FAIL | Status.WARN:
            worst = max((s.finding.severity for s in scored), default=info.severity)
            first = scored[0].finding.message if scored else result.note
            # the status leads: a CI reader (and a test) tells warn from fail without the type
            message = f"{result.status.value}: {plural(len(result.findings), 'finding')}: {first}"
            _element(case, "failure", text, message=message, type=worst.label,
                     **_place(scored))
        case Status.SKIP:
            _element(case, "skipped", text, message=result.note or "skipped")
        case Status.IGNORED:
            _element(case, "skipped", text, message=f"ignored: {result.note}")
        case Status.ERROR:
            _element(case, "error", text, message=result.note, type="RuleError")
        case Status.PASS | Status.INFO:
            # a passing case says which, and why: its pass evidence, or its info findings
            head = f"{result.status.value}: {result.note}" if result.note else result.status.value
            _element(case, "system-out", f"{head}\n{text}" if text else head)


def _properties(suite: ET.Element, item: ImageReport) -> None:
    image = item.image
    values = [
        ("image.id", image.id),
        ("score", str(item.score)),
        ("grade", item.grade),
        *([("score.cap", describe_cap(item.cap))] if item.cap is not None else []),
        ("size", f"{image.size} ({human_size(image.size)})"),
        ("layers", str(len(image.layers))),
    ]
    change = delta(item)
    if change is not None:
        values += [
            ("baseline", change.reference),
            ("baseline.score_delta", signed(change.score)),
            ("baseline.size_delta", signed(change.size, human_size)),
            ("baseline.layers_delta", signed(change.layers)),
            ("baseline.new", str(change.new)),
            ("baseline.known", str(change.known)),
            ("baseline.resolved", str(change.resolved)),
        ]
    values += [(f"notice.{n}", notice) for n, notice in enumerate(item.notices, 1)]
    properties = _element(suite, "properties")
    for name, value in values:
        _element(properties, "property", name=name, value=value)


def _suite(root: ET.Element, item: ImageReport) -> ET.Element:
    statuses = [r.status for r in item.results]
    suite = _element(
        root, "testsuite",
        name=item.image.reference,
        tests=str(len(statuses)),
        failures=str(sum(s in _FAILED for s in statuses)),
        errors=str(statuses.count(Status.ERROR)),
        skipped=str(sum(s in _SKIPPED for s in statuses)),
        time="0",
    )
    _properties(suite, item)
    names = practice_names(item)
    for result in item.results:
        _case(suite, item, result, names.get(result.rule.practice, ""))
    return suite


def render(report: Report) -> str:
    root = ET.Element("testsuites", {"name": "imgaudit"})
    for item in report.images:
        _suite(root, item)
    for failure in report.failures:
        suite = _element(root, "testsuite", name=failure.reference, tests="1", failures="0",
                         errors="1", skipped="0", time="0")
        case = _element(suite, "testcase", name="audit the image", classname="imgaudit",
                        time="0")
        hint = f"hint: {failure.hint}" if failure.hint else ""
        _element(case, "error", hint, message=f"could not audit: {failure.message}",
                 type="AuditFailure")
    suites = list(root)
    for total in ("tests", "failures", "errors"):
        root.set(total, str(sum(int(s.get(total, "0")) for s in suites)))
    root.set("time", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
