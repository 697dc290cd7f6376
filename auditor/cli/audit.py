"""`imgaudit audit IMAGE...`: options to a Policy, the audit, the report written, the exit code."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from auditor import audit
from auditor.assess import policy_failures
from auditor.baseline import read_baseline
from auditor.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_POLICY,
    AllPlatformsOption,
    BaseOption,
    ConfigOption,
    DockerfileOption,
    FailOnNewOption,
    FailOnOption,
    FailUnderOption,
    IgnoreOption,
    InsecureOption,
    MaxBaseSizeOption,
    MaxLayersOption,
    MaxOwnSizeOption,
    MaxSizeOption,
    NoCacheOption,
    NoConfigOption,
    NoContentOption,
    NoDockerfileOption,
    PasswordStdinOption,
    PlatformOption,
    ReadOption,
    ScoreBaseOption,
    UsernameOption,
    app,
    dockerfile_choice,
    dockerfile_lines,
    policy_overrides,
    registry_options,
    report_problems,
)
from auditor.cli.outputs import parse_outputs, use_color, write_outputs
from auditor.config import load_policy
from auditor.formats import RENDERERS
from auditor.formats.facts import delta
from auditor.model.report import ImageReport, Report
from auditor.units import human_size, plural, signed


def _headline(item: ImageReport) -> str:
    """One image's summary line; against a baseline, with what changed since; with the
    Dockerfile its findings are located on."""
    image, change = item.image, delta(item)
    _, located = dockerfile_lines(item)
    if change is None:
        scored = [s for s in item.findings if s.points > 0]
        return (f"{image.reference}: score {item.score} ({item.grade}), "
                f"{plural(len(scored), 'scored finding')}, {human_size(image.size)}{located}")
    return (f"{image.reference}: score {item.score} ({item.grade}) "
            f"{signed(change.score)} vs baseline, {change.new} new, "
            f"{plural(change.resolved, 'resolved finding')}, {human_size(image.size)} "
            f"({signed(change.size, human_size)}), {plural(len(image.layers), 'layer')} "
            f"({signed(change.layers)}){located}")


def _notices(report: Report) -> None:
    """What a reader should know about each image: expired or unused waivers, refused labels."""
    for item in report.images:
        for notice in item.notices:
            typer.echo(f"imgaudit: notice: {item.image.reference}: {notice}", err=True)


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
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Table: every finding's full evidence (whole digests) and fix, "
        "instead of one line each with the fixes and shared causes listed once; on stderr, how "
        "an engine's layers were read.",
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
    read: ReadOption = None,
    config: ConfigOption = None,
    no_config: NoConfigOption = False,
    dockerfile: DockerfileOption = None,
    no_dockerfile: NoDockerfileOption = False,
    # docker://HOST/REPO[:TAG|@DIGEST] targets
    platform: PlatformOption = None,
    all_platforms: AllPlatformsOption = False,
    username: UsernameOption = None,
    password_stdin: PasswordStdinOption = False,
    insecure: InsecureOption = False,
) -> None:
    """Audit IMAGE... and report a score, a grade and findings with evidence and fixes."""
    # Defaults < the policy file < the options given here (None: not given).
    effective = load_policy(config, no_config=no_config, overrides=policy_overrides(
        fail_under=fail_under, fail_on=fail_on, ignore=ignore, score_base=score_base,
        max_size=max_size, max_own_size=max_own_size, max_base_size=max_base_size,
        max_layers=max_layers, fail_on_new=fail_on_new, read=read,
    ))
    policy = effective.policy
    if policy.fail_on_new and baseline is None and fail_on_new is None:
        # A team's file asks for regression gating, but this run has nothing to compare with
        # (a first build, a branch without a stored report): gate on every finding instead.
        # Only --fail-on-new given here without --baseline is a usage error (in audit()).
        if not quiet:
            typer.echo(f"imgaudit: notice: the policy file {effective.sources['fail-on-new']} "
                       "sets fail-on-new but no --baseline was given: gating on every finding",
                       err=True)
        policy = dataclasses.replace(policy, fail_on_new=False)
    registry = registry_options(platform, all_platforms, username, password_stdin, insecure)
    outputs = parse_outputs(formats or (), output)
    previous = read_baseline(baseline) if baseline is not None else None
    source = dockerfile_choice(dockerfile, no_dockerfile)
    report = audit(images, policy=policy, content=not no_content, base=base,
                   use_cache=not no_cache, baseline=previous, registry=registry,
                   dockerfiles=[source] * len(images) if source is not None else ())
    written = write_outputs(report, outputs, color=use_color(color), verbose=verbose)
    for item in report.images:
        warning, _ = dockerfile_lines(item)
        if warning:
            typer.echo(warning, err=True)
    if not quiet:
        _notices(report)
        for item in report.images:
            if verbose and item.image.read_note:
                typer.echo(f"imgaudit: {item.image.reference}: {item.image.read_note}", err=True)
            typer.echo(f"imgaudit: {_headline(item)}", err=True)
    if report_problems(report) or not written:
        raise typer.Exit(EXIT_ERROR)
    reasons = policy_failures(report, policy)
    for reason in reasons:
        typer.echo(f"imgaudit: policy failed: {reason}", err=True)
    raise typer.Exit(EXIT_POLICY if reasons else EXIT_OK)


