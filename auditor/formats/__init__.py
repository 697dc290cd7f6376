"""Formats: a Report, or a sweep's results, rendered as text. Pure: no I/O, no exit codes."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable

from auditor.errors import UsageError
from auditor.model.report import Report
from auditor.model.sweep import SweepResults
from auditor.text import printable

# Format name -> the module of auditor.formats that renders it (its `render`). A module is
# imported when its format is asked for, so start-up does not pay for every renderer.
RENDERERS: dict[str, str] = {
    "table": "table",
    "json": "json",
    "sarif": "sarif",
    "junit": "junit",
    "markdown": "markdown",
    "github": "github",
    "gitlab": "gitlab",
}
# Formats that can colour their text for a terminal, fold it to its width and be verbose.
_TERMINAL = frozenset({"table"})
# Formats a person reads on a terminal or in a CI log: each escapes what an image supplied as it
# composes it, and `terminal_safe` is the last guard on the whole text.
_READ = frozenset({"table", "markdown", "github"})
_SGR = re.compile(r"(\x1b\[[0-9;]*m)")

SWEEP_RENDERERS: dict[str, str] = {
    "table": "sweep_table",
    "json": "sweep_json",
    "csv": "sweep_csv",
    "html": "sweep_html",
}


def _renderer(module: str) -> Callable[..., str]:
    render: Callable[..., str] = importlib.import_module(f"auditor.formats.{module}").render
    return render


def _unknown(fmt: str, known: Iterable[str]) -> UsageError:
    return UsageError(f"unknown format {fmt!r}", hint="choose from " + ", ".join(known))


def render(report: Report, fmt: str, *, color: bool = False, width: int | None = None,
           verbose: bool = False) -> str:
    """The report as `fmt`; the table also coloured, folded to `width` columns (None: its
    default) and with every finding's full evidence when `verbose`."""
    if fmt not in RENDERERS:
        raise _unknown(fmt, RENDERERS)
    if fmt in _TERMINAL:
        options: dict[str, object] = {"color": color, "verbose": verbose}
        if width is not None:
            options["width"] = width
        return terminal_safe(_renderer(RENDERERS[fmt])(report, **options), color=color)
    text = _renderer(RENDERERS[fmt])(report)
    return terminal_safe(text) if fmt in _READ else text


def terminal_safe(text: str, *, color: bool = False) -> str:
    """Rendered text with no control character a terminal would act on: every one but newlines
    escaped (auditor.text.printable), and, when `color`, the SGR colour codes kept."""
    if not color:
        return printable(text, lines=True)
    parts = _SGR.split(text)
    # split() with a group: the text between codes at even places, the codes at odd ones
    return "".join(part if i % 2 else printable(part, lines=True) for i, part in enumerate(parts))


def render_sweep(results: SweepResults, fmt: str) -> str:
    if fmt not in SWEEP_RENDERERS:
        raise _unknown(fmt, SWEEP_RENDERERS)
    return _renderer(SWEEP_RENDERERS[fmt])(results)
