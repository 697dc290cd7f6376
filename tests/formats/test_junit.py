"""JUnit XML: parsed back with xml.etree, its counts match the report, and it keeps to the structure
the usual consumers read (GitLab's and Jenkins' documented testsuites/testsuite/testcase with
failure, skipped, error); escaped, stripped of characters XML 1.0 cannot hold, deterministic."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import pytest

from auditor.formats import render
from auditor.formats.junit import clean
from auditor.model.findings import Status
from auditor.model.report import ImageReport, Report
from tests.support.factory import bad, good, report
from tests.support.sample import WAIVER_REASON, every_status

# What the consumers' schemas allow (Jenkins xUnit's junit-10.xsd, GitLab's parser).
CHILDREN = {
    "testsuites": {"testsuite"},
    "testsuite": {"properties", "testcase", "system-out", "system-err"},
    "properties": {"property"},
    "property": set(),
    "testcase": {"failure", "error", "skipped", "system-out", "system-err"},
    "failure": set(), "error": set(), "skipped": set(), "system-out": set(), "system-err": set(),
}
ATTRIBUTES = {
    "testsuites": {"name", "time", "tests", "failures", "disabled", "errors"},
    "testsuite": {"name", "tests", "failures", "errors", "time", "disabled", "skipped",
                  "timestamp", "hostname", "id", "package"},
    "properties": set(),
    "property": {"name", "value"},
    "testcase": {"name", "classname", "time", "assertions", "status"},
    "failure": {"type", "message"}, "error": {"type", "message"},
    "skipped": {"type", "message"}, "system-out": set(), "system-err": set(),
}
REQUIRED = {"testsuite": {"tests", "name"}, "testcase": {"name", "classname"},
            "property": {"name", "value"}}


def parse(subject: Report) -> ET.Element:
    text = render(subject, "junit")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(text)
    for element in root.iter():
        assert element.tag in CHILDREN, element.tag
        assert {c.tag for c in element} <= CHILDREN[element.tag], element.tag
        assert set(element.attrib) <= ATTRIBUTES[element.tag], (element.tag, element.attrib)
        assert REQUIRED.get(element.tag, set()) <= set(element.attrib), element.tag
        if element.tag == "testcase":
            outcomes = [c.tag for c in element if c.tag in ("failure", "error", "skipped")]
            assert len(outcomes) <= 1
    return root


@pytest.fixture(scope="module")
def sample() -> Report:
    return every_status()


def _expected(item: ImageReport) -> dict[str, int]:
    statuses = [r.status for r in item.results]
    return {
        "tests": len(statuses),
        "failures": sum(s in (Status.FAIL, Status.WARN) for s in statuses),
        "errors": statuses.count(Status.ERROR),
        "skipped": sum(s in (Status.SKIP, Status.IGNORED) for s in statuses),
    }


def test_counts_match_the_report(sample: Report) -> None:
    root = parse(sample)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [
        *(i.image.reference for i in sample.images), *(f.reference for f in sample.failures)]
    for suite, item in zip(suites, sample.images, strict=False):
        counts = {key: int(suite.get(key, "-1")) for key in ("tests", "failures", "errors",
                                                              "skipped")}
        assert counts == _expected(item)
        cases = suite.findall("testcase")
        assert len(cases) == counts["tests"]
        assert len([c for c in cases if c.find("failure") is not None]) == counts["failures"]
        assert len([c for c in cases if c.find("error") is not None]) == counts["errors"]
        assert len([c for c in cases if c.find("skipped") is not None]) == counts["skipped"]
    for total in ("tests", "failures", "errors"):
        assert int(root.get(total, "-1")) == sum(int(s.get(total, "0")) for s in suites)


def test_one_case_per_rule_named_by_id_and_title(sample: Report) -> None:
    suite = parse(sample).findall("testsuite")[0]
    item = sample.images[0]
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [f"{r.rule.id} {r.rule.title}" for r in item.results]
    classes = {c.get("name", "").split()[0]: c.get("classname") for c in cases}
    assert classes["IA201"] == "imgaudit.non-root-user"
    assert classes["IA1101"] == "imgaudit.no-secrets-in-the-image"


def test_outcomes_carry_findings_fixes_and_reasons(sample: Report) -> None:
    suite = parse(sample).findall("testsuite")[0]
    cases = {c.get("name", "").split()[0]: c for c in suite.findall("testcase")}
    failure = cases["IA1101"].find("failure")
    assert failure is not None and failure.get("type") == "high"
    assert "config.Env: API_TOKEN=********" in (failure.text or "")
    assert "fix: Remove the ENV" in (failure.text or "")
    assert "[new]" in (failure.text or "")
    assert failure.get("message", "").startswith("fail: 1 finding: Env API_TOKEN")
    warning = cases["IA601"].find("failure")
    assert warning is not None and warning.get("type") == "medium"
    assert warning.get("message", "").startswith("warn: ")
    ignored = cases["IA201"].find("skipped")
    assert ignored is not None and ignored.get("message", "").startswith("ignored: waived: ")
    assert WAIVER_REASON in ignored.get("message", "")  # escaped and read back intact
    assert "no USER is set" in (ignored.text or "")  # the waived finding is listed
    skipped = cases["IA202"].find("skipped")
    assert skipped is not None and skipped.get("message") == "the image runs as root"
    error = cases["IA799"].find("error")
    assert error is not None
    assert error.get("message") == "rule crashed: RuntimeError: boom & bust <here>"
    assert (cases["IA101"].findtext("system-out") or "").startswith("pass: ")
    assert (cases["IA1002"].findtext("system-out") or "").startswith("info")


def test_suite_properties_hold_score_and_baseline(sample: Report) -> None:
    suite = parse(sample).findall("testsuite")[0]
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    item = sample.images[0]
    assert properties["score"] == str(item.score) and properties["grade"] == item.grade
    assert properties["baseline"] == "app:0"
    assert properties["baseline.score_delta"] == "-7"
    assert properties["baseline.layers_delta"] == "+1"
    assert properties["baseline.resolved"] == "1"
    assert any("expired" in (v or "") for k, v in properties.items() if k and "notice" in k)


def test_an_image_that_could_not_be_audited_is_an_errored_suite(sample: Report) -> None:
    suite = parse(sample).findall("testsuite")[-1]
    assert suite.get("name") == "nosuch:1" and suite.get("errors") == "1"
    (case,) = suite.findall("testcase")
    error = case.find("error")
    assert error is not None and "no image nosuch:1" in error.get("message", "")
    assert "build or pull it first" in (error.text or "")


def test_characters_xml_cannot_hold_are_stripped() -> None:
    item = report(bad())
    first = item.findings[0]
    odd = dataclasses.replace(first, finding=dataclasses.replace(
        first.finding, message="bad\x00by\x1bte\x7f & <tag> \"q\" \ud800ok"))
    root = parse(Report((dataclasses.replace(item, findings=(odd, *item.findings[1:])),), ()))
    texts = " ".join(e.text or "" for e in root.iter("failure"))
    assert "badbyte\x7f & <tag> \"q\" ok" in texts
    assert clean("a\x01b\x0bc\td\ne") == "abc\td\ne"


def test_deterministic_and_timestamp_free(sample: Report) -> None:
    assert render(sample, "junit") == render(every_status(), "junit")
    assert "timestamp" not in render(sample, "junit")


def test_a_good_image_has_no_failures() -> None:
    root = parse(Report((report(good()),), ()))
    assert root.get("failures") == "0" and root.get("errors") == "0"
