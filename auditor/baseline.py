"""Reads a baseline: an earlier imgaudit JSON report, reduced to what a later build is compared
with (score, size, layers, and the fingerprints of its counted findings)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from auditor.errors import BaselineError
from auditor.model.findings import Severity, fingerprint
from auditor.model.report import Baseline, BaselineImage

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
    if isinstance(version, bool) or version not in SUPPORTED_SCHEMAS:
        raise BaselineError(
            f"baseline {source} has schema_version {version!r}, this imgaudit reads "
            + ", ".join(map(str, SUPPORTED_SCHEMAS)),
            hint="write the baseline again with this version: imgaudit IMAGE --format json "
            "-o baseline.json",
        )
    try:
        images = _field(document, "the report", "images")
        if not isinstance(images, list):
            raise _Malformed("images is not a list")
        parsed = tuple(_image(item, f"images[{n}]") for n, item in enumerate(images))
    except _Malformed as bad:
        raise BaselineError(f"baseline {source} is not an imgaudit JSON report ({bad})") from None
    return Baseline(source, parsed)


class _Malformed(Exception):
    """A field that is missing or holds what imgaudit never writes there: `images[0].score is
    not a whole number`."""


def _field(item: object, where: str, key: str) -> object:
    if not isinstance(item, dict):
        raise _Malformed(f"{where} is not an object")
    if key not in item:
        raise _Malformed(f"{where} lacks {key!r}")
    return item[key]


def _whole(item: object, where: str, key: str, most: int | None = None) -> int:
    value = _field(item, where, key)
    # JSON has no integer type of its own: 1e400 is a float (inf), true is not 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or (
        most is not None and value > most
    ):
        bound = f"from 0 to {most}" if most is not None else "of at least 0"
        raise _Malformed(f"{where}.{key} is {_show(value)}, not a whole number {bound}")
    return value


def _points(item: object, where: str) -> float:
    value = _field(item, where, "points")
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
        math.isfinite(value) and value >= 0
    ):
        raise _Malformed(f"{where}.points is {_show(value)}, not a number of at least 0")
    return float(value)


def _text(item: object, where: str, key: str) -> str:
    value = _field(item, where, key)
    if not isinstance(value, str):
        raise _Malformed(f"{where}.{key} is {_show(value)}, not a string")
    return value


def _show(value: object) -> str:
    """A JSON value, short, for an error line."""
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 30 else text[:27] + "..."


def _image(item: object, where: str) -> BaselineImage:
    reference = _text(item, where, "reference")
    score = _whole(item, where, "score", most=100)
    size = _whole(item, where, "size")
    layers = _whole(item, where, "layers")
    findings = _field(item, where, "findings")
    if not isinstance(findings, list):
        raise _Malformed(f"{where}.findings is not a list")
    assert isinstance(item, dict)  # _field saw to it
    tags = item.get("repo_tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise _Malformed(f"{where}.repo_tags is not a list of strings")
    platform = item.get("platform") or ""  # os/arch[/variant]; older reports lack it
    if not isinstance(platform, str):
        raise _Malformed(f"{where}.platform is {_show(platform)}, not a string")
    places = [f"{where}.findings[{n}]" for n in range(len(findings))]
    return BaselineImage(
        reference=reference,
        score=score,
        size=size,
        layers=layers,
        fingerprints=tuple(_fingerprint(finding, place)
                           for finding, place in zip(findings, places, strict=True)
                           if _counts(finding, place)),
        id=str(item.get("id") or ""),
        repo_tags=tuple(tags),
        platform=platform,
    )


def _counts(finding: object, where: str) -> bool:
    """compare.counts for a finding as the JSON report wrote it. A report without the "waiver"
    field cannot tell a waived finding from an unwaived one that cost no points, so there only
    findings that cost points count."""
    severity = _text(finding, where, "severity")
    try:
        if Severity.parse(severity) <= Severity.INFO:
            return False
    except ValueError:
        raise _Malformed(f"{where}.severity is {_show(severity)}, not a severity") from None
    points = _points(finding, where)
    assert isinstance(finding, dict)
    if "waiver" not in finding:
        return points > 0
    return finding["waiver"] is None and (points > 0 or finding.get("origin") == "own")


def _fingerprint(finding: object, where: str) -> str:
    assert isinstance(finding, dict)
    given = finding.get("fingerprint")
    if isinstance(given, str) and given:
        return given
    return fingerprint(_text(finding, where, "rule"), str(finding.get("path") or ""),
                       _text(finding, where, "message"))
