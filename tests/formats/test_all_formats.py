"""Every format shows every status (pass, info, warn, fail, skip, ignored, error) in its own terms,
and none ever shows a secret value: on a report made by the real runner, and on the shipped
archive whose fake secrets are known."""

from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest

from auditor import audit
from auditor.formats import RENDERERS, render
from auditor.formats.markdown import STATUS as MARKDOWN_STATUS
from auditor.model.findings import Status
from auditor.model.report import Report
from tests.support.demo import BAD, SECRETS
from tests.support.sample import SECRET, every_status

ALL = {s.value for s in Status}


def _table(text: str) -> set[str]:
    marks = {"pass": "pass", "info": "info", "WARN": "warn", "FAIL": "fail", "skip": "skip",
             "ignored": "ignored", "ERROR": "error"}
    # the practices table's status column, and the "Not judged" lines
    found = set(re.findall(r"^\s*\d+\s+.+?\s{2,}(pass|info|WARN|FAIL|skip|ignored|ERROR)\s",
                           text, re.MULTILINE))
    found |= set(re.findall(r"^  IA\d+ (skip|ignored|ERROR): ", text, re.MULTILINE))
    return {marks[m] for m in found}


# Per image and rule, the status a format states: (image reference, rule id) -> status.
RuleStatuses = dict[tuple[str, str], str]


def _json_rules(text: str) -> RuleStatuses:
    document = json.loads(text)
    return {(image["reference"], r["id"]): r["status"]
            for image in document["images"] for r in image["rules"]}


def _sarif_rules(text: str) -> RuleStatuses:
    run = json.loads(text)["runs"][0]
    return {(image["reference"], rule): status
            for image in run["properties"]["images"] for rule, status in image["rules"].items()}


def _junit_rules(text: str) -> RuleStatuses:
    """Read as a CI test report reads it: which element a case holds, and what it says."""
    statuses: RuleStatuses = {}
    for suite in ET.fromstring(text).iter("testsuite"):
        for case in suite.iter("testcase"):
            if case.get("classname") == "imgaudit":
                continue  # an image that could not be audited: no rules
            key = (suite.get("name", ""), case.get("name", "").split()[0])
            failure, skipped, error = (case.find(t) for t in ("failure", "skipped", "error"))
            if failure is not None:  # "fail: 2 finding(s): ..." or "warn: ..."
                statuses[key] = failure.get("message", "").split(":", 1)[0]
            elif skipped is not None:
                ignored = skipped.get("message", "").startswith("ignored: ")
                statuses[key] = "ignored" if ignored else "skip"
            elif error is not None:
                statuses[key] = "error"
            else:  # pass and info pass, and say which in system-out
                statuses[key] = re.split(r"[:\n]", case.findtext("system-out", ""), maxsplit=1)[0]
    return statuses


RULE_STATUSES: dict[str, Callable[[str], RuleStatuses]] = {
    "json": _json_rules, "sarif": _sarif_rules, "junit": _junit_rules,
}


def _sarif(text: str) -> set[str]:
    return set(_sarif_rules(text).values())


def _junit(text: str) -> set[str]:
    return set(_junit_rules(text).values())


def _markdown(text: str) -> set[str]:
    return {status.value for status, words in MARKDOWN_STATUS.items() if f"| {words} |" in text}


def _github(text: str) -> set[str]:
    summaries = re.findall(r"^::notice title=imgaudit [^:]*::.*rules: ([^%]*)", text, re.M)
    shown = set()
    for line in summaries:
        shown |= {word for count, word in re.findall(r"(\d+) (\w+)", line) if int(count)}
    return shown


def _json(text: str) -> set[str]:
    return set(_json_rules(text).values())


SHOWN: dict[str, Callable[[str], set[str]]] = {
    "table": _table, "json": _json, "sarif": _sarif, "junit": _junit, "markdown": _markdown,
    "github": _github,
}


# Formats that hold findings only, no rule statuses: GitLab Code Quality is a list of issues (one
# per finding, rule error and unaudited image; tests/formats/test_gitlab.py checks them all).
FINDINGS_ONLY = frozenset({"gitlab"})


@pytest.fixture(scope="module")
def report() -> Report:
    return every_status()


@pytest.fixture(scope="module")
def archive_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    return audit([BAD], cache_dir=tmp_path_factory.mktemp("cache"))


def test_every_format_is_tested() -> None:
    assert set(SHOWN) | FINDINGS_ONLY == set(RENDERERS) and not set(SHOWN) & FINDINGS_ONLY


def test_the_sample_holds_every_status(report: Report) -> None:
    statuses = {r.status.value for image in report.images for r in image.results}
    assert statuses == ALL
    assert report.failures and report.images[0].notices and report.images[0].baseline


@pytest.mark.parametrize("fmt", sorted(set(RENDERERS) - FINDINGS_ONLY))
def test_every_status_is_shown(report: Report, fmt: str) -> None:
    assert SHOWN[fmt](render(report, fmt)) == ALL


@pytest.mark.parametrize("fmt", sorted(RULE_STATUSES))
def test_each_rule_s_own_status_is_stated(report: Report, fmt: str) -> None:
    expected = {(item.image.reference, r.rule.id): r.status.value
                for item in report.images for r in item.results}
    assert {Status.WARN, Status.FAIL} <= {r.status for i in report.images for r in i.results}
    assert RULE_STATUSES[fmt](render(report, fmt)) == expected


def test_sarif_results_agree_with_the_rule_statuses(report: Report) -> None:
    run = json.loads(render(report, "sarif"))["runs"][0]
    with_results = {(r["properties"]["image"], r["ruleId"]) for r in run["results"]}
    # an unscored base-image finding leaves its rule passing
    with_own = {(r["properties"]["image"], r["ruleId"]) for r in run["results"]
                if r["properties"]["origin"] == "own"}
    noted = set()
    for note in run["invocations"][0]["toolExecutionNotifications"]:
        match = re.match(r"(\S+): (IA\d+) (\w+): ", note["message"]["text"])
        if match and note.get("associatedRule"):
            noted.add(match.groups())
    for (image, rule), status in _sarif_rules(render(report, "sarif")).items():
        if status in ("fail", "warn", "info"):
            assert (image, rule) in with_results, (image, rule, status)
        if status in ("pass", "skip"):
            assert (image, rule) not in with_own, (image, rule, status)
        if status in ("skip", "ignored", "error"):
            assert (image, rule, status) in noted


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_waived_findings_stay_visible_with_their_reason(report: Report, fmt: str) -> None:
    text = render(report, fmt)
    # formats escape it their own way; its words survive
    for word in ("legacy app", "OPS-12", "migration", "vendored checkout"):
        assert word in text


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_no_format_shows_a_secret_value(
    report: Report, archive_report: Report, fmt: str
) -> None:
    text = render(report, fmt)
    assert SECRET not in text
    assert "API_TOKEN" in text.replace("\\_", "_")  # the key is named, its value masked
    archive = render(archive_report, fmt)
    assert "DEPLOY_TOKEN" in archive.replace("\\_", "_")
    for secret in SECRETS:
        assert secret not in archive
    assert render(archive_report, "table", color=True).count(SECRETS[0]) == 0


# The report files say which images could not be audited. The table is the terminal's, where
# the command line's own error line on stderr already says it: once (issue 11).
@pytest.mark.parametrize("fmt", sorted(set(RENDERERS) - {"table"}))
def test_an_image_that_could_not_be_audited_is_shown(report: Report, fmt: str) -> None:
    text = render(report, fmt)
    assert "nosuch:1" in text.replace("%3A", ":")
    assert "no image nosuch:1 in the engine" in text


def test_the_table_leaves_an_image_that_could_not_be_audited_to_the_error_line(
        report: Report) -> None:
    assert "nosuch:1" not in render(report, "table")
    only_failed = dataclasses.replace(report, images=())
    assert render(only_failed, "table") == ""


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_rendering_is_deterministic(report: Report, fmt: str) -> None:
    assert render(report, fmt) == render(report, fmt)


def test_only_the_table_is_coloured(report: Report) -> None:
    assert "\x1b[" in render(report, "table", color=True)
    assert "\x1b[" not in render(report, "table")
    for fmt in RENDERERS:
        if fmt != "table":
            assert render(report, fmt, color=True) == render(report, fmt)
