"""A finding's Dockerfile lines in every format: SARIF's physical location (still valid against
the schema), GitHub's file/line, JUnit's file/line, `at PATH:N` in Markdown and the table, a
`source` object in JSON; a finding without one, and a report whose Dockerfile did not match,
render exactly as before."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor.compare import diff
from auditor.formats import RENDERERS, render
from auditor.formats.diff import render_diff
from auditor.model.findings import SourceLocation
from auditor.model.image import Origin
from auditor.model.report import DockerfileMatch, ImageReport, Report
from tests.support.sample import every_status

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "sarif-schema-2.1.0.json").read_text()
)
PATH = "deploy/my app/Dockerfile"  # a folder with a space: the SARIF URI escapes it
# located: a waived finding on one line, a scored one on an instruction of three lines
RULES = {"IA201": (3, 3), "IA401": (7, 9)}


def located(item: ImageReport, path: str = PATH, root: str = "/src/app") -> ImageReport:
    """The report as the runner leaves it when a Dockerfile matched: the own findings of two
    rules located, the others not."""
    findings = tuple(
        dataclasses.replace(s, finding=dataclasses.replace(
            s.finding, source=SourceLocation(path, *RULES[s.rule.id], f"{s.rule.id} line")))
        if s.rule.id in RULES and s.finding.origin is Origin.OWN else s
        for s in item.findings)
    return dataclasses.replace(item, findings=findings,
                               dockerfile=DockerfileMatch(path, root=root))


@pytest.fixture(scope="module")
def sample() -> Report:
    report = every_status()
    return dataclasses.replace(report, images=(located(report.images[0]), *report.images[1:]))


def sarif(report: Report) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(render(report, "sarif"))
    jsonschema.validators.validator_for(SCHEMA)(SCHEMA).validate(document)
    return document


def test_sample_has_located_and_unlocated_findings(sample: Report) -> None:
    sources = [s.finding.source for s in sample.images[0].findings]
    assert any(sources) and not all(sources)


def test_sarif_locates_on_the_dockerfile_relative_to_srcroot(sample: Report) -> None:
    run = sarif(sample)["runs"][0]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == "file:///src/app/"
    reference = sample.images[0].image.reference
    for result in run["results"]:
        location = result["locations"][0]
        physical = location["physicalLocation"]
        if result["ruleId"] in RULES and result["properties"]["image"] == reference:
            start, end = RULES[result["ruleId"]]
            assert physical == {
                "artifactLocation": {"uri": "deploy/my%20app/Dockerfile",
                                     "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": start, "endLine": end},
            }
        else:  # the image, as without a Dockerfile
            assert "uriBaseId" not in physical["artifactLocation"]
            assert physical["region"] == {"startLine": 1}
        assert location["logicalLocations"][0]["name"] == result["properties"]["image"]


def test_sarif_outside_the_working_directory_is_a_file_uri(sample: Report) -> None:
    report = every_status()
    item = located(report.images[0], path="/elsewhere/Dockerfile", root="")
    run = sarif(dataclasses.replace(report, images=(item,)))["runs"][0]
    assert "originalUriBaseIds" not in run
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in run["results"] if r["ruleId"] in RULES}
    assert uris == {"file:///elsewhere/Dockerfile"}


def test_github_annotates_the_line(sample: Report) -> None:
    lines = render(sample, "github").splitlines()
    [secret_file] = [line for line in lines if "title=IA401" in line]
    assert secret_file.startswith("::error file=deploy/my app/Dockerfile,line=7,endLine=9,"
                                  "title=IA401 ")
    [waived] = [line for line in lines if "title=IA201" in line and "::app:1:" in line]
    assert waived.startswith("::notice file=deploy/my app/Dockerfile,line=3,endLine=3,")
    assert not any("file=" in line for line in lines if "title=IA1101" in line)


def test_junit_test_case_and_failure_name_the_file(sample: Report) -> None:
    suite = ET.fromstring(render(sample, "junit")).find("testsuite")
    assert suite is not None
    cases = {(c.get("name") or "").split()[0]: c for c in suite.iter("testcase")}
    assert (cases["IA201"].get("file"), cases["IA201"].get("line")) == (PATH, "3")
    assert cases["IA1101"].get("file") is None
    failure = cases["IA401"].find("failure")
    assert failure is not None
    for element in (cases["IA401"], failure):
        assert (element.get("file"), element.get("line")) == (PATH, "7")
    assert f"at {PATH}:7-9" in (failure.text or "")


@pytest.mark.parametrize("fmt", ["markdown", "table"])
def test_text_formats_show_path_and_lines(sample: Report, fmt: str) -> None:
    text = render(sample, fmt)
    assert f"{PATH}:3" in text and f"{PATH}:7-9" in text


def test_json_has_a_source_only_when_located(sample: Report) -> None:
    images = json.loads(render(sample, "json"))["images"]
    for finding in images[0]["findings"]:
        if finding["rule"] in RULES and finding["origin"] == "own":
            start, end = RULES[finding["rule"]]
            assert finding["source"] == {"path": PATH, "start_line": start, "end_line": end,
                                         "instruction": f"{finding['rule']} line"}
        else:
            assert "source" not in finding
    assert all("source" not in f for f in images[1]["findings"])


def test_diff_formats_carry_it(sample: Report) -> None:
    plain = every_status().images[0]
    change = diff(dataclasses.replace(plain, findings=()), sample.images[0])
    added = json.loads(render_diff(change, "json"))["added"]
    assert {f["rule"] for f in added if "source" in f} == {"IA401"}  # IA201 is waived
    assert f"at `{PATH}:7-9`" in render_diff(change, "markdown")
    assert f"at {PATH}:7-9" in render_diff(change, "table")


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_a_dockerfile_that_did_not_match_changes_no_byte(fmt: str) -> None:
    report = every_status()
    unmatched = dataclasses.replace(report.images[0],
                                    dockerfile=DockerfileMatch(PATH, reason="another build"))
    assert render(dataclasses.replace(report, images=(unmatched, *report.images[1:])),
                  fmt) == render(report, fmt)
