"""`imgaudit audit IMAGE...`: options to a Policy, the audit, the report written, the exit code."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from auditor import audit
from auditor.assess import policy_failures, rule_errors
from auditor.cli.common import EXIT_ERROR, EXIT_OK, EXIT_POLICY, app, fail, parse_size
from auditor.errors import ImgauditError
from auditor.formats import render
from auditor.model import Limits, Policy, Report, Severity

if TYPE_CHECKING:
    from auditor.sources.registry import RegistryOptions
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


def _registry_options(
    platform: str | None, all_platforms: bool, username: str | None, password_stdin: bool,
    insecure: bool,
) -> RegistryOptions:
    from auditor.sources.registry import Credentials, Platform, RegistryOptions

    if platform is not None:
        try:
            Platform.parse(platform)
        except ImgauditError as exc:
            raise typer.BadParameter(f"{exc.message}; {exc.hint}",
                                     param_hint="--platform") from None
    if all_platforms and platform:
        raise typer.BadParameter("give --platform or --all-platforms, not both",
                                 param_hint="--all-platforms")
    credentials = None
    if username is not None or password_stdin:
        if not (username and password_stdin):
            raise typer.BadParameter("--username and --password-stdin go together (the password "
                                     "is never an argument)", param_hint="--username")
        password = sys.stdin.read().removesuffix("\n").removesuffix("\r")
        if not password:
            raise typer.BadParameter("no password on stdin", param_hint="--password-stdin")
        credentials = Credentials(username, password, source="--username and --password-stdin")
    return RegistryOptions(platform=platform, all_platforms=all_platforms,
                           credentials=credentials, insecure=insecure)


@app.command("audit")
def audit_command(
    images: Annotated[list[str], typer.Argument(
        metavar="IMAGE...",
        help="NAME[:TAG], IMAGE_ID, NAME@sha256:..., docker-archive:PATH[:REF], oci:DIR[:REF] "
        "or docker://HOST[:PORT]/REPO[:TAG|@DIGEST]",
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
    # docker://HOST/REPO[:TAG|@DIGEST] targets (see _registry_options)
    platform: Annotated[str | None, typer.Option(
        help="From a multi-platform image, audit this one (default: this machine's).",
        metavar="OS/ARCH[/VARIANT]")] = None,
    all_platforms: Annotated[bool, typer.Option(
        "--all-platforms", help="Audit every platform of a multi-platform image.")] = False,
    username: Annotated[str | None, typer.Option(
        help="Registry user (with --password-stdin); default: the Docker config's login.",
        metavar="USER")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the registry password or token from stdin.")] = False,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="Plain HTTP to registries that are not on loopback.")] = False,
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
    registry = _registry_options(platform, all_platforms, username, password_stdin, insecure)
    try:
        report = audit(images, policy=policy, content=not no_content, base=base,
                       use_cache=not no_cache, registry=registry)
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


