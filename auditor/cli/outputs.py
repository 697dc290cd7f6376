"""Where the report goes: `--format FMT[=FILE]` (repeatable) read into outputs, colour decided
for the terminal, each output rendered and written; a file that cannot be written is reported
and the others still written."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from auditor.cli.common import fail
from auditor.errors import UsageError
from auditor.formats import RENDERERS, render
from auditor.model.report import Report


@dataclass(frozen=True, slots=True)
class Output:
    fmt: str
    path: Path | None  # None: standard output


def parse_outputs(specs: Sequence[str], output: Path | None) -> tuple[Output, ...]:
    """`table`, `sarif=imgaudit.sarif`, ... -> outputs; at most one goes to stdout (or to
    --output). No --format means a table."""
    outputs = []
    for spec in specs or ("table",):
        fmt, sep, path = spec.partition("=")
        fmt = fmt.strip().lower()
        if fmt not in RENDERERS:
            raise UsageError(f"unknown format {fmt!r} in --format {spec}",
                             hint="choose from " + ", ".join(RENDERERS) + " (as FMT or FMT=FILE)")
        if sep and not path.strip():
            raise UsageError(f"--format {spec} names no file", hint=f"write {fmt}=FILE or {fmt}")
        outputs.append(Output(fmt, Path(path.strip()) if sep else None))
    to_stdout = [o for o in outputs if o.path is None]
    if len(to_stdout) > 1:
        raise UsageError(
            "more than one format without a file: " + ", ".join(o.fmt for o in to_stdout),
            hint="give all but one a file, e.g. --format table --format sarif=imgaudit.sarif",
        )
    if output is not None:
        if not to_stdout:
            raise UsageError("--output needs a --format without =FILE",
                             hint="use FMT=FILE for each format instead of --output")
        outputs = [Output(o.fmt, output) if o.path is None else o for o in outputs]
    paths = [o.path.resolve() for o in outputs if o.path is not None]
    duplicates = sorted({str(p) for p in paths if paths.count(p) > 1})
    if duplicates:
        raise UsageError(f"two formats would write {duplicates[0]}",
                         hint="give each format its own file")
    return tuple(outputs)


def use_color(flag: bool | None) -> bool:
    """--color / --no-color, else the terminal decides unless NO_COLOR is set (no-color.org)."""
    if flag is not None:
        return flag
    if os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def terminal_width() -> int:
    """Columns for text on standard output: COLUMNS, else the terminal's, else 100."""
    return shutil.get_terminal_size((100, 24)).columns


def write_outputs(report: Report, outputs: Sequence[Output], *, color: bool,
                  verbose: bool = False) -> bool:
    """Renders and writes every output; False when a file could not be written (each such
    failure is one error line). Only standard output is ever coloured, and folded to the
    terminal's width (a file gets the table's default width)."""
    written = True
    for out in outputs:
        to_stdout = out.path is None
        text = render(report, out.fmt, color=color and to_stdout,
                      width=terminal_width() if to_stdout else None, verbose=verbose)
        written = emit(text, out.path, f"{out.fmt} report") and written
    return written


def emit(text: str, path: Path | None, what: str) -> bool:
    """Writes text to path, or stdout when None; False (after one error line) when it cannot."""
    if path is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return True
    try:
        # errors="replace": a lone surrogate from an image's JSON must not lose the report
        path.write_text(text, encoding="utf-8", errors="replace")
    except OSError as exc:
        fail(f"cannot write the {what} to {path}: {exc.strerror or exc}",
             "check the folder exists and is writable")
        return False
    return True

