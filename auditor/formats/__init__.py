"""Formats: a Report rendered as text. Pure: no I/O, no exit codes."""

from __future__ import annotations

from collections.abc import Callable

from auditor.errors import UsageError
from auditor.formats import github, json, junit, markdown, sarif, table
from auditor.model import Report

RENDERERS: dict[str, Callable[[Report], str]] = {
    "table": table.render,
    "json": json.render,
    "sarif": sarif.render,
    "junit": junit.render,
    "markdown": markdown.render,
    "github": github.render,
}
# Formats that can colour their text for a terminal.
_COLOURED: dict[str, Callable[..., str]] = {"table": table.render}


def render(report: Report, fmt: str, *, color: bool = False) -> str:
    if fmt not in RENDERERS:
        raise UsageError(
            f"unknown format {fmt!r}", hint="choose from " + ", ".join(RENDERERS)
        )
    if color and fmt in _COLOURED:
        return _COLOURED[fmt](report, color=True)
    return RENDERERS[fmt](report)
