"""`imgaudit audit IMAGE...`: options to a Policy, the audit, the report written, the exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from auditor import audit
from auditor.assess import policy_failures, rule_errors
from auditor.baseline import read_baseline
from auditor.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_POLICY,
    BaseOption,
    ConfigOption,
    FailOnNewOption,
    FailOnOption,
    FailUnderOption,
    IgnoreOption,
    MaxBaseSizeOption,
    MaxLayersOption,
    MaxOwnSizeOption,
    MaxSizeOption,
    NoCacheOption,
    NoConfigOption,
    NoContentOption,
    ScoreBaseOption,
    app,
    fail,
    policy_overrides,
)
from auditor.cli.outputs import parse_outputs, use_color, write_outputs
from auditor.compare import new_findings
from auditor.config import load_policy
from auditor.errors import ImgauditError
from auditor.formats import RENDERERS
from auditor.model import ImageReport, Report

if TYPE_CHECKING:
    from auditor.sources.registry import RegistryOptions
from auditor.units import human_size


def _delta(change: int, show: Callable[[int], str] = str) -> str:
    return ("-" if change < 0 else "+") + show(abs(change))


def _headline(item: ImageReport) -> str:
    """One image's summary line; against a baseline, with what changed since."""
    image, old = item.image, item.baseline
    if old is None:
        scored = [s for s in item.findings if s.points > 0]
        return (f"{image.reference}: score {item.score} ({item.grade}), "
                f"{len(scored)} scored finding(s), {human_size(image.size)}")
    return (f"{image.reference}: score {item.score} ({item.grade}) "
            f"{_delta(item.score - old.score)} vs baseline, {len(new_findings(item))} new, "
            f"{len(item.resolved)} resolved finding(s), {human_size(image.size)} "
            f"({_delta(image.size - old.size, human_size)}), {len(image.layers)} layers "
            f"({_delta(len(image.layers) - old.layers)})")


def _summary(report: Report, quiet: bool) -> None:
    """A line per image (unless quiet), and an error line per image that could not be read."""
    for item in report.images:
        if not quiet:
            typer.echo(f"imgaudit: {_headline(item)}", err=True)
    for failure in report.failures:
        fail(f"{failure.reference}: {failure.message}", failure.hint)


def _notices(report: Report) -> None:
    """What a reader should know about each image: expired or unused waivers, refused labels."""
    for item in report.images:
        for notice in item.notices:
            typer.echo(f"imgaudit: notice: {item.image.reference}: {notice}", err=True)


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


def _complete_format(incomplete: str) -> list[str]:
    return [name for name in RENDERERS if name.startswith(incomplete)]


@app.command("audit")
def audit_command(
    images: Annotated[list[str], typer.Argument(
        metavar="IMAGE...",
        help="NAME[:TAG], IMAGE_ID, NAME@sha256:..., docker-archive:PATH[:REF], oci:DIR[:REF] "
        "or docker://HOST[:PORT]/REPO[:TAG|@DIGEST]",
        show_default=False,
    )],
    formats: Annotated[list[str] | None, typer.Option(
        "--format", "-f", metavar="FMT[=FILE]", autocompletion=_complete_format,
        help="Report format, to stdout or to FILE; repeatable, one audit for all: "
        + ", ".join(RENDERERS) + " (default table).",
    )] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the report of the --format without =FILE to FILE "
        "instead of stdout.", dir_okay=False,
    )] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No summary lines on stderr (errors are still shown).",
    )] = False,
    color: Annotated[bool | None, typer.Option(
        "--color/--no-color", help="Colour the table on stdout (default: on a terminal, "
        "unless NO_COLOR is set).", show_default=False,
    )] = None,
    fail_under: FailUnderOption = None,
    fail_on: FailOnOption = None,
    ignore: IgnoreOption = None,
    no_content: NoContentOption = False,
    base: BaseOption = None,
    score_base: ScoreBaseOption = None,
    no_cache: NoCacheOption = False,
    max_size: MaxSizeOption = None,
    max_own_size: MaxOwnSizeOption = None,
    max_base_size: MaxBaseSizeOption = None,
    max_layers: MaxLayersOption = None,
    baseline: Annotated[Path | None, typer.Option(
        help="A JSON report of an earlier build: mark findings new or known, show deltas.",
        metavar="OLD_REPORT.json", dir_okay=False,
    )] = None,
    fail_on_new: FailOnNewOption = None,
    config: ConfigOption = None,
    no_config: NoConfigOption = False,
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
    # Defaults < the policy file < the options given here (None: not given).
    policy = load_policy(config, no_config=no_config, overrides=policy_overrides(
        fail_under=fail_under, fail_on=fail_on, ignore=ignore, score_base=score_base,
        max_size=max_size, max_own_size=max_own_size, max_base_size=max_base_size,
        max_layers=max_layers, fail_on_new=fail_on_new,
    )).policy
    registry = _registry_options(platform, all_platforms, username, password_stdin, insecure)
    try:
        outputs = parse_outputs(formats or (), output)
        previous = read_baseline(baseline) if baseline is not None else None
        report = audit(images, policy=policy, content=not no_content, base=base,
                       use_cache=not no_cache, baseline=previous, registry=registry)
        written = write_outputs(report, outputs, color=use_color(color))
    except ImgauditError as exc:
        fail(exc.message, exc.hint)
        raise typer.Exit(EXIT_ERROR) from None
    if not quiet:
        _notices(report)
    _summary(report, quiet)
    errors = rule_errors(report)
    for line in errors:
        fail(line, "this is a bug in imgaudit; please report it")
    if report.failures or errors or not written:
        raise typer.Exit(EXIT_ERROR)
    reasons = policy_failures(report, policy)
    for reason in reasons:
        typer.echo(f"imgaudit: policy failed: {reason}", err=True)
    raise typer.Exit(EXIT_POLICY if reasons else EXIT_OK)


