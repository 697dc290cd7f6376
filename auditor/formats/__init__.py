"""Formats: a Report, or a sweep's results, rendered as text. Pure: no I/O, no exit codes."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from auditor.errors import UsageError
from auditor.formats import (
    github,
    json,
    junit,
    markdown,
    sarif,
    sweep_csv,
    sweep_html,
    sweep_json,
    sweep_table,
    table,
)
from auditor.model import Report, SweepResults

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

SWEEP_RENDERERS: dict[str, Callable[[SweepResults], str]] = {
    "table": sweep_table.render,
    "json": sweep_json.render,
    "csv": sweep_csv.render,
    "html": sweep_html.render,
}


def _unknown(fmt: str, known: Iterable[str]) -> UsageError:
    return UsageError(f"unknown format {fmt!r}", hint="choose from " + ", ".join(known))


def render(report: Report, fmt: str, *, color: bool = False) -> str:
    if fmt not in RENDERERS:
        raise _unknown(fmt, RENDERERS)
    if color and fmt in _COLOURED:
        return _COLOURED[fmt](report, color=True)
    return RENDERERS[fmt](report)


def render_sweep(results: SweepResults, fmt: str) -> str:
    if fmt not in SWEEP_RENDERERS:
        raise _unknown(fmt, SWEEP_RENDERERS)
    return SWEEP_RENDERERS[fmt](results)
