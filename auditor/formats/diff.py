"""Renders an image diff (two audits side by side) as a table, JSON or Markdown. Pure."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from tabulate import tabulate

from auditor.errors import UsageError
from auditor.formats.facts import source_document
from auditor.formats.markdown import escape, located, markdown_cell
from auditor.formats.table import finding_cell, wrap
from auditor.model.report import ImageDiff, ImageReport, ScoredFinding
from auditor.text import printable, valid_unicode
from auditor.units import human_size, plural, signed

DIFF_SCHEMA_VERSION = 1


def _base(item: ImageReport) -> str:
    boundary = item.image.boundary
    return boundary.base_reference or f"({boundary.method})"


def _measures(change: ImageDiff) -> list[tuple[str, str, str, str]]:
    """(what, old, new, change) rows: the side-by-side numbers."""
    old, new = change.old, change.new

    def sized(label: str, before: int, after: int) -> tuple[str, str, str, str]:
        return (label, human_size(before), human_size(after),
                signed(after - before, human_size))

    def counted(label: str, before: int, after: int) -> tuple[str, str, str, str]:
        return (label, str(before), str(after), signed(after - before))

    return [
        ("image", old.image.reference, new.image.reference, ""),
        ("id", old.image.id[:19], new.image.id[:19],
         "=" if old.image.id == new.image.id else "changed"),
        ("score", str(old.score), str(new.score), signed(change.score_change)),
        ("grade", old.grade, new.grade, "=" if old.grade == new.grade else "changed"),
        sized("size", old.image.size, new.image.size),
        sized("own size", old.image.own_size, new.image.own_size),
        counted("layers", len(old.image.layers), len(new.image.layers)),
        counted("own layers", len(old.image.own_layers), len(new.image.own_layers)),
        ("base", _base(old), _base(new), "=" if _base(old) == _base(new) else "changed"),
    ]


# ----------------------------------------------------------------------------- table


def _finding_rows(findings: Sequence[ScoredFinding], fix: bool) -> list[tuple[str, ...]]:
    return [
        (s.finding.severity.label, s.rule.id, finding_cell(s.finding, 34),
         wrap(s.finding.evidence, 44) + ("\nfix: " + wrap(s.rule.fix, 40) if fix else ""))
        for s in findings
    ]


def render_table(change: ImageDiff) -> str:
    lines = [
        f"imgaudit diff: {change.old.image.reference} -> {change.new.image.reference}", "",
        tabulate(_measures(change), headers=("", "old", "new", "change"), tablefmt="simple"),
        "",
        tabulate(
            [(p.practice.id, p.practice.name, p.old.value, "->", p.new.value,
              "*" if p.changed else "")
             for p in change.practices],
            headers=("#", "practice", "old", "", "new", "changed"), tablefmt="simple",
        ),
    ]
    for title, findings, fix in (("Findings added", change.added, True),
                                 ("Findings removed", change.removed, False)):
        lines.append("")
        if not findings:
            lines.append(f"{title}: none")
            continue
        lines += [f"{title} ({len(findings)}):",
                  tabulate(_finding_rows(findings, fix),
                           headers=("severity", "rule", "finding",
                                    "evidence / fix" if fix else "evidence"),
                           tablefmt="simple")]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- json


def _image_document(item: ImageReport) -> dict[str, Any]:
    image = item.image
    return {
        "reference": image.reference,
        "id": image.id,
        "repo_tags": list(image.repo_tags),
        "score": item.score,
        "grade": item.grade,
        "size": image.size,
        "own_size": image.own_size,
        "layers": len(image.layers),
        "own_layers": len(image.own_layers),
        "base": image.boundary.base_reference or None,
        "content_read": image.content_read,
    }


def _finding_document(scored: ScoredFinding) -> dict[str, Any]:
    finding = scored.finding
    return {
        "rule": scored.rule.id,
        "title": scored.rule.title,
        "practice": scored.rule.practice,
        "severity": finding.severity.label,
        "message": finding.message,
        "evidence": finding.evidence,
        "layer": finding.layer,
        "origin": finding.origin.value,
        "path": finding.path or None,
        "size": finding.size,
        "points": scored.points,
        "fix": scored.rule.fix,
        "fingerprint": finding.fingerprint,
        **({"source": source_document(finding.source)} if finding.source else {}),
    }


def render_json(change: ImageDiff) -> str:
    old, new = change.old.image, change.new.image
    document = {
        "schema_version": DIFF_SCHEMA_VERSION,
        "kind": "diff",
        "tool": {"name": "imgaudit"},
        "old": _image_document(change.old),
        "new": _image_document(change.new),
        "change": {
            "score": change.score_change,
            "size": new.size - old.size,
            "own_size": new.own_size - old.own_size,
            "layers": len(new.layers) - len(old.layers),
            "own_layers": len(new.own_layers) - len(old.own_layers),
            "base_changed": change.old.image.boundary.base_reference
            != change.new.image.boundary.base_reference,
        },
        "practices": [
            {"id": p.practice.id, "name": p.practice.name, "old": p.old.value,
             "new": p.new.value, "changed": p.changed}
            for p in change.practices
        ],
        "added": [_finding_document(s) for s in change.added],
        "removed": [_finding_document(s) for s in change.removed],
    }
    # valid UTF-8 even for a name that is not: its bytes as \\xNN
    return json.dumps(valid_unicode(document), indent=2) + "\n"


# ----------------------------------------------------------------------------- markdown


def render_markdown(change: ImageDiff) -> str:
    # Everything the images supply (references, messages, evidence) is escaped: a file named
    # `<b>x<!--.key` must not open an HTML comment and hide the rest of a merge-request comment.
    old, new = change.old.image.reference, change.new.image.reference
    lines = [
        f"## imgaudit diff: {escape(old)} → {escape(new)}", "",
        f"Score {change.old.score} ({change.old.grade}) → **{change.new.score} "
        f"({change.new.grade})**, {signed(change.score_change)}; "
        f"{plural(len(change.added), 'finding')} added, {len(change.removed)} removed.", "",
        "| | old | new | change |", "|---|---|---|---|",
        *(f"| {what} | {escape(a)} | {escape(b)} | {escape(c)} |"
          for what, a, b, c in _measures(change)[2:]),
        "", "| # | practice | old | new |", "|---|---|---|---|",
        *(f"| {p.practice.id} | {escape(p.practice.name)} | {p.old.value} | "
          + (f"**{p.new.value}** |" if p.changed else f"{p.new.value} |")
          for p in change.practices),
    ]
    if change.added:
        lines += ["", f"### Findings added ({len(change.added)})", ""]
        lines += [
            f"- **{s.finding.severity.label}** `{s.rule.id}` {escape(s.finding.message)}"
            f"{located(s.finding)}: "
            f"{escape(s.finding.evidence)}  \n  Fix: {markdown_cell(s.rule.fix)}"
            for s in change.added
        ]
    if change.removed:
        lines += ["", f"### Findings removed ({len(change.removed)})", ""]
        lines += [
            f"- ~~{s.finding.severity.label} `{s.rule.id}` {escape(s.finding.message)}~~"
            f"{located(s.finding)}"
            for s in change.removed
        ]
    return "\n".join(lines) + "\n"


DIFF_RENDERERS: dict[str, Callable[[ImageDiff], str]] = {
    "table": render_table,
    "json": render_json,
    "markdown": render_markdown,
}


def render_diff(change: ImageDiff, fmt: str) -> str:
    try:
        renderer = DIFF_RENDERERS[fmt]
    except KeyError:
        raise UsageError(
            f"unknown diff format {fmt!r}", hint="choose from " + ", ".join(DIFF_RENDERERS)
        ) from None
    text = renderer(change)
    # the last guard for the formats a person reads (JSON escapes its own)
    return text if fmt == "json" else printable(text, lines=True)
