"""Markdown for step summaries and merge-request comments: a heading per image with score, grade
and baseline deltas, the practices table, the costliest findings with fixes, collapsed details;
text from images escaped so no evidence can break a table or inject HTML."""

from __future__ import annotations

import re

import pytest

from auditor.formats import render
from auditor.formats.markdown import TOP, escape, markdown_cell, top_findings
from auditor.model.findings import Severity
from auditor.model.policy import Policy
from auditor.model.report import Report
from tests.support.factory import good, report
from tests.support.sample import every_status

UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


@pytest.fixture(scope="module")
def sample() -> Report:
    return every_status()


@pytest.fixture(scope="module")
def text(sample: Report) -> str:
    return render(sample, "markdown")


def _tables(text: str) -> list[list[str]]:
    tables: list[list[str]] = []
    previous = ""
    for line in text.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append([])
            tables[-1].append(line)
        previous = line
    return tables


def test_every_table_row_has_its_header_s_columns(text: str) -> None:
    tables = _tables(text)
    assert len(tables) >= 8
    for table in tables:
        columns = len(UNESCAPED_PIPE.findall(table[0]))
        assert re.fullmatch(r"\|( :?-+:? \|)+", table[1]), table[1]
        for row in table:
            assert len(UNESCAPED_PIPE.findall(row)) == columns, row


def test_the_only_html_is_our_own(text: str) -> None:
    tags = set(re.findall(r"(?<!\\)<[^>]*>", text))
    assert tags <= {"<details>", "</details>", "<summary>", "</summary>"}
    assert "\\<OPS-12\\>" in text and "\\`migration\\`" in text  # a waiver reason, escaped


def test_escape_keeps_text_on_one_cell() -> None:
    assert escape("a | b\n<c> `d` *e* [f](g)") == r"a \| b \<c\> \`d\` \*e\* \[f\](g)"


def test_a_heading_per_image_with_score_grade_and_deltas(sample: Report, text: str) -> None:
    for item in sample.images:
        heading = re.search(rf"^### \S+ {re.escape(item.image.reference)}: "
                            rf"{item.score}/100, grade {item.grade}$", text, re.M)
        assert heading, item.image.reference
    first = sample.images[0]
    assert f"**{first.score}**/100 ({first.grade}) -7" in text
    assert "+1.5 MB" in text and "**6 new**, 6 known, 1 resolved" in text
    assert "### 💥 nosuch:1: could not audit" in text


def test_top_findings_are_the_costliest_with_fixes(sample: Report, text: str) -> None:
    section = text.split("**Top findings**", 1)[1].split("<details>", 1)[0]
    rows = [r for r in section.splitlines() if r.startswith("| ") and "`IA" in r]
    scored = [s for s in sample.images[0].findings if s.points > 0 and not s.finding.waiver]
    assert len(rows) == min(TOP, len(scored))
    for row, finding in zip(rows, scored, strict=False):
        assert f"`{finding.rule.id}`" in row
        assert markdown_cell(finding.rule.fix) in row


def test_collapsed_sections(text: str) -> None:
    for summary in ("All findings (10)", "🔕 Waived findings (2), not scored",
                    "Rules not judged (7): skipped, ignored or errors", "Notices (2)"):
        # GitHub renders Markdown inside <details> only after a blank line
        assert f"<details><summary>{summary}</summary>\n\n" in text
    waived = text.split("Waived findings", 1)[1].split("</details>", 1)[0]
    assert "2027-01-31" in waived and "vendored checkout" in waived
    assert "rule crashed: RuntimeError: boom \\& bust \\<here\\>" in text


def test_a_good_image_has_no_findings_sections() -> None:
    text = render(Report((report(good()),), ()), "markdown")
    assert "### ✅ app:1: 100/100, grade A" in text
    assert "Top findings" not in text and "All findings" not in text


def test_a_zero_weight_practice_s_findings_stay_in_top_findings() -> None:
    spec = good().configured(User="root", WorkingDir="", ExposedPorts=None)
    item = report(spec, Policy(weights={2: 0}))  # non-root user: IA201 is high, scores 0
    root = [s for s in item.findings if s.rule.id == "IA201"]
    assert root and all(s.points == 0 for s in root)
    assert 0 < sum(s.points > 0 for s in item.findings) < TOP
    section = render(Report((item,)), "markdown").split("**Top findings**", 1)[1]
    rows = [r for r in section.split("<details>", 1)[0].splitlines() if "| `IA" in r]
    (row,) = [r for r in rows if "`IA201`" in r]
    assert row.startswith("| high (not scored: weight 0) |")
    assert rows[-1] == row  # after the findings that cost points
    top = top_findings(item)
    costs = [s.points for s in top]
    assert costs == sorted(costs, reverse=True) and top[-1] == root[0]
    # low findings of a zero-weight practice stay in the collapsed list only
    lowered = report(spec, Policy(weights={2: 0}, severities={"IA201": Severity.LOW}))
    assert not [s for s in top_findings(lowered) if s.rule.id == "IA201"]
