"""SARIF: valid against the official 2.1.0 schema (kept in tests/data), and holding what GitHub code
scanning needs: rules with help, a located result per finding with a stable fingerprint, levels
from severities, waivers as suppressions, baseline states, every rule status."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor.formats import render
from auditor.formats.sarif import FINGERPRINT_KEY, artifact_uri, image_identity
from auditor.model.findings import RuleInfo, Severity, Status
from auditor.model.image import Image, Origin
from auditor.model.report import Novelty, Report
from tests.support.factory import GOOD_CONFIG, bad, build, file, good, report, run
from tests.support.sample import WAIVER_REASON, every_status

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "sarif-schema-2.1.0.json").read_text()
)
# GitHub's bands for security-severity
SECURITY_RANGE = {Severity.CRITICAL: (9.0, 10.0), Severity.HIGH: (7.0, 8.9),
                  Severity.MEDIUM: (4.0, 6.9), Severity.LOW: (0.1, 3.9)}
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}


def sarif(subject: Report) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(render(subject, "sarif"))
    validator = jsonschema.validators.validator_for(SCHEMA)
    validator.check_schema(SCHEMA)
    errors = sorted(validator(SCHEMA).iter_errors(document), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
    return document


@pytest.fixture(scope="module")
def sample() -> Report:
    return every_status()


def test_the_document_names_the_schema_it_is_checked_against(sample: Report) -> None:
    assert SCHEMA["properties"]["version"]["enum"] == ["2.1.0"]
    assert sarif(sample)["$schema"] == SCHEMA["id"]


@pytest.mark.parametrize("make", [
    every_status,
    lambda: Report((), (), "1.0.0"),
    lambda: Report((report(good()),), (), ""),
], ids=["every-status", "empty", "good-image"])
def test_valid_against_the_schema(make: Any) -> None:
    document = sarif(make())
    assert document["version"] == "2.1.0" and len(document["runs"]) == 1


def test_one_rule_descriptor_per_rule_with_help(sample: Report) -> None:
    rules = sarif(sample)["runs"][0]["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert ids == list(dict.fromkeys(r.rule.id for i in sample.images for r in i.results))
    infos: dict[str, RuleInfo] = {}
    for item in sample.images:  # one policy per run: the first image's rules stand for all
        for result in item.results:
            infos.setdefault(result.rule.id, result.rule)
    for descriptor in rules:
        info = infos[descriptor["id"]]
        assert descriptor["shortDescription"]["text"] == info.title
        assert descriptor["fullDescription"]["text"] == info.rationale
        assert info.fix in descriptor["help"]["text"] and info.fix in descriptor["help"]["markdown"]
        assert descriptor["defaultConfiguration"]["level"] == LEVEL[info.severity.label]
        assert descriptor["name"].isalnum()
        properties = descriptor["properties"]
        if "security" in info.tags:
            scored = [s.finding.severity for i in sample.images for s in i.findings
                      if s.rule.id == info.id and s.points > 0]
            low, high = SECURITY_RANGE[max((info.severity, *scored))]
            assert low <= float(properties["security-severity"]) <= high
        else:
            assert "security-severity" not in properties
    security = {r["id"] for r in rules if "security" in r["properties"]["tags"]}
    assert {"IA201", "IA401", "IA1101"} <= security and "IA902" not in security


def test_a_located_result_per_finding(sample: Report) -> None:
    run_ = sarif(sample)["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    findings = [(i, s) for i in sample.images for s in i.findings]
    results = run_["results"]
    assert len(results) == len(findings)
    for (item, scored), result in zip(findings, results, strict=True):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == scored.rule.id
        unscored_base = scored.finding.origin is Origin.BASE and not scored.points
        level = "note" if unscored_base else LEVEL[scored.finding.severity.label]
        assert result["level"] == level
        assert result["properties"]["severity"] == scored.finding.severity.label
        assert scored.finding.message in result["message"]["text"]
        assert scored.finding.evidence in result["message"]["text"]
        assert scored.rule.fix in result["message"]["text"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == artifact_uri(item.image)
        assert ":" not in physical["artifactLocation"]["uri"]  # relative: no scheme
        assert physical["region"]["startLine"] == 1
        names = [place["name"] for place in location["logicalLocations"]]
        assert names[0] == item.image.reference
        if scored.finding.layer is not None:
            assert f"layer {scored.finding.layer}" in names
        assert result["partialFingerprints"][FINGERPRINT_KEY] == (
            f"{image_identity(item.image)}|{scored.finding.fingerprint}")
        assert result["properties"]["origin"] == scored.finding.origin.value


def test_waived_findings_are_accepted_suppressions(sample: Report) -> None:
    results = sarif(sample)["runs"][0]["results"]
    waived = [r for r in results if "suppressions" in r]
    expected = [s for i in sample.images for s in i.findings if s.finding.waiver is not None]
    assert len(waived) == len(expected) == 2
    by_rule = {r["ruleId"]: r["suppressions"] for r in waived}
    (suppression,) = by_rule["IA201"]
    assert suppression["kind"] == "external" and suppression["status"] == "accepted"
    assert WAIVER_REASON in suppression["justification"]
    assert "2027-01-31" in suppression["justification"]
    assert all(r["properties"]["scored"] is False for r in waived)


def test_base_image_findings_are_unscored_notes(sample: Report) -> None:
    results = sarif(sample)["runs"][0]["results"]
    base = [r for r in results if r["properties"]["origin"] == Origin.BASE.value]
    assert base and all(r["properties"]["scored"] is False for r in base)
    assert all("base image" in r["message"]["text"] for r in base)
    # a note does not fail code scanning's pull-request check; the severity stays known
    assert {r["level"] for r in base} == {"note"}
    assert {r["properties"]["severity"] for r in base} - {"low", "info"}


def test_a_critical_finding_makes_its_rule_critical() -> None:
    token = "ghp_" + "Zq3v9XkLmN4pR7sT1uW8yA2bC5dE6fG0hJ9k"  # a recognised kind: critical
    leaky = good().configured(Env=[*GOOD_CONFIG["Env"], f"GITHUB_TOKEN={token}"])
    item = report(leaky)
    assert any(s.rule.id == "IA1101" and s.finding.severity is Severity.CRITICAL
               for s in item.findings)
    rules = {r["id"]: r for r in sarif(Report((item,), ()))["runs"][0]["tool"]["driver"]["rules"]}
    assert float(rules["IA1101"]["properties"]["security-severity"]) >= 9.0
    # a high finding of the same rule leaves it high
    plain = report(good().configured(Env=[*GOOD_CONFIG["Env"], "API_TOKEN=abcdef123456"]))
    rules = {r["id"]: r for r in sarif(Report((plain,), ()))["runs"][0]["tool"]["driver"]["rules"]}
    assert 7.0 <= float(rules["IA1101"]["properties"]["security-severity"]) < 9.0


def _fingerprints(*items: Image) -> list[dict[str, str]]:
    """Per image of one run: rule id -> partial fingerprint."""
    document = sarif(Report(tuple(report(image) for image in items), ()))
    by_image: dict[str, dict[str, str]] = {i.reference: {} for i in items}
    for result in document["runs"][0]["results"]:
        by_image[result["properties"]["image"]][result["ruleId"]] = (
            result["partialFingerprints"][FINGERPRINT_KEY])
    return [by_image[i.reference] for i in items]


def test_fingerprints_tell_the_images_of_one_run_apart() -> None:
    image = build(bad())
    named = [dataclasses.replace(image, reference=reference, repo_tags=(reference,))
             for reference in ("ghcr.io/org/app:1", "ghcr.io/org/api:1")]
    arm = dataclasses.replace(named[0], reference="ghcr.io/org/app:1-arm", architecture="arm64")
    classic, buildkit = (dataclasses.replace(image, reference=f"org/app:{tag}", repo_tags=())
                         for tag in ("classic", "buildkit"))
    for pair in ((named[0], named[1]), (named[0], arm), (classic, buildkit)):
        first, second = _fingerprints(*pair)
        assert first.keys() == second.keys() and first
        assert not set(first.values()) & set(second.values()), pair
    # the same repository and platform under a later tag, in a later run: the same alerts
    (later,) = _fingerprints(dataclasses.replace(named[0], reference="ghcr.io/org/app:2",
                                                 repo_tags=("ghcr.io/org/app:2",)))
    (earlier,) = _fingerprints(named[0])
    assert later == earlier


@pytest.mark.parametrize(("reference", "tags", "identity"), [
    ("ghcr.io/org/app:1.4", (), "ghcr.io/org/app linux/amd64"),
    ("localhost:5000/app@sha256:" + "a" * 64, (), "localhost:5000/app linux/amd64"),
    ("docker-archive:/tmp/x1/app.tar:@1", ("imgaudit-fixture/demo-good:classic",),
     "imgaudit-fixture/demo-good linux/amd64"),
    ("docker://ghcr.io/org/app:1.4 (linux/amd64)", ("ghcr.io/org/app:1.4",),
     "ghcr.io/org/app linux/amd64"),
    ("docker://ghcr.io/org/app@sha256:" + "a" * 64, (), "ghcr.io/org/app linux/amd64"),
    ("oci-archive:/tmp/tmpq1/x.tar:app:1", ("docker.io/library/app:1", "1"), "app linux/amd64"),
])
def test_the_image_identity_is_repository_and_platform(
    reference: str, tags: tuple[str, ...], identity: str
) -> None:
    image = dataclasses.replace(build(good()), reference=reference, repo_tags=tags,
                                architecture="amd64")
    assert image_identity(image) == identity


def test_baseline_novelty_is_the_baseline_state(sample: Report) -> None:
    results = sarif(sample)["runs"][0]["results"]
    first = [s for s in sample.images[0].findings]
    states = [r.get("baselineState") for r in results[: len(first)]]
    assert states == ["new" if s.novelty is Novelty.NEW else "unchanged" for s in first]
    assert all("baselineState" not in r for r in results[len(first):])  # no baseline there
    images = sarif(sample)["runs"][0]["properties"]["images"]
    assert images[0]["baseline"]["score_delta"] == -7
    assert images[0]["baseline"]["resolved"] == 1
    assert "baseline" not in images[1]


def test_every_rule_status_is_represented(sample: Report) -> None:
    run_ = sarif(sample)["runs"][0]
    invocation = run_["invocations"][0]
    assert invocation["executionSuccessful"] is False
    notes = invocation["toolExecutionNotifications"]
    for item in sample.images:
        statuses = run_["properties"]["images"][sample.images.index(item)]["rules"]
        assert statuses == {r.rule.id: r.status.value for r in item.results}
        for result in item.results:
            if result.status in (Status.SKIP, Status.IGNORED, Status.ERROR):
                (note,) = [n for n in notes if n["message"]["text"].startswith(
                    f"{item.image.reference}: {result.rule.id} {result.status.value}: ")]
                assert note["associatedRule"]["id"] == result.rule.id
                assert note["level"] == ("error" if result.status is Status.ERROR else "note")
    (failure,) = [n for n in notes if "could not audit" in n["message"]["text"]]
    assert failure["level"] == "error" and "nosuch:1" in failure["message"]["text"]
    configuration = invocation["toolConfigurationNotifications"]
    assert any("expired on 2026-01-01" in n["message"]["text"] for n in configuration)


def test_a_clean_run_is_successful() -> None:
    invocation = sarif(Report((report(good()),), (), "1.0.0"))["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is True
    assert invocation["toolExecutionNotifications"] == []


def test_fingerprints_survive_a_rebuild_that_moves_layers() -> None:
    before = report(bad())
    spec = bad()
    after = report(dataclasses.replace(spec, own=(run("echo more", file("more.txt", "x")),
                                                  *spec.own)))
    fingerprints = [
        {r["ruleId"]: r["partialFingerprints"][FINGERPRINT_KEY]
         for r in sarif(Report((item,), (), ""))["runs"][0]["results"]}
        for item in (before, after)
    ]
    assert fingerprints[0] == {k: v for k, v in fingerprints[1].items() if k in fingerprints[0]}
    layers = [{s.rule.id: s.finding.layer for s in item.findings} for item in (before, after)]
    assert layers[0]["IA901"] != layers[1]["IA901"]  # the layer moved, the identity did not


@pytest.mark.parametrize(("reference", "tags", "uri"), [
    ("ghcr.io/org/app:1.4", (), "ghcr.io/org/app"),
    ("localhost:5000/app@sha256:" + "a" * 64, (), "localhost_5000/app"),
    ("app", (), "app"),
    ("docker-archive:/tmp/x1/app.tar:@1", ("imgaudit-fixture/demo-good:classic",),
     "imgaudit-fixture/demo-good"),
    ("docker-archive:/tmp/x1/app.tar", (), "app.tar"),
    ("oci:./layout:v2", (), "layout"),
    ("docker://ghcr.io/org/app:1.4", ("ghcr.io/org/app:1.4",), "ghcr.io/org/app"),
    ("docker://ghcr.io/org/app:1.4 (linux/arm64)", ("ghcr.io/org/app:1.4",), "ghcr.io/org/app"),
    ("docker://127.0.0.1:5000/team/app@sha256:" + "b" * 64, (), "127.0.0.1_5000/team/app"),
    ("oci-archive:/tmp/tmpq1/x.tar:app:1", ("docker.io/library/app:1", "1"), "app"),
    ("oci-archive:/tmp/tmpq1/x.tar", (), "x.tar"),
    ("docker-archive:/tmp/tmpq1/all.tar:@0", ("1", "ghcr.io/org/app:1"), "ghcr.io/org/app"),
])
def test_the_artifact_is_the_image_repository(
    reference: str, tags: tuple[str, ...], uri: str
) -> None:
    image = dataclasses.replace(build(good()), reference=reference, repo_tags=tags)
    assert artifact_uri(image) == uri


def test_an_image_id_reference_is_named_by_its_id() -> None:
    image = build(good())
    named = dataclasses.replace(image, reference=image.id, repo_tags=())
    assert artifact_uri(named) == "image-" + image.id.removeprefix("sha256:")[:12]


def test_severity_overrides_change_levels() -> None:
    item = report(bad())
    finding = item.findings[0]
    lowered = dataclasses.replace(finding, finding=dataclasses.replace(
        finding.finding, severity=Severity.LOW))
    changed = dataclasses.replace(item, findings=(lowered,))
    (result,) = sarif(Report((changed,), (), ""))["runs"][0]["results"]
    assert result["level"] == "note"
