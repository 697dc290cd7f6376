"""The command line: reads options, runs the audit, writes the report, prints a one-line
summary per image to stderr and picks the exit code (0 within policy, 1 policy failed,
2 could not audit)."""

from __future__ import annotations

import enum
import json
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from tabulate import tabulate
from typer.core import TyperGroup

from auditor import __version__, audit
from auditor.assess import policy_failures, rule_errors
from auditor.errors import ImgauditError, UsageError
from auditor.formats import render
from auditor.model import Limits, Policy, Report, Severity
from auditor.rules import ALL_RULES, PRACTICES
from auditor.units import human_size

EXIT_OK, EXIT_POLICY, EXIT_ERROR = 0, 1, 2


_GROUP_OPTIONS = ("--help", "-h", "--install-completion", "--show-completion")


class _DefaultToAudit(TyperGroup):
    """`imgaudit IMAGE...` means `imgaudit audit IMAGE...`; subcommands keep their names."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        first = next((a for a in args if not a.startswith("-")), None)
        group_only = all(a in _GROUP_OPTIONS for a in args)
        if args and not group_only and (first is None or first not in self.commands):
            args = ["audit", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_DefaultToAudit,
    help="Audit built container images against ten Dockerfile best practices.\n\n"
    "imgaudit IMAGE... is short for imgaudit audit IMAGE...",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Format(str, enum.Enum):
    table = "table"
    json = "json"


class RulesFormat(str, enum.Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'400MB', '1.5G', '512MiB' or a byte count."""
    match = _SIZE.match(text)
    if not match:
        raise typer.BadParameter(f"{text!r} is not a size (try 400MB or 1.5GB)")
    number, unit, binary = match.groups()
    base = 1024 if binary else 1000
    power = " kmgt".index(unit.lower() or " ")
    return int(float(number) * base**power)


def _fail(message: str, hint: str = "") -> None:
    line = f"imgaudit: error: {message}"
    if hint:
        line += f" (hint: {hint})"
    typer.echo(line, err=True)


def _summary(report: Report) -> None:
    for item in report.images:
        scored = [s for s in item.findings if s.points > 0]
        typer.echo(
            f"imgaudit: {item.image.reference}: score {item.score} ({item.grade}), "
            f"{len(scored)} scored finding(s), {human_size(item.image.size)}",
            err=True,
        )
    for failure in report.failures:
        _fail(f"{failure.reference}: {failure.message}", failure.hint)


@app.command("audit")
def audit_command(
    images: Annotated[list[str], typer.Argument(
        metavar="IMAGE...",
        help="NAME[:TAG], IMAGE_ID, NAME@sha256:..., docker-archive:PATH[:REF] or oci:DIR[:REF]",
        show_default=False,
    )],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Report format.")] = Format.table,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the report to FILE instead of stdout.", dir_okay=False,
    )] = None,
    fail_under: Annotated[int | None, typer.Option(
        min=0, max=100, help="Exit 1 when an image scores below SCORE.", metavar="SCORE",
    )] = None,
    fail_on: Annotated[str | None, typer.Option(
        help="Exit 1 on a scored finding of this severity or worse "
        "(info, low, medium, high, critical).", metavar="SEVERITY",
    )] = None,
    ignore: Annotated[list[str] | None, typer.Option(
        help="Do not run RULE (repeatable, or comma-separated).", metavar="RULE",
    )] = None,
    no_content: Annotated[bool, typer.Option(
        "--no-content", help="Read metadata only; skip checks that need layer contents.",
    )] = False,
    base: Annotated[str | None, typer.Option(
        help="The base image (its layers must begin this image's); default: found from local "
        "images, labels or history.", metavar="REF",
    )] = None,
    score_base: Annotated[bool, typer.Option(
        "--score-base", help="Score the base image's findings too.",
    )] = False,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Neither read nor write the per-layer analysis cache.",
    )] = False,
    max_size: Annotated[str | None, typer.Option(help="Size limit for the image (400MB).")] = None,
    max_own_size: Annotated[str | None, typer.Option(
        help="Size limit for the image's own layers (200MB).")] = None,
    max_base_size: Annotated[str | None, typer.Option(
        help="Size limit for the base image (250MB).")] = None,
    max_layers: Annotated[int | None, typer.Option(
        min=1, help="Most non-empty layers the image's own build may add (10).")] = None,
) -> None:
    """Audit IMAGE... and report a score, a grade and findings with evidence and fixes."""
    try:
        severity = Severity.parse(fail_on) if fail_on and fail_on.lower() != "none" else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fail-on") from None
    defaults = Limits()
    limits = Limits(
        max_size=parse_size(max_size) if max_size else defaults.max_size,
        max_own_size=parse_size(max_own_size) if max_own_size else defaults.max_own_size,
        max_base_size=parse_size(max_base_size) if max_base_size else defaults.max_base_size,
        max_own_layers=max_layers or defaults.max_own_layers,
    )
    ignored = frozenset(
        part.strip().upper() for item in ignore or () for part in item.split(",") if part.strip()
    )
    policy = Policy(fail_under=fail_under, fail_on=severity, ignore=ignored,
                    score_base=score_base, limits=limits)
    try:
        report = audit(images, policy=policy, content=not no_content, base=base,
                       use_cache=not no_cache)
        text = render(report, fmt.value)
    except ImgauditError as exc:
        _fail(exc.message, exc.hint)
        raise typer.Exit(EXIT_ERROR) from None
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot write {output}: {exc.strerror}", "check the folder exists and is "
                  "writable")
            raise typer.Exit(EXIT_ERROR) from None
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    _summary(report)
    errors = rule_errors(report)
    for line in errors:
        _fail(line, "this is a bug in imgaudit; please report it")
    if report.failures or errors:
        raise typer.Exit(EXIT_ERROR)
    reasons = policy_failures(report, policy)
    for reason in reasons:
        typer.echo(f"imgaudit: policy failed: {reason}", err=True)
    raise typer.Exit(EXIT_POLICY if reasons else EXIT_OK)


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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("imgaudit: interrupted", err=True)
        sys.exit(130)
    except UsageError as exc:
        _fail(exc.message, exc.hint)
        sys.exit(EXIT_ERROR)
    except Exception as exc:
        if os.environ.get("IMGAUDIT_DEBUG"):
            traceback.print_exc()
        _fail(f"internal error: {type(exc).__name__}: {exc}",
              "set IMGAUDIT_DEBUG=1 for a traceback and report it")
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    main()
