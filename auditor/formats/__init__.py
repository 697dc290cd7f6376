"""Formats: a Report rendered as text. Pure: no I/O, no exit codes."""

from __future__ import annotations

from collections.abc import Callable

from auditor.errors import UsageError
from auditor.formats import json, table
from auditor.model import Report

RENDERERS: dict[str, Callable[[Report], str]] = {
    "table": table.render,
    "json": json.render,
}


def render(report: Report, fmt: str) -> str:
    try:
        renderer = RENDERERS[fmt]
    except KeyError:
        raise UsageError(
            f"unknown format {fmt!r}", hint="choose from " + ", ".join(RENDERERS)
        ) from None
    return renderer(report)
