"""Formats: a Report, or a sweep's results, rendered as text. Pure: no I/O, no exit codes."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from auditor.errors import UsageError
from auditor.formats import json, sweep_csv, sweep_html, sweep_json, sweep_table, table
from auditor.model import Report, SweepResults

RENDERERS: dict[str, Callable[[Report], str]] = {
    "table": table.render,
    "json": json.render,
}

SWEEP_RENDERERS: dict[str, Callable[[SweepResults], str]] = {
    "table": sweep_table.render,
    "json": sweep_json.render,
    "csv": sweep_csv.render,
    "html": sweep_html.render,
}


def _unknown(fmt: str, known: Iterable[str]) -> UsageError:
    return UsageError(f"unknown format {fmt!r}", hint="choose from " + ", ".join(known))


def render(report: Report, fmt: str) -> str:
    if fmt not in RENDERERS:
        raise _unknown(fmt, RENDERERS)
    return RENDERERS[fmt](report)


def render_sweep(results: SweepResults, fmt: str) -> str:
    if fmt not in SWEEP_RENDERERS:
        raise _unknown(fmt, SWEEP_RENDERERS)
    return SWEEP_RENDERERS[fmt](results)
