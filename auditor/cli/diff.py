"""`imgaudit diff OLD_IMAGE NEW_IMAGE`: both images audited alike, compared, the diff written,
and the exit code (1 only when a gate option is given and the new image regressed)."""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Annotated

import typer

from auditor import audit
from auditor.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_POLICY,
    BaseOption,
    ConfigOption,
    IgnoreOption,
    MaxBaseSizeOption,
    MaxLayersOption,
    MaxOwnSizeOption,
    MaxSizeOption,
    NoCacheOption,
    NoConfigOption,
    NoContentOption,
    NoDockerfileOption,
    ScoreBaseOption,
    app,
    dockerfile_choice,
    dockerfile_lines,
    policy_overrides,
    report_problems,
    say,
)
from auditor.cli.outputs import emit
from auditor.compare import diff, diff_failures
from auditor.config import load_policy, read_option
from auditor.formats.diff import render_diff
from auditor.units import plural

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
    ignore: IgnoreOption = None,
    no_content: NoContentOption = False,
    base: BaseOption = None,
    score_base: ScoreBaseOption = None,
    no_cache: NoCacheOption = False,
    max_size: MaxSizeOption = None,
    max_own_size: MaxOwnSizeOption = None,
    max_base_size: MaxBaseSizeOption = None,
    max_layers: MaxLayersOption = None,
    config: ConfigOption = None,
    no_config: NoConfigOption = False,
    dockerfile: Annotated[Path | None, typer.Option(
        "--dockerfile", metavar="PATH", dir_okay=False,
        help="The Dockerfile NEW_IMAGE was built from: its findings name the line to fix when "
        "its steps match NEW_IMAGE's history (a warning when not). Default: ./Dockerfile, used "
        "only when it matches.")] = None,
    no_dockerfile: NoDockerfileOption = False,
) -> None:
    """Compare two images side by side: size, layers, per-practice status, score, and the
    findings NEW_IMAGE added and removed. Exits 0 unless a gate option is given."""
    # Read as `imgaudit audit --fail-on` reads it: a bad value is the same one-line error.
    severity = read_option("fail-on", fail_on) if fail_on is not None else None
    # The same policy as `imgaudit audit` (file, then options), without its exit gates.
    policy = load_policy(config, no_config=no_config, overrides=policy_overrides(
        ignore=ignore, score_base=score_base, max_size=max_size, max_own_size=max_own_size,
        max_base_size=max_base_size, max_layers=max_layers,
    )).policy
    policy = dataclasses.replace(policy, fail_under=None, fail_on=None, fail_on_new=False)
    # The Dockerfile is the new image's: the old one was built from an earlier version of it.
    source = dockerfile_choice(dockerfile, no_dockerfile)
    report = audit([old_image, new_image], policy=policy, content=not no_content, base=base,
                   use_cache=not no_cache, dockerfiles=[None, source] if source else ())
    if report_problems(report):
        raise typer.Exit(EXIT_ERROR)
    old, new = report.images
    warning, located = dockerfile_lines(new)
    if warning:
        say(warning)
    change = diff(old, new)
    if not emit(render_diff(change, fmt.value), output, "diff"):
        raise typer.Exit(EXIT_ERROR)
    say(
        f"imgaudit: diff {old.image.reference} -> {new.image.reference}: score {old.score} -> "
        f"{new.score}, {plural(len(change.added), 'finding')} added, {len(change.removed)} removed"
        f"{located}")
    reasons = diff_failures(change, severity, max_score_drop)
    for reason in reasons:
        say(f"imgaudit: policy failed: {reason}")
    raise typer.Exit(EXIT_POLICY if reasons else EXIT_OK)
