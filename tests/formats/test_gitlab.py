"""`--format gitlab`: a GitLab Code Quality report, valid against the schema written from
GitLab's documented fields, on real images built by both builders, with and without
--dockerfile; fingerprints unique within a report and stable across runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor.formats import render
from auditor.formats.gitlab import SEVERITY
from auditor.model.findings import Severity
from tests.support.cli import imgaudit
from tests.support.engine import BUILDERS, fixture_tag
from tests.support.paths import ROOT
from tests.support.sample import SECRET, every_status

SCHEMA = json.loads((ROOT / "tests" / "data" / "gitlab-codequality.schema.json").read_text())
DOCKERFILE = "fixtures/images/demo-bad/Dockerfile"


def issues_of(text: str) -> list[dict[str, Any]]:
    document: list[dict[str, Any]] = json.loads(text)
    jsonschema.validators.validator_for(SCHEMA)(SCHEMA).validate(document)
    assert len({i["fingerprint"] for i in document}) == len(document)
    return document


def test_the_schema_refuses_what_gitlab_cannot_read() -> None:
    bad = [{"description": "x", "check_name": "IA1", "fingerprint": "f", "severity": "high",
            "location": {"path": "/abs", "lines": {"begin": 0}}}]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validators.validator_for(SCHEMA)(SCHEMA).validate(bad)


def test_every_finding_is_an_issue_and_no_secret_is_shown() -> None:
    report = every_status()
    text = render(report, "gitlab")
    issues = issues_of(text)
    findings = [s for item in report.images for s in item.findings]
    errors = [r for item in report.images for r in item.results if r.status.value == "error"]
    assert len(issues) == len(findings) + len(errors) + len(report.failures)
    assert SECRET not in text
    by_check = {i["check_name"] for i in issues}
    assert "imgaudit" in by_check  # the image that could not be audited


def test_waived_and_base_findings_are_info_as_other_formats_show_them() -> None:
    report = every_status()
    issues = issues_of(render(report, "gitlab"))
    waived = [i for i in issues if " Waived: " in i["description"]]
    base = [i for i in issues if "Brought by the base image" in i["description"]]
    assert waived and base
    assert {i["severity"] for i in waived + base} == {"info"}
    assert set(SEVERITY.values()) == {"info", "minor", "major", "critical", "blocker"}
    assert SEVERITY[Severity.CRITICAL] == "blocker" and SEVERITY[Severity.LOW] == "minor"


def test_two_findings_sharing_an_identity_get_two_fingerprints() -> None:
    report = every_status()
    doubled = type(report)((report.images[0], report.images[0]), (), "1.0.0")
    issues = issues_of(render(doubled, "gitlab"))
    assert len(issues) == 2 * len(report.images[0].findings) + 2 * sum(
        r.status.value == "error" for r in report.images[0].results)


def audit_gitlab(tmp_path: Path, env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    out = tmp_path / "gl-code-quality.json"
    done = imgaudit(*args, "-f", "table", "-f", f"gitlab={out}", cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    return issues_of(out.read_text())


@pytest.mark.engine
@pytest.mark.usefixtures("fixture_images")
@pytest.mark.parametrize("builder", BUILDERS)
def test_real_images_with_and_without_the_dockerfile(builder: str, tmp_path: Path,
                                                    cli_env: dict[str, str]) -> None:
    tag = fixture_tag("demo-bad", builder)
    plain = audit_gitlab(tmp_path, cli_env, tag, "--no-dockerfile")
    again = audit_gitlab(tmp_path, cli_env, tag, "--no-dockerfile")
    assert [i["fingerprint"] for i in plain] == [i["fingerprint"] for i in again]
    assert {i["location"]["path"] for i in plain} == {"image/imgaudit-fixture/demo-bad"}
    assert {i["location"]["lines"]["begin"] for i in plain} == {1}
    located = audit_gitlab(tmp_path, cli_env, tag, "--dockerfile", DOCKERFILE)
    # where an issue sits is not who it is: the fingerprints stay the same
    assert sorted(i["fingerprint"] for i in located) == sorted(i["fingerprint"] for i in plain)
    token = next(i for i in located if i["check_name"] == "IA1101")
    line = next(n for n, text in enumerate((ROOT / DOCKERFILE).read_text().splitlines(), 1)
                if text.startswith("ENV DEPLOY_TOKEN="))
    assert token["location"] == {"path": DOCKERFILE, "lines": {"begin": line, "end": line}}
    assert token["severity"] in ("critical", "blocker")
    assert SECRET not in json.dumps(located)
    seed = audit_gitlab(tmp_path, cli_env, fixture_tag("seed", builder), "--no-dockerfile")
    # a well-built image: its one issue is the HEALTHCHECK it lacks, minor
    assert [(i["check_name"], i["severity"]) for i in seed] == [("IA1301", "minor")]
