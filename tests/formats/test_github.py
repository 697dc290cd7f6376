"""GitHub workflow commands: one well-formed, escaped command per line (the runner's own escaping
rules), levels from severities, waived and base findings as notices, errors for what could not be
judged, a summary notice per image."""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict

import pytest

from auditor.formats import render
from auditor.formats.github import command, escape_data, escape_property
from auditor.model.findings import Severity
from auditor.model.report import Report
from tests.support.sample import WAIVER_REASON, every_status

LINE = re.compile(r"^::(error|warning|notice)(?: title=([^:,\r\n]*))?::([^\r\n]*)$")
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "notice",
         "info": "notice"}


def unescape(text: str, *, property: bool = False) -> str:
    if property:
        text = text.replace("%3A", ":").replace("%2C", ",")
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


@pytest.fixture(scope="module")
def sample() -> Report:
    return every_status()


@pytest.fixture(scope="module")
def commands(sample: Report) -> list[tuple[str, str, str]]:
    text = render(sample, "github")
    assert text.endswith("\n")
    parsed = []
    for line in text.splitlines():
        match = LINE.match(line)
        assert match, line
        level, title, message = match.groups()
        parsed.append((level, unescape(title or "", property=True), unescape(message)))
    return parsed


def test_escaping_follows_the_runner() -> None:
    assert escape_data("100%\r\nnext: a, b") == "100%25%0D%0Anext: a, b"
    assert escape_property("IA201: root, 100%") == "IA201%3A root%2C 100%25"
    assert command("error", "a\nb", title="T: x, y") == "::error title=T%3A x%2C y::a%0Ab"
    assert command("notice", "plain") == "::notice::plain"


def test_a_command_per_finding_at_its_severity(
    sample: Report, commands: list[tuple[str, str, str]]
) -> None:
    for item in sample.images:
        for scored in item.findings:
            finding = scored.finding
            title = f"{scored.rule.id} {scored.rule.title}"
            (found,) = [c for c in commands if c[1].startswith(title)
                        and f"{item.image.reference}: {finding.message} — {finding.evidence}"
                        in c[2]]
            level, _, message = found
            if finding.waiver is not None:
                assert level == "notice" and f"Waived: {finding.waiver.reason}" in message
            elif finding.origin.value == "base" and not scored.points:
                assert level == "notice" and "From the base image; not scored." in message
            else:
                assert level == LEVEL[finding.severity.label]
                assert f"Fix: {scored.rule.fix}" in message


def test_waiver_reason_survives_escaping(commands: list[tuple[str, str, str]]) -> None:
    waived = [c for c in commands if c[1].endswith("(waived)")]
    assert len(waived) == 2
    assert any(WAIVER_REASON in c[2] and "until 2027-01-31" in c[2] for c in waived)


def test_errors_for_crashes_and_images_that_could_not_be_audited(
    commands: list[tuple[str, str, str]]
) -> None:
    errors = [c for c in commands if c[0] == "error"]
    assert any(c[1] == "IA799 rule error" and "boom & bust <here>" in c[2] for c in errors)
    assert any(c[1] == "imgaudit could not audit the image" and c[2].startswith("nosuch:1: ")
               and "hint: build or pull it first" in c[2] for c in errors)


def test_a_summary_per_image(sample: Report, commands: list[tuple[str, str, str]]) -> None:
    for item in sample.images:
        (summary,) = [c for c in commands if c[1] == f"imgaudit {item.image.reference}"]
        assert summary[0] == "notice"
        assert f"score {item.score}/100, grade {item.grade}" in summary[2]
        for result in item.results:
            if result.status.value in ("skip", "ignored"):
                assert f"{result.rule.id} {result.status.value} (" in summary[2]
    first = next(c for c in commands if c[1] == "imgaudit app:1")[2]
    assert "vs baseline app:0: score -7" in first and "1 resolved" in first


def test_notices_are_warnings(commands: list[tuple[str, str, str]]) -> None:
    notices = [c for c in commands if c[1] == "imgaudit notice"]
    assert [c[0] for c in notices] == ["warning", "warning"]
    assert any("expired on 2026-01-01" in c[2] for c in notices)


def shown_by_github(text: str) -> list[tuple[str, str, str]]:
    """What a step shows: the first 10 annotations of each level, the rest dropped."""
    kept: dict[str, int] = defaultdict(int)
    shown = []
    for line in text.splitlines():
        match = LINE.match(line)
        assert match, line
        level, title, message = match.groups()
        kept[level] += 1
        if kept[level] <= 10:
            shown.append((level, unescape(title or "", property=True), unescape(message)))
    return shown


def test_what_must_not_be_lost_comes_before_github_s_cap(sample: Report) -> None:
    first, second = sample.images
    errors = [s for s in first.findings
              if s.finding.severity >= Severity.HIGH and s.points > 0]
    assert errors
    crowded = dataclasses.replace(first, findings=(*errors * (12 // len(errors) + 1),
                                                   *first.findings))
    report = Report((crowded, second), sample.failures)
    text = render(report, "github")
    assert text.count("::error ") > 12
    shown = shown_by_github(text)
    assert any(title == "imgaudit could not audit the image" and "nosuch:1" in message
               for _, title, message in shown)
    assert any(title == "IA799 rule error" for _, title, _ in shown)
    for item in report.images:
        assert any(title == f"imgaudit {item.image.reference}" for _, title, _ in shown)


def test_findings_come_costliest_first_across_images(
    sample: Report, commands: list[tuple[str, str, str]]
) -> None:
    def cost(title: str, message: str) -> float:
        (points,) = {s.points for item in sample.images for s in item.findings
                     if title.startswith(f"{s.rule.id} {s.rule.title}")
                     and message.startswith(f"{item.image.reference}: {s.finding.message}")}
        return points

    findings = [(t, m) for _, t, m in commands
                if t.startswith("IA") and not t.endswith("rule error")]
    assert len(findings) == sum(len(item.findings) for item in sample.images)
    costs = [cost(t, m) for t, m in findings]
    assert costs == sorted(costs, reverse=True)
