"""`imgaudit report DB...`: one or more sweep databases (shards) merged and rendered."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from auditor.cli.common import EXIT_ERROR, app, say
from auditor.cli.outputs import emit


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
    from auditor.formats import render_sweep
    from auditor.formats.sweep import headline, summarize
    from auditor.store.read import load

    results = load(databases)
    text = render_sweep(results, fmt.value)
    if not emit(text, output, f"{fmt.value} report"):
        raise typer.Exit(EXIT_ERROR)
    if output is not None or fmt is not ReportFormat.table:
        say(f"imgaudit: {headline(summarize(results))}")
