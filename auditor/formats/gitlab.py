"""GitLab Code Quality: the Code Climate issue subset GitLab reads (description, check_name,
fingerprint, severity, location), one issue per finding, so merge requests show them. A finding
located on a Dockerfile line points at it; any other at a stable path naming the image."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import PurePosixPath
from typing import Any

from auditor.formats.facts import Standing, standing
from auditor.formats.sarif import artifact_uri, identities, partial_fingerprint
from auditor.model.findings import Severity, Status
from auditor.model.report import ImageReport, Report, ScoredFinding
from auditor.text import valid_unicode

# Code Climate's five severities, ours in order; a finding imgaudit does not score (waived, or
# the base image's) is info, as the other formats show it as a note.
SEVERITY: dict[Severity, str] = {
    Severity.INFO: "info",
    Severity.LOW: "minor",
    Severity.MEDIUM: "major",
    Severity.HIGH: "critical",
    Severity.CRITICAL: "blocker",
}
# What GitLab shows for a check that could not judge an image, or an image not audited at all.
NOT_JUDGED = "major"
_UNSAFE = re.compile(r"[^A-Za-z0-9._/-]+")


def _fingerprint(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()


def _location(item: ImageReport, scored: ScoredFinding | None) -> dict[str, Any]:
    """The Dockerfile lines when a Dockerfile inside the working directory matched; else the
    image's repository as a path (`image/ghcr.io/org/app`), line 1."""
    source = scored.finding.source if scored is not None else None
    if source is not None and not PurePosixPath(source.path).is_absolute():
        return {"path": source.path.removeprefix("./"),
                "lines": {"begin": source.start_line, "end": source.end_line}}
    return {"path": f"image/{artifact_uri(item.image)}", "lines": {"begin": 1}}


def _description(item: ImageReport, scored: ScoredFinding) -> str:
    finding = scored.finding
    text = f"{scored.rule.id} {finding.message} ({item.image.reference}): {finding.evidence}."
    match standing(scored):
        case Standing.WAIVED:
            assert finding.waiver is not None
            text += f" Waived: {finding.waiver.reason} ({finding.waiver.source or 'policy'}); " \
                    "not scored."
        case Standing.BASE:
            text += " Brought by the base image (not scored)."
        case Standing.SCORED:
            pass
    return text + f" Fix: {scored.rule.fix}"


def _issue(description: str, check: str, identity: str, severity: str,
           location: dict[str, Any], security: bool) -> dict[str, Any]:
    return {
        "type": "issue",
        "description": description,
        "check_name": check,
        "fingerprint": identity,  # hashed once every identity in the report is unique
        "severity": severity,
        "categories": ["Security"] if security else ["Bug Risk"],
        "location": location,
    }


def _issues(report: Report) -> list[dict[str, Any]]:
    issues = []
    for item, identity in zip(report.images, identities(report), strict=True):
        for scored in item.findings:
            severity = (SEVERITY[scored.finding.severity]
                        if standing(scored) is Standing.SCORED else "info")
            issues.append(_issue(_description(item, scored), scored.rule.id,
                                 partial_fingerprint(identity, scored), severity,
                                 _location(item, scored), "security" in scored.rule.tags))
        for result in item.results:
            if result.status is Status.ERROR:
                issues.append(_issue(
                    f"{result.rule.id} could not judge {item.image.reference}: {result.note}",
                    result.rule.id, f"{identity}|{result.rule.id}:error", NOT_JUDGED,
                    _location(item, None), False))
    for failure in report.failures:
        hint = f" (hint: {failure.hint})" if failure.hint else ""
        issues.append(_issue(
            f"imgaudit could not audit {failure.reference}: {failure.message}{hint}", "imgaudit",
            f"{failure.reference}|not audited", NOT_JUDGED,
            {"path": "image/" + (_UNSAFE.sub("_", failure.reference).strip("/.") or "unnamed"),
             "lines": {"begin": 1}}, False))
    return issues


def render(report: Report) -> str:
    """A JSON array of issues. Fingerprints are the finding's identity across builds (the
    image's repository and platform, the rule, the path or message; as SARIF's), hashed; two
    findings of one image that share one are told apart by their order (`#2`), as GitLab shows
    only the first issue of each fingerprint."""
    # a name that is not UTF-8 written \xNN first, as in every JSON format, so it can be hashed
    issues: list[dict[str, Any]] = valid_unicode(_issues(report))
    seen: Counter[str] = Counter()
    for issue in issues:
        identity = issue["fingerprint"]
        seen[identity] += 1
        if seen[identity] > 1:
            identity += f"#{seen[identity]}"
        issue["fingerprint"] = _fingerprint(identity)
    return json.dumps(issues, indent=2) + "\n"
