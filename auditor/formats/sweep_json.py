"""A sweep as JSON: the summary, every tag (as the CSV has them) and every image's full report
(the `images[]` document of the image JSON report)."""

from __future__ import annotations

import json
from typing import Any

from auditor.formats.sweep import failing_practices, summarize, timestamp, worst_first
from auditor.model.sweep import SweepAudit, SweepResults, SweepTag
from auditor.text import valid_unicode

SCHEMA_VERSION = 1


def tag_document(tag: SweepTag) -> dict[str, Any]:
    """One tag and the summary of its audit: the fields of one CSV row."""
    audit = tag.audit
    return {
        "registry": tag.registry,
        "repository": tag.repository,
        "tag": tag.tag,
        "platform": tag.platform or None,
        "digest": tag.digest or None,
        "status": audit.status.value,
        "score": audit.score,
        "grade": audit.grade or None,
        "size": audit.size,
        "own_size": audit.own_size,
        "layers": audit.layers,
        "own_layers": audit.own_layers,
        "failing_practices": list(failing_practices(audit)),
        "findings": sum(1 for f in audit.findings if f.points > 0),
        "error": audit.error or None,
        "hint": audit.hint or None,
        "ruleset": audit.ruleset,
        "audited_at": timestamp(audit.audited_at),
        "seen_at": timestamp(tag.seen_at),
    }


def _audit_document(audit: SweepAudit, tags: list[str]) -> dict[str, Any]:
    return {
        "digest": audit.digest or None,
        "platform": audit.platform or None,
        "ruleset": audit.ruleset,
        "status": audit.status.value,
        "audited_as": audit.reference,
        "audited_at": timestamp(audit.audited_at),
        "duration": round(audit.duration, 3),
        "tags": tags,
        "error": audit.error or None,
        "hint": audit.hint or None,
        "report": json.loads(audit.report) if audit.report else None,
    }


def render(results: SweepResults) -> str:
    summary = summarize(results)
    tags_of: dict[int, list[str]] = {}
    for tag in results.tags:
        tags_of.setdefault(id(tag.audit), []).append(tag.reference)
    document = {
        "schema_version": SCHEMA_VERSION,
        "kind": "imgaudit-sweep",
        "summary": {
            "tags": summary.tags,
            "images": summary.images,
            "repositories": summary.repositories,
            "registries": list(summary.registries),
            "errors": summary.errors,
            "skipped": summary.skipped,
            "score_mean": summary.mean,
            "score_median": summary.median,
            "grades": dict(summary.grades),
            "histogram": [{"from": 10 * i, "to": 10 * i + (10 if i == 9 else 9), "images": n}
                          for i, n in enumerate(summary.histogram)],
            "rulesets": list(summary.rulesets),
        },
        "databases": list(results.databases),
        "sweeps": [
            {"database": s.database, "registry": s.registry, "shard": s.shard or None,
             "started": timestamp(s.started), "finished": timestamp(s.finished) or None,
             "tool_version": s.tool_version, "options": dict(s.options)}
            for s in results.sweeps
        ],
        "tags": [tag_document(t) for t in worst_first(results)],
        "images": [_audit_document(a, tags_of.get(id(a), [])) for a in results.audits],
    }
    # valid UTF-8 even for a name that is not: its bytes as \\xNN
    return json.dumps(valid_unicode(document), indent=2) + "\n"
