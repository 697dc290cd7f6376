"""Reads a baseline: an earlier imgaudit JSON report, reduced to what a later build is compared
with (score, size, layers, and the fingerprints of its counted findings)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auditor.errors import BaselineError
from auditor.model import Baseline, BaselineImage, Severity, fingerprint

SUPPORTED_SCHEMAS = (1,)


def read_baseline(path: Path) -> Baseline:
    """The baseline in the JSON report at `path`; BaselineError when it cannot be one."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(f"baseline {path} does not exist") from None
    except IsADirectoryError:
        raise BaselineError(f"baseline {path} is a folder, not a report file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
        raise BaselineError(f"cannot read baseline {path}: {reason}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"baseline {path} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    return parse_baseline(document, str(path))


def parse_baseline(document: Any, source: str) -> Baseline:
    """The baseline a decoded JSON report holds."""
    tool = document.get("tool") if isinstance(document, dict) else None
    if not isinstance(tool, dict) or tool.get("name") != "imgaudit":
        raise BaselineError(f"baseline {source} is not an imgaudit JSON report")
    if document.get("kind") == "diff":
        raise BaselineError(f"baseline {source} is an imgaudit diff, not an audit report")
    version = document.get("schema_version")
    if version not in SUPPORTED_SCHEMAS:
        raise BaselineError(
            f"baseline {source} has schema_version {version!r}, this imgaudit reads "
            + ", ".join(map(str, SUPPORTED_SCHEMAS)),
            hint="write the baseline again with this version: imgaudit IMAGE --format json "
            "-o baseline.json",
        )
    try:
        if not isinstance(document["images"], list):
            raise TypeError("images")
        images = tuple(_image(item) for item in document["images"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BaselineError(
            f"baseline {source} is not an imgaudit JSON report ({_reason(exc)})"
        ) from None
    return Baseline(source, images)


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"an image or finding lacks {exc.args[0]!r}"
    return "a field has the wrong type"


def _image(item: Mapping[str, Any]) -> BaselineImage:
    return BaselineImage(
        reference=str(item["reference"]),
        score=int(item["score"]),
        size=int(item["size"]),
        layers=int(item["layers"]),
        fingerprints=tuple(
            _fingerprint(finding) for finding in item["findings"] if _counts(finding)
        ),
        id=str(item.get("id") or ""),
        repo_tags=tuple(str(tag) for tag in item.get("repo_tags") or ()),
        platform=str(item.get("platform") or ""),
    )


def _counts(finding: Mapping[str, Any]) -> bool:
    """compare.counts for a finding as the JSON report wrote it. A report without the "waiver"
    field cannot tell a waived finding from an unwaived one that cost no points, so there only
    findings that cost points count."""
    if Severity.parse(str(finding["severity"])) <= Severity.INFO:
        return False
    points = float(finding["points"])
    if "waiver" not in finding:
        return points > 0
    return finding["waiver"] is None and (points > 0 or finding["origin"] == "own")


def _fingerprint(finding: Mapping[str, Any]) -> str:
    given = finding.get("fingerprint")
    if isinstance(given, str) and given:
        return given
    return fingerprint(str(finding["rule"]), str(finding.get("path") or ""),
                       str(finding["message"]))
