"""SARIF 2.1.0 for GitHub code scanning and other SARIF viewers: one run, a reportingDescriptor per
rule, a result per finding, every rule status. A finding a matching Dockerfile explains is located
on its lines (relative to %SRCROOT%, the working directory); any other at the image, which has no
source file. The image is a logical location of every result."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from auditor.formats.facts import (
    LEVELS,
    Standing,
    camel,
    cap_document,
    delta,
    practice_names,
    standing,
)
from auditor.model.findings import RuleInfo, Severity, Status
from auditor.model.image import Image
from auditor.model.report import ImageReport, Novelty, Report, ScoredFinding
from auditor.naming import ARCHIVES, image_repository
from auditor.text import valid_unicode

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
# GitHub reads security-severity (0.0-10.0) on rules tagged "security": over 9.0 critical,
# 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low. It is a rule's, not a result's: a rule whose findings
# in this run reach a higher severity than it declares (a recognised token is critical) carries
# the highest one.
SECURITY_SEVERITY: dict[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
}
# v2: the finding's fingerprint together with the image's repository and platform.
FINGERPRINT_KEY = "imgauditFinding/v2"
# The base of a Dockerfile's relative path: the working directory, which GitHub code scanning
# takes to be the repository's root.
SRCROOT = "%SRCROOT%"
_UNSAFE = re.compile(r"[^A-Za-z0-9._/-]+")
_CONFIG_FIELD = re.compile(r"^config\.(\w+)")


def artifact_uri(image: Image) -> str:
    """The image's repository as a relative path (`ghcr.io/org/app` for `ghcr.io/org/app:1.4`).

    There is no source file to point at, and GitHub requires a location: the repository, without
    tag, digest or platform, stays the same from build to build, so code scanning can follow a
    finding. An archive is named by its first repository tag, else by its file name (its folder
    may be a temporary one); an image known only by its ID, by the ID.
    """
    name = image_repository(image)
    if not name and image.reference.startswith(ARCHIVES):
        path = image.reference.split(":", 1)[1]
        name = path.rstrip("/").rsplit("/", 1)[-1].split(":", 1)[0]
    if not name:
        return "image-" + image.id.removeprefix("sha256:")[:12]
    return _UNSAFE.sub("_", name).strip("/") or "image"


def image_identity(image: Image) -> str:
    """What names an image from build to build: its repository (no tag, no digest) and platform,
    `ghcr.io/org/app linux/amd64`; an image known only by its ID is named by the ID."""
    repository = image_repository(image) or image.id
    platform = "/".join(part for part in (image.os, image.architecture) if part)
    return f"{repository} {platform}".strip()


def identities(report: Report) -> list[str]:
    """Each image's identity; images of one run that share one (two tags of one repository, such
    as a classic and a BuildKit build) are told apart by their reference, so code scanning does
    not merge their alerts."""
    plain = [image_identity(item.image) for item in report.images]
    shared = Counter(plain)
    return [f"{identity} {item.image.reference}" if shared[identity] > 1 else identity
            for identity, item in zip(plain, report.images, strict=True)]


def partial_fingerprint(identity: str, scored: ScoredFinding) -> str:
    """The finding's fingerprint (rule, path or message) within one image identity:
    `ghcr.io/org/app linux/amd64|IA201:config.User`."""
    return f"{identity}|{scored.finding.fingerprint}"


def _rule(info: RuleInfo, practices: dict[int, str], worst: Severity) -> dict[str, Any]:
    practice = practices.get(info.practice, "")
    where = f"Practice {info.practice}: {practice}" if practice else f"Practice {info.practice}"
    tags = ["container-image", f"practice-{info.practice}", *info.tags]
    properties: dict[str, Any] = {"tags": tags, "precision": "high"}
    severity = max(info.severity, worst)
    if "security" in info.tags and severity in SECURITY_SEVERITY:
        properties["security-severity"] = SECURITY_SEVERITY[severity]
    checks = f"\n\nWhat it checks: {info.doc}" if info.doc else ""
    return {
        "id": info.id,
        "name": camel(info.title),
        "shortDescription": {"text": info.title},
        "fullDescription": {"text": info.rationale},
        "help": {
            "text": f"{info.rationale}\n\nFix: {info.fix}{checks}\n\n{where}.",
            "markdown": f"**Why:** {info.rationale}\n\n**Fix:** {info.fix}"
            + (f"\n\n**What it checks:** {info.doc}" if info.doc else "")
            + f"\n\n{where} · default severity {info.severity.label}",
        },
        "defaultConfiguration": {"level": LEVELS[info.severity]},
        "properties": properties,
    }


def _logical_locations(item: ImageReport, scored: ScoredFinding) -> list[dict[str, Any]]:
    reference = item.image.reference
    finding = scored.finding
    places: list[dict[str, Any]] = [
        {"name": reference, "fullyQualifiedName": reference, "kind": "resource"}
    ]
    if finding.layer is not None:
        layer = f"layer {finding.layer}"
        places.append({"name": layer, "fullyQualifiedName": f"{reference}//{layer}",
                       "kind": "module"})
        if finding.path:
            places.append({"name": finding.path,
                           "fullyQualifiedName": f"{reference}//{layer}/{finding.path}",
                           "kind": "resource"})
    field = _CONFIG_FIELD.match(finding.evidence)
    if field:
        name = f"config.{field.group(1)}"
        places.append({"name": name, "fullyQualifiedName": f"{reference}//{name}",
                       "kind": "member"})
    return places


def _physical_location(item: ImageReport, scored: ScoredFinding) -> dict[str, Any]:
    """The Dockerfile lines of a located finding; else the image's repository, line 1."""
    source = scored.finding.source
    if source is None:
        return {"artifactLocation": {"uri": artifact_uri(item.image)},
                "region": {"startLine": 1}}
    if PurePosixPath(source.path).is_absolute():  # outside the working directory
        artifact: dict[str, Any] = {"uri": Path(source.path).as_uri()}
    else:
        artifact = {"uri": quote(source.path), "uriBaseId": SRCROOT}
    return {"artifactLocation": artifact,
            "region": {"startLine": source.start_line, "endLine": source.end_line}}


def _source_root(report: Report) -> str | None:
    """The absolute folder Dockerfile paths start from, as a file URI ending in `/`."""
    for item in report.images:
        matched = item.dockerfile
        if matched is not None and matched.matched and matched.root and any(
                s.finding.source is not None for s in item.findings):
            uri = Path(matched.root).as_uri()
            return uri if uri.endswith("/") else uri + "/"
    return None


def _result(item: ImageReport, scored: ScoredFinding, index: int, identity: str
            ) -> dict[str, Any]:
    finding = scored.finding
    kind = standing(scored)
    text = f"{finding.message} ({item.image.reference}). Evidence: {finding.evidence}."
    if kind is Standing.BASE:
        text += " Brought by the base image (not scored)."
    text += f" Fix: {scored.rule.fix}"
    # Code scanning filters and fails pull-request checks by level: a finding imgaudit does not
    # score is a note, its severity kept in the properties.
    level = "note" if kind is Standing.BASE else LEVELS[finding.severity]
    result: dict[str, Any] = {
        "ruleId": scored.rule.id,
        "ruleIndex": index,
        "level": level,
        "message": {"text": text},
        "locations": [{
            "physicalLocation": _physical_location(item, scored),
            "logicalLocations": _logical_locations(item, scored),
        }],
        "partialFingerprints": {FINGERPRINT_KEY: partial_fingerprint(identity, scored)},
        "properties": {
            "image": item.image.reference,
            "severity": finding.severity.label,
            "origin": finding.origin.value,
            "points": scored.points,
            "scored": kind is Standing.SCORED,
        },
    }
    if finding.waiver is not None:
        waiver = finding.waiver
        justification = f"{waiver.reason} ({waiver.source or 'policy'}"
        justification += f", until {waiver.expires.isoformat()})" if waiver.expires else ")"
        result["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": justification}
        ]
    if scored.novelty is not None:
        result["baselineState"] = "new" if scored.novelty is Novelty.NEW else "unchanged"
    return result


def _notification(text: str, level: str, rule: tuple[str, int] | None = None) -> dict[str, Any]:
    note: dict[str, Any] = {"level": level, "message": {"text": text}}
    if rule is not None:
        note["associatedRule"] = {"id": rule[0], "index": rule[1]}
    return note


_STATUS_LEVEL = {Status.SKIP: "note", Status.IGNORED: "note", Status.ERROR: "error"}


def _image_properties(item: ImageReport) -> dict[str, Any]:
    image = item.image
    properties: dict[str, Any] = {
        "reference": image.reference,
        "id": image.id,
        "artifact": artifact_uri(image),
        "score": item.score,
        "grade": item.grade,
        "cap": cap_document(item.cap),
        "size": image.size,
        "layers": len(image.layers),
        "rules": {r.rule.id: r.status.value for r in item.results},
        "notices": list(item.notices),
    }
    change = delta(item)
    if change is not None:
        properties["baseline"] = {
            "reference": change.reference,
            "score_delta": change.score,
            "size_delta": change.size,
            "layers_delta": change.layers,
            "new": change.new,
            "known": change.known,
            "resolved": change.resolved,
        }
    return properties


def _worst_scored(report: Report) -> Mapping[str, Severity]:
    """Per rule, the highest severity of its scored findings in the run."""
    worst: dict[str, Severity] = {}
    for item in report.images:
        for scored in item.findings:
            if standing(scored) is Standing.SCORED:
                rule_id = scored.rule.id
                worst[rule_id] = max(worst.get(rule_id, Severity.INFO), scored.finding.severity)
    return worst


def render(report: Report) -> str:
    rules: dict[str, tuple[int, RuleInfo]] = {}
    practices: dict[int, str] = {}
    worst = _worst_scored(report)
    for item in report.images:
        practices.update(practice_names(item))
        for result in item.results:
            rules.setdefault(result.rule.id, (len(rules), result.rule))
    results = [
        _result(item, scored, rules[scored.rule.id][0], identity)
        for item, identity in zip(report.images, identities(report), strict=True)
        for scored in item.findings
    ]
    execution = []
    configuration = []
    for item in report.images:
        reference = item.image.reference
        for result in item.results:
            if result.status in _STATUS_LEVEL:
                execution.append(_notification(
                    f"{reference}: {result.rule.id} {result.status.value}: {result.note}",
                    _STATUS_LEVEL[result.status],
                    (result.rule.id, rules[result.rule.id][0]),
                ))
        configuration += [_notification(f"{reference}: {n}", "warning") for n in item.notices]
    for failure in report.failures:
        hint = f" (hint: {failure.hint})" if failure.hint else ""
        execution.append(_notification(
            f"{failure.reference}: could not audit: {failure.message}{hint}", "error"))
    crashed = any(r.status is Status.ERROR for item in report.images for r in item.results)
    invocation: dict[str, Any] = {
        "executionSuccessful": not report.failures and not crashed,
        "toolExecutionNotifications": execution,
    }
    if configuration:
        invocation["toolConfigurationNotifications"] = configuration
    driver: dict[str, Any] = {
        "name": "imgaudit",
        "rules": [_rule(info, practices, worst.get(info.id, info.severity))
                  for _, info in rules.values()],
    }
    if report.tool_version:
        driver["version"] = report.tool_version
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "invocations": [invocation],
    }
    root = _source_root(report)
    if root is not None:
        run["originalUriBaseIds"] = {SRCROOT: {
            "uri": root,
            "description": {"text": "The working directory imgaudit ran in: Dockerfile paths "
                                    "are relative to it."},
        }}
    run["results"] = results
    run["properties"] = {"images": [_image_properties(item) for item in report.images]}
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [run],
    }
    # valid UTF-8 even for a name that is not: its bytes as \\xNN
    return json.dumps(valid_unicode(document), indent=2) + "\n"
