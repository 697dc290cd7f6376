"""`imgaudit diff OLD_IMAGE NEW_IMAGE`: both images audited alike, compared, the diff written,
and the exit code (1 only when a gate option is given and the new image regressed)."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated

import typer

from auditor import audit
from auditor.assess import rule_errors
from auditor.cli.common import EXIT_ERROR, EXIT_OK, EXIT_POLICY, app, fail
from auditor.compare import diff, diff_failures
from auditor.errors import ImgauditError
from auditor.formats.diff import render_diff
from auditor.model import Policy, Severity

_TARGET_HELP = "NAME[:TAG], IMAGE_ID, NAME@sha256:..., docker-archive:PATH[:REF] or oci:DIR[:REF]"


class DiffFormat(str, enum.Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


@app.command("diff")
def diff_command(
    old_image: Annotated[str, typer.Argument(
        metavar="OLD_IMAGE", help=f"The image before: {_TARGET_HELP}", show_default=False)],
    new_image: Annotated[str, typer.Argument(
        metavar="NEW_IMAGE", help="The image after, named the same ways.", show_default=False)],
    fmt: Annotated[DiffFormat, typer.Option("--format", "-f", help="Diff format.")] = (
        DiffFormat.table),
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the diff to FILE instead of stdout.", dir_okay=False,
    )] = None,
    fail_on: Annotated[str | None, typer.Option(
        help="Exit 1 when NEW_IMAGE adds a finding of this severity or worse "
        "(info, low, medium, high, critical).", metavar="SEVERITY",
    )] = None,
    max_score_drop: Annotated[int | None, typer.Option(
        min=0, metavar="N", help="Exit 1 when NEW_IMAGE scores more than N points lower.",
    )] = None,
    ignore: Annotated[list[str] | None, typer.Option(
        help="Do not run RULE (repeatable, or comma-separated).", metavar="RULE",
    )] = None,
    no_content: Annotated[bool, typer.Option(
        "--no-content", help="Read metadata only; skip checks that need layer contents.",
    )] = False,
    base: Annotated[str | None, typer.Option(
        help="The base image of both (its layers must begin each image's); default: found "
        "for each from local images, labels or history.", metavar="REF",
    )] = None,
    score_base: Annotated[bool, typer.Option(
        "--score-base", help="Score the base image's findings too.",
    )] = False,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Neither read nor write the per-layer analysis cache.",
    )] = False,
) -> None:
    """Compare two images side by side: size, layers, per-practice status, score, and the
    findings NEW_IMAGE added and removed. Exits 0 unless a gate option is given."""
    try:
        severity = Severity.parse(fail_on) if fail_on and fail_on.lower() != "none" else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fail-on") from None
    ignored = frozenset(
        part.strip().upper() for item in ignore or () for part in item.split(",") if part.strip()
    )
    policy = Policy(ignore=ignored, score_base=score_base)
    try:
        report = audit([old_image, new_image], policy=policy, content=not no_content, base=base,
                       use_cache=not no_cache)
    except ImgauditError as exc:
        fail(exc.message, exc.hint)
        raise typer.Exit(EXIT_ERROR) from None
    for failure in report.failures:
        fail(f"{failure.reference}: {failure.message}", failure.hint)
    errors = rule_errors(report)
    for line in errors:
        fail(line, "this is a bug in imgaudit; please report it")
    if report.failures or errors:
        raise typer.Exit(EXIT_ERROR)
    old, new = report.images
    change = diff(old, new)
    text = render_diff(change, fmt.value)
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
    typer.echo(
        f"imgaudit: diff {old.image.reference} -> {new.image.reference}: score {old.score} -> "
        f"{new.score}, {len(change.added)} finding(s) added, {len(change.removed)} removed",
        err=True,
    )
    reasons = diff_failures(change, severity, max_score_drop)
    for reason in reasons:
        typer.echo(f"imgaudit: policy failed: {reason}", err=True)
    raise typer.Exit(EXIT_POLICY if reasons else EXIT_OK)
