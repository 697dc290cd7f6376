"""`imgaudit audit IMAGE...`: options to a Policy, the audit, the report written, the exit code."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated

import typer

from auditor import audit
from auditor.assess import policy_failures, rule_errors
from auditor.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_POLICY,
    ConfigOption,
    NoConfigOption,
    app,
    fail,
)
from auditor.config import load_policy
from auditor.errors import ImgauditError
from auditor.formats import render
from auditor.model import Report
from auditor.units import human_size


class Format(str, enum.Enum):
    table = "table"
    json = "json"


def _summary(report: Report) -> None:
    for item in report.images:
        scored = [s for s in item.findings if s.points > 0]
        typer.echo(
            f"imgaudit: {item.image.reference}: score {item.score} ({item.grade}), "
            f"{len(scored)} scored finding(s), {human_size(item.image.size)}",
            err=True,
        )
    for failure in report.failures:
        fail(f"{failure.reference}: {failure.message}", failure.hint)


def _notices(report: Report) -> None:
    """What a reader should know about each image: expired or unused waivers, refused labels."""
    for item in report.images:
        for notice in item.notices:
            typer.echo(f"imgaudit: notice: {item.image.reference}: {notice}", err=True)


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
    score_base: Annotated[bool | None, typer.Option(
        "--score-base/--no-score-base", help="Score the base image's findings too.",
    )] = None,
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
    config: ConfigOption = None,
    no_config: NoConfigOption = False,
) -> None:
    """Audit IMAGE... and report a score, a grade and findings with evidence and fixes."""
    # Defaults < the policy file < the options given here (None: not given).
    policy = load_policy(config, no_config=no_config, overrides={
        "fail-under": fail_under, "fail-on": fail_on, "rules.disable": ignore,
        "score-base": score_base, "max-size": max_size, "max-own-size": max_own_size,
        "max-base-size": max_base_size, "max-layers": max_layers,
    }).policy
    try:
        report = audit(images, policy=policy, content=not no_content, base=base,
                       use_cache=not no_cache)
        text = render(report, fmt.value)
    except ImgauditError as exc:
        fail(exc.message, exc.hint)
        raise typer.Exit(EXIT_ERROR) from None
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror}", "check the folder exists and is "
                  "writable")
            raise typer.Exit(EXIT_ERROR) from None
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    _notices(report)
    _summary(report)
    errors = rule_errors(report)
    for line in errors:
        fail(line, "this is a bug in imgaudit; please report it")
    if report.failures or errors:
        raise typer.Exit(EXIT_ERROR)
    reasons = policy_failures(report, policy)
    for reason in reasons:
        typer.echo(f"imgaudit: policy failed: {reason}", err=True)
    raise typer.Exit(EXIT_POLICY if reasons else EXIT_OK)


