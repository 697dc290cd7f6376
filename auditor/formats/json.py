"""The JSON report: a versioned contract for CI and scripts (see README, "JSON report")."""

from __future__ import annotations

import json
from typing import Any

from auditor.formats.facts import cap_document, delta, source_document
from auditor.model.report import ImageReport, Report, ScoredFinding
from auditor.naming import platform
from auditor.text import valid_unicode

SCHEMA_VERSION = 1


def _baseline(item: ImageReport) -> dict[str, Any] | None:
    change = delta(item)
    if item.baseline is None or change is None:
        return None
    return {
        "reference": item.baseline.reference,
        "score": item.baseline.score,
        "size": item.baseline.size,
        "layers": item.baseline.layers,
        "score_delta": change.score,
        "size_delta": change.size,
        "layers_delta": change.layers,
    }


def finding_document(s: ScoredFinding) -> dict[str, Any]:
    """A finding; `source` (its Dockerfile lines) only when a Dockerfile matched the image."""
    waiver = s.finding.waiver
    document: dict[str, Any] = {
        "rule": s.rule.id,
        "title": s.rule.title,
        "practice": s.rule.practice,
        "severity": s.finding.severity.label,
        "message": s.finding.message,
        "evidence": s.finding.evidence,
        "layer": s.finding.layer,
        "origin": s.finding.origin.value,
        "path": s.finding.path or None,
        "paths": list(s.finding.all_paths),
        "size": s.finding.size,
        "points": s.points,
        "fix": s.rule.fix,
        "fingerprint": s.finding.fingerprint,
        "waiver": None if waiver is None else {
            "reason": waiver.reason,
            "source": waiver.source or None,
            "expires": waiver.expires.isoformat() if waiver.expires else None,
        },
        "novelty": s.novelty.value if s.novelty else None,
    }
    if s.finding.source is not None:
        document["source"] = source_document(s.finding.source)
    return document


def image_document(item: ImageReport) -> dict[str, Any]:
    image = item.image
    return {
        "reference": image.reference,
        "id": image.id,
        "repo_tags": list(image.repo_tags),
        "digest": image.digest or None,
        "platform": platform(image) or None,
        "score": item.score,
        "grade": item.grade,
        "cap": cap_document(item.cap),
        "size": image.size,
        "own_size": image.own_size,
        "compressed_sizes": image.compressed_sizes,
        "layers": len(image.layers),
        "own_layers": len(image.own_layers),
        "content_read": image.content_read,
        "base": {
            "method": image.boundary.method,
            "reference": image.boundary.base_reference or None,
            "own_from_layer": image.boundary.own_from_layer,
            "evidence": image.boundary.evidence,
        },
        "history": {"quality": image.history_quality.value, "note": image.history_note or None},
        "practices": [
            {
                "id": p.practice.id,
                "name": p.practice.name,
                "status": p.status.value,
                "findings": p.findings,
                "weight": p.practice.weight,
                "points_lost": p.points_lost,
            }
            for p in item.practices
        ],
        "rules": [
            {
                "id": r.rule.id,
                "practice": r.rule.practice,
                "title": r.rule.title,
                "status": r.status.value,
                "findings": len(r.findings),
                "base_findings": len(r.base_findings),
                "note": r.note or None,
                "waived": len(r.waived),
            }
            for r in item.results
        ],
        "findings": [finding_document(s) for s in item.findings],
        "notices": list(item.notices),
        "baseline": _baseline(item),
        "resolved": list(item.resolved),
    }


def render(report: Report) -> str:
    document = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "imgaudit", "version": report.tool_version},
        "images": [image_document(item) for item in report.images],
        "errors": [
            {"reference": f.reference, "message": f.message, "hint": f.hint or None}
            for f in report.failures
        ],
    }
    # valid UTF-8 even for a name that is not: its bytes as \\xNN
    return json.dumps(valid_unicode(document), indent=2) + "\n"
