"""`imgaudit report DB...`: one or more sweep databases (shards) merged and rendered."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated

import typer

from auditor.cli.common import EXIT_ERROR, app, fail
from auditor.errors import ImgauditError
from auditor.formats import render_sweep
from auditor.formats.sweep import headline, summarize
from auditor.store import load


class ReportFormat(str, enum.Enum):
    table = "table"
    json = "json"
    csv = "csv"
    html = "html"


@app.command("report")
def report_command(
    databases: Annotated[list[Path], typer.Argument(
        metavar="DB...", help="Sweep databases (`imgaudit sweep --db`); shards are merged.",
        show_default=False,
    )],
    fmt: Annotated[ReportFormat, typer.Option(
        "--format", "-f", help="Report format.")] = ReportFormat.table,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the report to FILE instead of stdout.", dir_okay=False,
    )] = None,
) -> None:
    """Render what sweeps recorded: a worst-first table, JSON, CSV, or one HTML page."""
    try:
        results = load(databases)
        text = render_sweep(results, fmt.value)
    except ImgauditError as exc:
        fail(exc.message, exc.hint)
        raise typer.Exit(EXIT_ERROR) from None
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror}",
                 "check the folder exists and is writable")
            raise typer.Exit(EXIT_ERROR) from None
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    if output is not None or fmt is not ReportFormat.table:
        typer.echo(f"imgaudit: {headline(summarize(results))}", err=True)
