"""GitHub Actions workflow commands: an error per image that could not be audited or rule that
crashed, a summary notice per image, an annotation per finding (`::error title=...::...`; waived
and base-image findings as notices), in that order. A finding located on a Dockerfile line
annotates it (`::error file=Dockerfile,line=12,endLine=12,title=...::`); others have no file."""

from __future__ import annotations

from auditor.formats.facts import (
    LEVELS,
    Standing,
    delta,
    describe_cap,
    describe_counts,
    describe_delta,
    short_digests,
    standing,
)
from auditor.model.findings import Finding, Status
from auditor.model.report import ImageReport, Report, ScoredFinding
from auditor.text import printable

_LEVEL_COMMAND = {"error": "error", "warning": "warning", "note": "notice"}


def escape_data(text: str) -> str:
    """A workflow command's message: line breaks as GitHub decodes them, other control
    characters escaped (the log is shown on a terminal too)."""
    return printable(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **properties: str) -> str:
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def _place(finding: Finding) -> dict[str, str]:
    """The file and lines an annotation sits on, when a Dockerfile matched; else none."""
    source = finding.source
    if source is None:
        return {}
    return {"file": source.path, "line": str(source.start_line),
            "endLine": str(source.end_line)}


def _finding(item: ImageReport, scored: ScoredFinding) -> str:
    finding = scored.finding
    rule = scored.rule
    reference = item.image.reference
    title = f"{rule.id} {rule.title}"
    text = f"{reference}: {finding.message} — {finding.evidence}"
    novelty = f" [{scored.novelty.value}]" if scored.novelty is not None else ""
    place = _place(finding)
    match standing(scored):
        case Standing.WAIVED:
            assert finding.waiver is not None
            waiver = finding.waiver
            until = f", until {waiver.expires.isoformat()}" if waiver.expires else ""
            return command("notice", f"{text}. Waived: {waiver.reason} "
                           f"({waiver.source or 'policy'}{until}); not scored.",
                           **place, title=f"{title} (waived)")
        case Standing.BASE:
            return command("notice", f"{text}. From the base image; not scored. "
                           f"Fix: {rule.fix}", **place, title=f"{title} (base image)")
        case Standing.SCORED:
            level = _LEVEL_COMMAND[LEVELS[finding.severity]]
            return command(level, f"{text}.{novelty} Fix: {rule.fix}",
                           **place, title=f"{title} [{finding.severity.label}]")


def _summary(item: ImageReport) -> str:
    reference = item.image.reference
    capped = f" ({describe_cap(item.cap)})" if item.cap is not None else ""
    summary = (f"{reference}: score {item.score}/100, grade {item.grade}{capped}; rules: "
               f"{describe_counts(item)}")
    skipped = [f"{r.rule.id} {r.status.value} ({r.note})" for r in item.results
               if r.status in (Status.SKIP, Status.IGNORED)]
    if skipped:
        summary += "\nnot judged: " + "; ".join(skipped)
    change = delta(item)
    if change is not None:
        summary += f"\n{describe_delta(change)}"
    return command("notice", summary, title=f"imgaudit {reference}")


def _rule_errors(item: ImageReport) -> list[str]:
    reference = item.image.reference
    return [command("error", f"{reference}: {r.rule.id} error: {r.note}",
                    title=f"{r.rule.id} rule error")
            for r in item.results if r.status is Status.ERROR]


def render(report: Report) -> str:
    # GitHub shows the first 10 annotations of each level in a step and drops the rest, so what
    # must not be lost comes first: images that could not be audited, rules that crashed, each
    # image's score; then notices, then the findings of every image, costliest first.
    lines = []
    for failure in report.failures:
        hint = f" (hint: {failure.hint})" if failure.hint else ""
        lines.append(command("error", f"{failure.reference}: {failure.message}{hint}",
                             title="imgaudit could not audit the image"))
    lines += [line for item in report.images for line in _rule_errors(item)]
    lines += [_summary(item) for item in report.images]
    lines += [command("warning", f"{item.image.reference}: {n}", title="imgaudit notice")
              for item in report.images for n in item.notices]
    findings = [(item, s) for item in report.images for s in item.findings]
    # stable: within equal cost, each image's own (costliest-first) order, images in turn
    findings.sort(key=lambda pair: (-pair[1].points, -pair[1].finding.severity))
    lines += [_finding(item, s) for item, s in findings]
    # digests cut to 12 hex, as a person reads them; the JSON and SARIF reports keep them whole
    return "".join(short_digests(line) + "\n" for line in lines)
