"""`imgaudit rules` and `imgaudit version`: what imgaudit checks, generated from the rules."""

from __future__ import annotations

import enum
import json
from typing import Annotated, Any

import typer
from tabulate import tabulate

from auditor.cli.common import app
from auditor.rules import ALL_RULES, PRACTICES
from auditor.version import __version__


class RulesFormat(str, enum.Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


def rules_document() -> list[dict[str, Any]]:
    names = {p.id: p.name for p in PRACTICES}
    return [
        {
            "id": r.info.id,
            "practice": r.info.practice,
            "practice_name": names[r.info.practice],
            "severity": r.info.severity.label,
            "title": r.info.title,
            "needs_content": r.info.needs_content,
            "rationale": r.info.rationale,
            "fix": r.info.fix,
            "checks": r.info.doc,
            "tags": list(r.info.tags),
        }
        for r in ALL_RULES
    ]


def rules_markdown() -> str:
    rows = [
        (f"`{r['id']}`", f"{r['practice']}. {r['practice_name']}", r["severity"], r["title"],
         r["fix"].replace("|", "\\|"))
        for r in rules_document()
    ]
    return tabulate(rows, headers=("Rule", "Practice", "Severity", "Title", "Fix"),
                    tablefmt="github") + "\n"


@app.command("rules")
def rules_command(
    fmt: Annotated[RulesFormat, typer.Option("--format", "-f")] = RulesFormat.table,
) -> None:
    """List every rule with its practice, severity, rationale and fix."""
    if fmt is RulesFormat.json:
        typer.echo(json.dumps(rules_document(), indent=2))
        return
    if fmt is RulesFormat.markdown:
        typer.echo(rules_markdown(), nl=False)
        return
    for item in rules_document():
        typer.echo(
            f"{item['id']}  [{item['severity']}]  practice {item['practice']} "
            f"({item['practice_name']}): {item['title']}"
            + ("  (reads layer contents)" if item["needs_content"] else "")
        )
        typer.echo(f"    why: {item['rationale']}")
        typer.echo(f"    fix: {item['fix']}")


@app.command("version")
def version_command() -> None:
    """Print imgaudit's version."""
    typer.echo(f"imgaudit {__version__}")


